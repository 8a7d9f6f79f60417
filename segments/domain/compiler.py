"""Compile a segment definition into one ORM filter (a Q over profiles). Never queries.

Every leaf compiles to a two-valued SQL boolean (wrapped in COALESCE(..., false)), so negating a
group means exactly "not in it" even when traits are missing. The models come from a registry so
that this module imports no app models, and `now` is passed in so results are reproducible.
"""

from dataclasses import dataclass
from datetime import datetime, timedelta
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
    Subquery,
    Sum,
    Value,
)
from django.db.models.functions import Coalesce

from segments.domain.definition import DefinitionError, validate

# Never Q(): Django drops an empty Q from an OR, which would turn "everyone" into "no filter".
TRUE = Q(pk__isnull=False)
FALSE = Q(pk__in=[])
_SQL_COMPARE = {"eq": "=", "gt": ">", "gte": ">=", "lt": "<", "lte": "<="}
_AGGREGATES = {"sum": Sum, "avg": Avg, "min": Min, "max": Max}


@dataclass(frozen=True)
class Registry:
    """The models a definition is compiled against."""

    event_model: type
    membership_model: type


def _path(key: str) -> list[str]:
    return key.split(".")


class JsonTest(Expression):
    """A two-valued test on one JSON path of a jsonb column (traits, computed, properties)."""

    output_field = BooleanField()
    conditional = True

    def __init__(
        self, column: str, key: str, operator: str, value=None, now: datetime | None = None
    ):
        super().__init__()
        self.column = F(column)
        self.key, self.operator, self.value, self.now = key, operator, value, now

    def get_source_expressions(self):
        return [self.column]

    def set_source_expressions(self, exprs):
        (self.column,) = exprs

    def as_sql(self, compiler, connection):
        column_sql, column_params = compiler.compile(self.column)
        x = f"({column_sql} #> %s)"
        text = f"({x} #>> '{{}}')"
        path = _path(self.key)
        op, value = self.operator, self.value
        base = [*column_params, path]
        if op in ("is_set", "not_set"):
            sql = f"(jsonb_typeof({x}) <> 'null' AND {x} <> '\"\"'::jsonb)"
            params = base * 2
        elif op in ("equals", "not_equals"):
            sql, params = f"({x} = %s::jsonb)", [*base, orjson.dumps(value).decode()]
        elif op == "in":
            values = [orjson.dumps(item).decode() for item in value]
            sql, params = f"({x} = ANY(%s::jsonb[]))", [*base, values]
        elif op in ("contains", "starts_with"):
            test = (
                "strpos(lower({t}), lower(%s)) > 0"
                if op == "contains"
                else ("starts_with(lower({t}), lower(%s))")
            )
            sql = f"(jsonb_typeof({x}) = 'string' AND {test.format(t=text)})"
            params = [*base, *base, value]
        elif op in ("gt", "gte", "lt", "lte"):
            symbol = _SQL_COMPARE[op]
            sql = f"(jsonb_typeof({x}) = 'number' AND {text}::numeric {symbol} %s)"
            params = [*base, *base, value]
        elif op == "between":
            sql = f"(jsonb_typeof({x}) = 'number' AND {text}::numeric BETWEEN %s AND %s)"
            params = [*base, *base, value[0], value[1]]
        elif op in ("before", "after", "within_last_days"):
            if op == "within_last_days":
                symbol, bound = ">=", (self.now - timedelta(days=value)).date().isoformat()
            else:
                symbol, bound = ("<" if op == "before" else ">"), value[:10]
            sql = (
                f"(jsonb_typeof({x}) = 'string' AND {text} ~ '^\\d{{4}}-\\d{{2}}-\\d{{2}}' "
                f"AND left({text}, 10) {symbol} %s)"
            )
            params = [*base, *base, *base, bound]
        else:
            raise DefinitionError(None, f"unknown operator {op!r}")
        if op in ("not_set", "not_equals"):
            return f"NOT COALESCE({sql}, false)", params
        return f"COALESCE({sql}, false)", params


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
        column_sql, params = compiler.compile(self.column)
        x = f"({column_sql} #> %s)"
        path = _path(self.key)
        return (
            f"(CASE WHEN jsonb_typeof({x}) = 'number' THEN ({x} #>> '{{}}')::numeric END)",
            [*params, path, *params, path],
        )


class Compare(Expression):
    """COALESCE(<expression> <op> value, false): a two-valued comparison of a subquery result."""

    output_field = BooleanField()
    conditional = True

    def __init__(self, expression, operator: str, value):
        super().__init__()
        self.expression, self.operator, self.value = expression, operator, value

    def get_source_expressions(self):
        return [self.expression]

    def set_source_expressions(self, exprs):
        (self.expression,) = exprs

    def as_sql(self, compiler, connection):
        sql, params = compiler.compile(self.expression)
        return (
            f"COALESCE(({sql}) {_SQL_COMPARE[self.operator]} %s, false)",
            [*params, self.value],
        )


def _window_q(window: dict, now: datetime, field: str = "timestamp") -> Q:
    if window["kind"] == "last_days":
        return Q(**{f"{field}__gte": now - timedelta(days=window["days"])})
    if window["kind"] == "between_days_ago":
        return Q(**{f"{field}__gte": now - timedelta(days=window["to"]),
                    f"{field}__lt": now - timedelta(days=window["from"])})  # fmt: skip
    return Q()


def _where_q(filters: list[dict], now: datetime) -> Q:
    return reduce(
        and_,
        (Q(JsonTest("properties", f["property"], f["operator"], f["value"], now)) for f in filters),
        Q(),
    )


def _events(registry: Registry, name: str, filters: list[dict], window: dict, now: datetime):
    return registry.event_model.objects.filter(
        Q(profile=OuterRef("pk"), name=name) & _window_q(window, now) & _where_q(filters, now)
    )


def _event_q(node: dict, now: datetime, registry: Registry) -> Q:
    events = _events(registry, node["event"], node["where"], node["window"], now)
    if not node["performed"]:
        return ~Q(Exists(events))
    parts = []
    if "count" in node:
        counted = events.order_by().values("profile").annotate(n=Count("*")).values("n")
        number = Coalesce(Subquery(counted), Value(0))
        parts.append(Q(Compare(number, node["count"]["operator"], node["count"]["value"])))
    if "aggregate" in node:
        agg = node["aggregate"]
        function = _AGGREGATES[agg["function"]]
        total = (
            events.order_by()
            .values("profile")
            .annotate(a=function(JsonNumber("properties", agg["property"])))
            .values("a")
        )
        parts.append(Q(Compare(Subquery(total), agg["operator"], agg["value"])))
    if not parts:
        return Q(Exists(events))
    return reduce(and_, parts)


def _sequence_q(node: dict, now: datetime, registry: Registry) -> Q:
    first = _events(registry, node["first"]["event"], node["first"]["where"], node["window"], now)
    then = registry.event_model.objects.filter(
        Q(
            profile=OuterRef("profile"),
            name=node["then"]["event"],
            timestamp__gt=OuterRef("timestamp"),
            timestamp__lte=OuterRef("timestamp") + timedelta(days=node["within_days"]),
        )
        & _where_q(node["then"]["where"], now)
    )
    if node["mode"] == "then":
        return Q(Exists(first.filter(Exists(then))))
    return Q(Exists(first.filter(~Exists(then))))


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


def _consent_q(node: dict, now: datetime) -> Q:
    purpose = node["purpose"]
    if node["status"] == "unknown":
        return ~Q(consent__has_key=purpose)
    granted = node["status"] == "granted"
    q = Q(JsonTest("consent", f"{purpose}.granted", "equals", granted))
    if granted:  # an expired grant no longer counts
        q &= ~Q(JsonTest("consent", f"{purpose}.expires_at", "before", now.isoformat()[:10])) | Q(
            JsonTest("consent", f"{purpose}.expires_at", "not_set")
        )
    return q


def _segment_q(node: dict, registry: Registry) -> Q:
    open_stint = registry.membership_model.objects.filter(
        segment_id=node["segment"], profile=OuterRef("pk"), exited_at__isnull=True
    )
    return Q(Exists(open_stint)) if node["member"] else ~Q(Exists(open_stint))


def compile_node(node: dict, *, now: datetime, registry: Registry) -> Q:
    """The Q for one (validated) node and everything under it."""
    kind = node["type"]
    if kind == "group":
        parts = [compile_node(child, now=now, registry=registry) for child in node["children"]]
        if not parts:
            q = TRUE if node["op"] == "and" else FALSE
        else:
            q = reduce(and_ if node["op"] == "and" else or_, parts)
    elif kind == "trait":
        q = Q(JsonTest("traits", node["trait"], node["operator"], node.get("value"), now))
    elif kind == "computed":
        q = Q(JsonTest("computed", node["name"], node["operator"], node.get("value"), now))
    elif kind == "event":
        q = _event_q(node, now, registry)
    elif kind == "sequence":
        q = _sequence_q(node, now, registry)
    elif kind == "seen":
        q = _seen_q(node, now)
    elif kind == "consent":
        q = _consent_q(node, now)
    elif kind == "segment":
        q = _segment_q(node, registry)
    else:
        raise DefinitionError(node.get("id"), f"unknown node type {kind!r}.")
    return ~q if node.get("negate") else q


def compile_definition(definition: dict, *, now: datetime, registry: Registry) -> Q:
    """Validate and compile a whole definition to a Q over profiles."""
    return compile_node(validate(definition)["root"], now=now, registry=registry)
