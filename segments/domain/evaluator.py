"""A plain-Python evaluator of segment definitions, the reference the compiler is tested against.

It reads one profile (traits, computed, consent, first/last seen), its events and its current
segment memberships, and answers whether each node matches, with the same semantics as the SQL.
"""

from datetime import datetime, timedelta
from decimal import Decimal

_MISSING = object()


def _get(data: dict, key: str):
    current = data
    for part in key.split("."):
        if not isinstance(current, dict) or part not in current:
            return _MISSING
        current = current[part]
    return current


def _is_number(value) -> bool:
    return isinstance(value, int | float | Decimal) and not isinstance(value, bool)


def _json_equal(a, b) -> bool:
    if isinstance(a, bool) or isinstance(b, bool):
        return isinstance(a, bool) and isinstance(b, bool) and a == b
    if _is_number(a) and _is_number(b):
        return Decimal(str(a)) == Decimal(str(b))
    return type(a) is type(b) and a == b


def _looks_like_date(text: str) -> bool:
    head = text[:10]
    return (
        len(head) == 10 and head[4] == "-" and head[7] == "-"
        and head[:4].isdigit() and head[5:7].isdigit() and head[8:10].isdigit()
    )  # fmt: skip


def _sql_lower(text: str) -> str:
    # PostgreSQL's lower() under the C locale changes ASCII letters only.
    return "".join(c.lower() if "A" <= c <= "Z" else c for c in text)


def test_value(value, operator: str, operand, now: datetime) -> bool:
    """One trait/property comparison; `value` is _MISSING when the key is absent."""
    present = value is not _MISSING and value is not None and value != ""
    if operator == "is_set":
        return present
    if operator == "not_set":
        return not present
    if operator == "equals":
        return value is not _MISSING and _json_equal(value, operand)
    if operator == "not_equals":
        return not (value is not _MISSING and _json_equal(value, operand))
    if operator == "in":
        return value is not _MISSING and any(_json_equal(value, item) for item in operand)
    if operator in ("contains", "starts_with"):
        if not isinstance(value, str):
            return False
        haystack, needle = _sql_lower(value), _sql_lower(operand)
        return needle in haystack if operator == "contains" else haystack.startswith(needle)
    if operator in ("gt", "gte", "lt", "lte", "between"):
        if not _is_number(value):
            return False
        number = Decimal(str(value))
        if operator == "between":
            return Decimal(str(operand[0])) <= number <= Decimal(str(operand[1]))
        other = Decimal(str(operand))
        return {
            "gt": number > other, "gte": number >= other,
            "lt": number < other, "lte": number <= other,
        }[operator]  # fmt: skip
    if operator in ("before", "after", "within_last_days"):
        if not isinstance(value, str) or not _looks_like_date(value):
            return False
        day = value[:10]
        if operator == "within_last_days":
            return day >= (now - timedelta(days=operand)).date().isoformat()
        return day < operand[:10] if operator == "before" else day > operand[:10]
    raise ValueError(f"unknown operator {operator!r}")


def _in_window(ts: datetime, window: dict, now: datetime) -> bool:
    if window["kind"] == "last_days":
        return ts >= now - timedelta(days=window["days"])
    if window["kind"] == "between_days_ago":
        return now - timedelta(days=window["to"]) <= ts < now - timedelta(days=window["from"])
    return True


def _matches(event: dict, name: str, filters: list[dict], now: datetime) -> bool:
    return event["name"] == name and all(
        test_value(_get(event["properties"], f["property"]), f["operator"], f["value"], now)
        for f in filters
    )


def _compare(left, operator: str, right) -> bool:
    if left is None:
        return False
    left, right = Decimal(str(left)), Decimal(str(right))
    return {"eq": left == right, "gt": left > right, "gte": left >= right,
            "lt": left < right, "lte": left <= right}[operator]  # fmt: skip


def _aggregate(function: str, values: list[Decimal]):
    if not values:
        return None
    if function == "sum":
        return sum(values)
    if function == "avg":
        return sum(values) / len(values)
    return min(values) if function == "min" else max(values)


def evaluate(
    node: dict, *, profile: dict, events: list[dict], memberships: set[int], now: datetime
) -> bool:
    """Whether `profile` matches `node` (a validated node)."""
    kind = node["type"]
    if kind == "group":
        results = [
            evaluate(child, profile=profile, events=events, memberships=memberships, now=now)
            for child in node["children"]
        ]
        result = all(results) if node["op"] == "and" else any(results)
    elif kind == "trait":
        value = _get(profile["traits"], node["trait"])
        result = test_value(value, node["operator"], node.get("value"), now)
    elif kind == "computed":
        value = _get(profile["computed"], node["name"])
        result = test_value(value, node["operator"], node.get("value"), now)
    elif kind == "event":
        hits = [
            e for e in events
            if _matches(e, node["event"], node["where"], now)
            and _in_window(e["timestamp"], node["window"], now)
        ]  # fmt: skip
        if not node["performed"]:
            result = not hits
        elif "count" not in node and "aggregate" not in node:
            result = bool(hits)
        else:
            result = True
            if "count" in node:
                result = _compare(len(hits), node["count"]["operator"], node["count"]["value"])
            if "aggregate" in node:
                agg = node["aggregate"]
                values = [
                    Decimal(str(v)) for e in hits
                    if _is_number(v := _get(e["properties"], agg["property"]))
                ]  # fmt: skip
                total = _aggregate(agg["function"], values)
                result = result and _compare(total, agg["operator"], agg["value"])
    elif kind == "sequence":
        firsts = [
            e for e in events
            if _matches(e, node["first"]["event"], node["first"]["where"], now)
            and _in_window(e["timestamp"], node["window"], now)
        ]  # fmt: skip
        span = timedelta(days=node["within_days"])

        def followed(a: dict) -> bool:
            return any(
                _matches(b, node["then"]["event"], node["then"]["where"], now)
                and a["timestamp"] < b["timestamp"] <= a["timestamp"] + span
                for b in events
            )

        wanted = node["mode"] == "then"
        result = any(followed(a) == wanted for a in firsts)
    elif kind == "seen":
        seen = profile[node["which"]]
        op, value = node["operator"], node["value"]
        if op == "within_last_days":
            result = seen >= now - timedelta(days=value)
        elif op == "not_within_last_days":
            result = seen < now - timedelta(days=value)
        else:
            day = datetime.fromisoformat(value[:10]).replace(tzinfo=now.tzinfo)
            result = seen < day if op == "before" else seen >= day + timedelta(days=1)
    elif kind == "consent":
        entry = profile["consent"].get(node["purpose"])
        if node["status"] == "unknown":
            result = entry is None
        elif entry is None:
            result = False
        elif node["status"] == "denied":
            result = entry.get("granted") is False
        else:
            expires = entry.get("expires_at")
            expired = isinstance(expires, str) and test_value(
                expires, "before", now.isoformat()[:10], now
            )
            result = entry.get("granted") is True and not expired
    elif kind == "segment":
        result = (node["segment"] in memberships) == node["member"]
    else:
        raise ValueError(f"unknown node type {kind!r}")
    return not result if node.get("negate") else result
