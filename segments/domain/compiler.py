"""Compile a segment definition into one ORM filter (a Q over profiles). Never queries.

Event counts and aggregates are set-based: `pk IN (SELECT profile_id FROM events WHERE ... GROUP
BY profile_id HAVING ...)`, or `NOT IN` the complement when zero events satisfies the comparison,
so the planner can read the events of the window once (a hash semi- or anti-join) instead of
probing every candidate profile; counts of one event ANDed together share one such pass. A trait
test is plain SQL that may be NULL when the trait is missing, which a WHERE treats as false; only
where a NOT sits above it (a negated node or group) is it made two-valued with COALESCE, because
NOT NULL is NULL, not true. Keeping COALESCE out of the other conditions leaves them visible to
the planner's estimates. The models come from a registry so that this module imports no app
models, and `now` is passed in so results are reproducible.
"""

from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal
from functools import reduce
from operator import and_, or_

import orjson
from django.db.models import (
    Avg,
    BooleanField,
    Count,
    DecimalField,
    Exists,
    Expression,
    F,
    Max,
    Min,
    OuterRef,
    Q,
    Sum,
    Value,
)

from segments.domain.definition import DefinitionError, validate

# Never Q(): Django drops an empty Q from an OR, which would turn "everyone" into "no filter".
TRUE = Q(pk__isnull=False)
FALSE = Q(pk__in=[])
_SQL_COMPARE = {"eq": "=", "gt": ">", "gte": ">=", "lt": "<", "lte": "<="}
_AGGREGATES = {"sum": Sum, "avg": Avg, "min": Min, "max": Max}
# The comparison that holds exactly when `op` does not ("ne" is only ever used here).
_COMPLEMENT = {"eq": "ne", "gt": "lte", "gte": "lt", "lt": "gte", "lte": "gt"}
_DATE_PREFIX = "'^\\d{4}-\\d{2}-\\d{2}'"


@dataclass(frozen=True)
class Registry:
    """The models a definition is compiled against."""

    event_model: type
    membership_model: type


def _path(key: str) -> list[str]:
    return key.split(".")


def _extract(column_sql: str, column_params: list, key: str) -> tuple[str, str, list]:
    """(jsonb SQL, text SQL, params of either) of one path: `->`/`->>` for one key, as one
    would write by hand, `#>`/`#>>` for a nested one."""
    path = _path(key)
    if len(path) == 1:
        return f"({column_sql} -> %s)", f"({column_sql} ->> %s)", [*column_params, path[0]]
    return f"({column_sql} #> %s)", f"({column_sql} #>> %s)", [*column_params, path]


def _decimal(value) -> str:
    """A number as a plain decimal literal (no exponent), exact for floats as written."""
    return format(Decimal(str(value)), "f")


def _holds(left, operator: str, right) -> bool:
    return {"eq": left == right, "ne": left != right, "gt": left > right, "gte": left >= right,
            "lt": left < right, "lte": left <= right}[operator]  # fmt: skip


class JsonTest(Expression):
    """A test on one JSON path of a jsonb column (traits, computed, properties).

    Positive tests are NULL when the path is missing (false to a WHERE); `two_valued` wraps them
    in COALESCE(..., false) for use under a NOT. `not_equals` and `not_set` are always two-valued.
    """

    output_field = BooleanField()
    conditional = True

    def __init__(
        self,
        column: str,
        key: str,
        operator: str,
        value=None,
        now: datetime | None = None,
        *,
        two_valued: bool = False,
    ):
        super().__init__()
        self.column = F(column)
        self.key, self.operator, self.value, self.now = key, operator, value, now
        self.two_valued = two_valued

    def get_source_expressions(self):
        return [self.column]

    def set_source_expressions(self, exprs):
        (self.column,) = exprs

    def as_sql(self, compiler, connection):
        column_sql, column_params = compiler.compile(self.column)
        x, text, p = _extract(column_sql, column_params, self.key)
        op, value = self.operator, self.value
        if op == "not_set":
            return f"(COALESCE({text}, '') = '')", p
        if op == "not_equals":
            return f"({x} IS DISTINCT FROM %s::jsonb)", [*p, orjson.dumps(value).decode()]
        if op == "is_set":  # ->> is NULL for a JSON null
            sql, params = f"({text} <> '')", p
        elif op == "equals":
            sql, params = f"({x} = %s::jsonb)", [*p, orjson.dumps(value).decode()]
        elif op == "in":
            values = [orjson.dumps(item).decode() for item in value]
            sql, params = f"({x} = ANY(%s::jsonb[]))", [*p, values]
        elif op in ("contains", "starts_with"):
            test = "strpos(lower({t}), lower(%s)) > 0" if op == "contains" else (
                "starts_with(lower({t}), lower(%s))"
            )  # fmt: skip
            sql = f"(jsonb_typeof({x}) = 'string' AND {test.format(t=text)})"
            params = [*p, *p, value]
        elif op in ("gt", "gte", "lt", "lte", "between"):
            # A strict SQL/JSON path filter reads the value once, is false for anything but a
            # JSON number (no cast that could fail, whatever order the conjuncts run in) and
            # NULL when the path is missing. The type test is redundant for the result: it is
            # there for the planner, which gives it its default 0.5 % selectivity, as it does
            # in the hand-written `jsonb_typeof(x) = 'number' AND (x ->> k)::numeric >= v`, and
            # so picks the same parallel scan; with `@?` alone the estimate is truer (from the
            # column's statistics) but the planner keeps a serial scan, measured 1.2-1.4x
            # slower (docs/performance.md, Segments). It runs after `@?`, on the matches only.
            sql = f"(jsonb_typeof({x}) = 'number' AND {column_sql} @? %s::jsonpath)"
            params = [*p, *column_params, self._jsonpath()]
        elif op in ("before", "after", "within_last_days"):
            # substring() is NULL unless the text starts with a date, whatever its JSON type.
            if op == "within_last_days":
                symbol, bound = ">=", (self.now - timedelta(days=value)).date().isoformat()
            else:
                symbol, bound = ("<" if op == "before" else ">"), value[:10]
            sql, params = f"(substring({text}, {_DATE_PREFIX}) {symbol} %s)", [*p, bound]
        else:
            raise DefinitionError(None, f"unknown operator {op!r}")
        if self.two_valued:
            return f"COALESCE({sql}, false)", params
        return sql, params

    def _jsonpath(self) -> str:
        quoted = (part.replace("\\", "\\\\").replace('"', '\\"') for part in _path(self.key))
        path = "".join(f'."{part}"' for part in quoted)
        if self.operator == "between":
            low, high = (_decimal(v) for v in self.value)
            return f"strict ${path} ? (@ >= {low} && @ <= {high})"
        return f"strict ${path} ? (@ {_SQL_COMPARE[self.operator]} {_decimal(self.value)})"


class JsonNumber(Expression):
    """A jsonb value as numeric when it is a JSON number, else NULL (for aggregates)."""

    output_field = DecimalField()

    def __init__(self, column: str, key: str):
        super().__init__()
        self.column, self.key = F(column), key

    def get_source_expressions(self):
        return [self.column]

    def set_source_expressions(self, exprs):
        (self.column,) = exprs

    def as_sql(self, compiler, connection):
        column_sql, column_params = compiler.compile(self.column)
        x, text, p = _extract(column_sql, column_params, self.key)
        return f"(CASE WHEN jsonb_typeof({x}) = 'number' THEN {text}::numeric END)", [*p, *p]


def _window_q(window: dict, now: datetime, field: str = "timestamp") -> Q:
    if window["kind"] == "last_days":
        return Q(**{f"{field}__gte": now - timedelta(days=window["days"])})
    if window["kind"] == "between_days_ago":
        return Q(**{f"{field}__gte": now - timedelta(days=window["to"]),
                    f"{field}__lt": now - timedelta(days=window["from"])})  # fmt: skip
    return Q()


def _where_q(filters: list[dict], now: datetime) -> Q:
    # Inside the events subquery, never under a NOT: a NULL test is simply not a hit.
    return reduce(
        and_,
        (Q(JsonTest("properties", f["property"], f["operator"], f["value"], now)) for f in filters),
        Q(),
    )


@dataclass(frozen=True)
class _Context:
    now: datetime
    registry: Registry
    # Compiling for these profiles only (real-time updates): the event subqueries read only
    # their events, which leaves the answer for them unchanged.
    profile_ids: tuple[int, ...] | None

    def events(self, q: Q):
        rows = self.registry.event_model.objects.filter(q)
        return rows if self.profile_ids is None else rows.filter(profile__in=self.profile_ids)


def _events(c: _Context, name: str, filters: list[dict], window: dict):
    """The events a condition counts, of every profile (in scope)."""
    return c.events(Q(name=name) & _window_q(window, c.now) & _where_q(filters, c.now))


def _performed(events) -> Q:
    return Q(Exists(events.filter(profile=OuterRef("pk"))))


def _having(alias: str, operator: str, value) -> Q:
    # An expression on the right is not converted to the field's type (an integer count would
    # truncate 2.5 to 2); a float goes as an exact decimal, as the evaluator compares it.
    bound = Value(Decimal(str(value)) if isinstance(value, float) else value)
    if operator == "ne":
        return ~Q(**{alias: bound})
    return Q(**{f"{alias}__{'exact' if operator == 'eq' else operator}": bound})


def _grouped(events, annotations: dict, having: Q) -> Q:
    """Profiles with at least one of `events` whose group of them satisfies `having`."""
    profiles = (
        events.filter(profile__isnull=False)
        .order_by()
        .values("profile")
        .annotate(**annotations)
        .filter(having)
        .values("profile")
    )
    return Q(pk__in=profiles)


def _a_count(value) -> bool:
    """Whether some number of events (1, 2, ...) equals `value`."""
    return float(value).is_integer() and value >= 1


def _with_count(events, operator: str, value) -> Q:
    """Profiles with at least one of `events` whose number of them satisfies the comparison."""
    every = {"gt": value < 1, "gte": value <= 1, "ne": not _a_count(value)}
    if every.get(operator, False):
        return _performed(events)
    none = {"lt": value <= 1, "lte": value < 1, "eq": not _a_count(value)}
    if none.get(operator, False):
        return FALSE
    return _grouped(events, {"n": Count("*")}, _having("n", operator, value))


def _tallies(node: dict, suffix: str, hits: Q | None) -> tuple[dict, Q]:
    """The count and aggregate of one event condition as annotations and a HAVING over them."""
    annotations, having = {}, Q()
    if "count" in node:
        annotations[f"n{suffix}"] = Count("profile", filter=hits) if hits else Count("*")
        having &= _having(f"n{suffix}", node["count"]["operator"], node["count"]["value"])
    if "aggregate" in node:  # an aggregate of no values is NULL: the HAVING is not met
        agg = node["aggregate"]
        number = JsonNumber("properties", agg["property"])
        annotations[f"a{suffix}"] = _AGGREGATES[agg["function"]](number, filter=hits)
        having &= _having(f"a{suffix}", agg["operator"], agg["value"])
    return annotations, having


def _event_q(node: dict, c: _Context) -> Q:
    events = _events(c, node["event"], node["where"], node["window"])
    if not node["performed"]:
        return ~_performed(events)
    if "aggregate" in node:  # needs at least one event, so the grouped set is the answer
        return _grouped(events, *_tallies(node, "", None))
    if "count" not in node:
        return _performed(events)
    operator, value = node["count"]["operator"], node["count"]["value"]
    if _holds(0, operator, value):  # includes profiles without any: not in the complement
        complement = _with_count(events, _COMPLEMENT[operator], value)
        return TRUE if complement is FALSE else ~complement
    return _with_count(events, operator, value)


def _tallied(node: dict) -> bool:
    return (
        node.get("type") == "event"
        and node.get("performed", False)
        and not node.get("negate")
        and ("count" in node or "aggregate" in node)
    )


def _needs_an_event(node: dict) -> bool:
    return "aggregate" in node or not _holds(0, node["count"]["operator"], node["count"]["value"])


def _envelope(windows: list[dict], now: datetime) -> Q:
    """The smallest single time range holding every window."""
    if len({orjson.dumps(w) for w in windows}) == 1:
        return _window_q(windows[0], now)
    if any(w["kind"] == "ever" for w in windows):
        return Q()
    since = min(now - timedelta(days=w["days"] if w["kind"] == "last_days" else w["to"])
                for w in windows)  # fmt: skip
    if any(w["kind"] == "last_days" for w in windows):
        return Q(timestamp__gte=since)
    return Q(
        timestamp__gte=since, timestamp__lt=max(now - timedelta(days=w["from"]) for w in windows)
    )


def _tallied_together(nodes: list[dict], c: _Context) -> Q:
    """Counts and aggregates of one event ANDed together, in one pass over its events: each
    condition counts its own window and filters, and one of them needs at least one event, so
    the profiles are among those with an event in the windows' envelope."""
    windows = [n["window"] for n in nodes]
    same_window = len({orjson.dumps(w) for w in windows}) == 1
    same_where = all(n["where"] == nodes[0]["where"] for n in nodes)
    events = c.events(
        Q(name=nodes[0]["event"])
        & _envelope(windows, c.now)
        & (_where_q(nodes[0]["where"], c.now) if same_where else Q())
    )
    annotations, having = {}, Q()
    for i, node in enumerate(nodes):
        hits = (Q() if same_window else _window_q(node["window"], c.now)) & (
            Q() if same_where else _where_q(node["where"], c.now)
        )
        more, condition = _tallies(node, str(i), hits or None)
        annotations |= more
        having &= condition
    return _grouped(events, annotations, having)


def _and_parts(children: list[dict], c: _Context, negated: bool) -> list[Q]:
    """The children of an AND group compiled, counts of the same event read in one pass."""
    by_event: dict[str, list[dict]] = {}
    for child in children:
        if _tallied(child):
            by_event.setdefault(child["event"], []).append(child)
    together = {
        id(child): nodes
        for nodes in by_event.values()
        if len(nodes) > 1 and any(_needs_an_event(n) for n in nodes)
        for child in nodes
    }
    parts = []
    for child in children:
        nodes = together.get(id(child))
        if nodes is None:
            parts.append(_compile(child, c, negated))
        elif child is nodes[0]:
            parts.append(_tallied_together(nodes, c))
    return parts


def _sequence_q(node: dict, c: _Context) -> Q:
    first = _events(c, node["first"]["event"], node["first"]["where"], node["window"])
    then = c.registry.event_model.objects.filter(
        Q(
            profile=OuterRef("profile"),
            name=node["then"]["event"],
            timestamp__gt=OuterRef("timestamp"),
            timestamp__lte=OuterRef("timestamp") + timedelta(days=node["within_days"]),
        )
        & _where_q(node["then"]["where"], c.now)
    )
    followed = Exists(then) if node["mode"] == "then" else ~Exists(then)
    # Set-based, like the counts: also a hashed subplan, computed once, inside the preview's
    # per-node FILTER, where a correlated EXISTS would be probed for every profile.
    return Q(pk__in=first.filter(followed, profile__isnull=False).values("profile"))


def _seen_q(node: dict, now: datetime) -> Q:
    field, op, value = node["which"], node["operator"], node["value"]
    if op == "within_last_days":
        return Q(**{f"{field}__gte": now - timedelta(days=value)})
    if op == "not_within_last_days":
        return Q(**{f"{field}__lt": now - timedelta(days=value)})
    day = datetime.fromisoformat(value[:10]).replace(tzinfo=now.tzinfo)
    if op == "before":
        return Q(**{f"{field}__lt": day})
    return Q(**{f"{field}__gte": day + timedelta(days=1)})


def _consent_q(node: dict, now: datetime, two_valued: bool) -> Q:
    purpose = node["purpose"]
    if node["status"] == "unknown":
        return ~Q(consent__has_key=purpose)
    granted = node["status"] == "granted"
    q = Q(JsonTest("consent", f"{purpose}.granted", "equals", granted, two_valued=two_valued))
    if granted:  # an expired grant no longer counts (a missing or undated expiry is no expiry)
        expired = JsonTest(
            "consent", f"{purpose}.expires_at", "before", now.isoformat()[:10], two_valued=True
        )
        q &= ~Q(expired)
    return q


def _segment_q(node: dict, registry: Registry) -> Q:
    open_stint = registry.membership_model.objects.filter(
        segment_id=node["segment"], profile=OuterRef("pk"), exited_at__isnull=True
    )
    return Q(Exists(open_stint)) if node["member"] else ~Q(Exists(open_stint))


def _compile(node: dict, c: _Context, under_not: bool) -> Q:
    kind = node["type"]
    negated = under_not != bool(node.get("negate"))  # an odd number of NOTs above the body
    if kind == "group":
        if node["op"] == "and":
            parts = _and_parts(node["children"], c, negated)
        else:
            parts = [_compile(child, c, negated) for child in node["children"]]
        if not parts:
            q = TRUE if node["op"] == "and" else FALSE
        else:
            q = reduce(and_ if node["op"] == "and" else or_, parts)
    elif kind in ("trait", "computed"):
        column, key = ("traits", node["trait"]) if kind == "trait" else ("computed", node["name"])
        value = node.get("value")
        test = JsonTest(column, key, node["operator"], value, c.now, two_valued=negated)
        q = Q(test)
    elif kind == "event":
        q = _event_q(node, c)
    elif kind == "sequence":
        q = _sequence_q(node, c)
    elif kind == "seen":
        q = _seen_q(node, c.now)
    elif kind == "consent":
        q = _consent_q(node, c.now, negated)
    elif kind == "segment":
        q = _segment_q(node, c.registry)
    else:
        raise DefinitionError(node.get("id"), f"unknown node type {kind!r}.")
    return ~q if node.get("negate") else q


def compile_node(
    node: dict, *, now: datetime, registry: Registry, profile_ids: list[int] | None = None
) -> Q:
    """The Q for one (validated) node and everything under it; with `profile_ids`, a Q that is
    right for those profiles only (filter on them too), cheaper for a few of them."""
    scope = None if profile_ids is None else tuple(profile_ids)
    return _compile(node, _Context(now, registry, scope), under_not=False)


def compile_definition(definition: dict, *, now: datetime, registry: Registry) -> Q:
    """Validate and compile a whole definition to a Q over profiles."""
    return compile_node(validate(definition)["root"], now=now, registry=registry)
