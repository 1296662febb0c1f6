"""The part of a query's WHERE that PyIceberg can plan with: file pruning for `leanops sql`.

    tree = json.loads(con.execute("SELECT json_serialize_sql(?)", [query]).fetchone()[0])
    row_filter = pushed_filter(con, tree, ("curated", "events"), table.schema())
    plan = plan_scan(table, row_filter)      # leanops.catalog.scan: only files that may match

Only a query that names exactly one lakehouse table, once, as the FROM of its outermost SELECT (no
CTE, no join, no set operation, no sample, no column aliases on the table) pushes anything. From
its WHERE, the top-level AND conjuncts that compare a column of the table with a constant (`=`,
`<`, `<=`, `>`, `>=`, `IN (...)`, `IS [NOT] NULL`) become PyIceberg expressions; everything else is
left out. DuckDB still evaluates the whole WHERE over the planned files, so a pushed filter only
ever has to be implied by the WHERE: when in doubt, nothing is pushed.

A constant is converted to the column's type the way DuckDB binds the comparison: a string literal
(or a CAST of one to exactly the column's type) through DuckDB's own cast on the query's connection
(session time zone UTC), integer and decimal literals only where the value is exact in the column's
type. Floating-point columns are never pushed: DuckDB orders NaN above every number, Iceberg's
metrics and PyIceberg's row filter do not.
"""
from __future__ import annotations

from decimal import Context as DecimalContext, Decimal, InvalidOperation
from typing import Any, Callable, Iterator

import duckdb
from pyiceberg.expressions import (
    AlwaysTrue, And, BooleanExpression, EqualTo, GreaterThan, GreaterThanOrEqual, In, IsNull, LessThan,
    LessThanOrEqual, NotNull,
)
from pyiceberg.expressions.literals import (
    BooleanLiteral, DateLiteral, DecimalLiteral, Literal, LongLiteral, StringLiteral, TimestampLiteral,
)
from pyiceberg.schema import Schema
from pyiceberg.types import (
    BooleanType, DateType, DecimalType, IntegerType, LongType, NestedField, StringType, TimestampType,
    TimestamptzType,
)

_COMPARISONS: dict[str, Callable[[str, Literal], BooleanExpression]] = {
    "COMPARE_EQUAL": EqualTo, "COMPARE_LESSTHAN": LessThan, "COMPARE_LESSTHANOREQUALTO": LessThanOrEqual,
    "COMPARE_GREATERTHAN": GreaterThan, "COMPARE_GREATERTHANOREQUALTO": GreaterThanOrEqual,
}
# `5 < x` is `x > 5`
_MIRRORED = {"COMPARE_EQUAL": "COMPARE_EQUAL", "COMPARE_LESSTHAN": "COMPARE_GREATERTHAN",
             "COMPARE_LESSTHANOREQUALTO": "COMPARE_GREATERTHANOREQUALTO",
             "COMPARE_GREATERTHAN": "COMPARE_LESSTHAN", "COMPARE_GREATERTHANOREQUALTO": "COMPARE_LESSTHANOREQUALTO"}
_WIDE = DecimalContext(prec=80)  # quantize never rounds a DECIMAL(38) literal
_INT_RANGE = {IntegerType: (-2**31, 2**31 - 1), LongType: (-2**63, 2**63 - 1)}
# CAST('...' AS <name>) pushes only when <name> is the column's own DuckDB type.
_CAST_NAMES = {"VARCHAR": StringType, "TEXT": StringType, "STRING": StringType, "DATE": DateType,
               "TIMESTAMP": TimestampType, "DATETIME": TimestampType, "TIMESTAMPTZ": TimestamptzType,
               "TIMESTAMP WITH TIME ZONE": TimestamptzType, "INTEGER": IntegerType, "INT": IntegerType,
               "INT4": IntegerType, "BIGINT": LongType, "INT8": LongType, "BOOLEAN": BooleanType,
               "BOOL": BooleanType}
# DuckDB's cast of a string to the column's type, as the value Iceberg stores (NULL: not exact or infinite).
_STRING_CASTS = {
    StringType: ("SELECT CAST($1 AS VARCHAR)", StringLiteral),
    IntegerType: ("SELECT CAST($1 AS INTEGER)", LongLiteral),
    LongType: ("SELECT CAST($1 AS BIGINT)", LongLiteral),
    BooleanType: ("SELECT CAST($1 AS BOOLEAN)", BooleanLiteral),
    DateType: ("SELECT CASE WHEN isfinite(v) THEN date_diff('day', DATE '1970-01-01', v) END "
               "FROM (SELECT CAST($1 AS DATE) AS v)", DateLiteral),
    TimestampType: ("SELECT CASE WHEN isfinite(v) THEN epoch_us(v) END FROM (SELECT CAST($1 AS TIMESTAMP) AS v)",
                    TimestampLiteral),
    TimestamptzType: ("SELECT CASE WHEN isfinite(v) THEN epoch_us(v) END "
                      "FROM (SELECT CAST($1 AS TIMESTAMPTZ) AS v)", TimestampLiteral),
}


def pushed_filter(con: duckdb.DuckDBPyConnection, tree: dict, table: tuple[str, str], schema: Schema
                  ) -> BooleanExpression:
    """The PyIceberg row filter implied by the query's WHERE on `table`, or AlwaysTrue.

    Args:
        con: the query's connection (string constants are cast by it, time zone UTC).
        tree: the query's parse tree, from `json_serialize_sql`.
        table: (namespace, name) of the lakehouse table, lower-case.
        schema: the table's current Iceberg schema.

    Returns:
        An AND of the pushable conjuncts; AlwaysTrue when none is (or the query's shape forbids it).
    """
    node = _single_table_select(tree, table)
    if node is None:
        return AlwaysTrue()
    resolve = _column_resolver(node["from_table"], schema)
    pushed: BooleanExpression = AlwaysTrue()
    for conjunct in _conjuncts(node["where_clause"]):
        expression = _conjunct(con, conjunct, resolve)
        if expression is not None:
            pushed = expression if pushed == AlwaysTrue() else And(pushed, expression)
    return pushed


# -- the query's shape ------------------------------------------------------------------------
def _single_table_select(tree: dict, table: tuple[str, str]) -> dict | None:
    """The outermost SELECT when it reads `table` alone, directly, once, and has a WHERE."""
    statements = tree.get("statements") or []
    if tree.get("error") or len(statements) != 1:
        return None
    node = statements[0].get("node") or {}
    source = node.get("from_table") or {}
    if (node.get("type") != "SELECT_NODE" or node.get("where_clause") is None or node.get("sample")
            or (node.get("cte_map") or {}).get("map")):
        return None
    if (source.get("type") != "BASE_TABLE" or _table_of(source) != table or source.get("catalog_name")
            or source.get("column_name_alias") or source.get("sample") or source.get("at_clause")):
        return None
    references = [n for n in walk_nodes(tree) if n.get("type") == "BASE_TABLE" and n.get("schema_name")]
    if len(references) != 1:  # another table, or this one again (a subquery must see every row)
        return None
    return node


def _table_of(node: dict) -> tuple[str, str]:
    return str(node.get("schema_name", "")).lower(), str(node.get("table_name", "")).lower()


def walk_nodes(node: Any) -> Iterator[dict]:
    """Every dict of DuckDB's JSON-serialised plan or parse tree, depth first, without recursion."""
    stack = [node]
    while stack:
        item = stack.pop()
        if isinstance(item, dict):
            yield item
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)


def _conjuncts(expression: dict) -> Iterator[dict]:
    """The top-level AND terms of a WHERE, nested ANDs flattened."""
    if expression.get("type") == "CONJUNCTION_AND":
        for child in expression.get("children") or []:
            yield from _conjuncts(child)
    else:
        yield expression


def _column_resolver(source: dict, schema: Schema) -> Callable[[dict], NestedField | None]:
    """COLUMN_REF -> the table's top-level field it names (case-insensitive, as DuckDB binds), or None."""
    namespace, name = _table_of(source)
    alias = str(source.get("alias") or "").lower()
    qualifiers = [[alias]] if alias else [[name], [namespace, name]]
    by_name: dict[str, list[NestedField]] = {}
    for field in schema.fields:
        by_name.setdefault(field.name.lower(), []).append(field)

    def resolve(node: dict) -> NestedField | None:
        if node.get("type") != "COLUMN_REF":
            return None
        parts = [str(p).lower() for p in node.get("column_names") or []]
        if not parts or [*parts[:-1]] not in [[], *qualifiers]:
            return None
        found = by_name.get(parts[-1], [])
        if len(found) != 1 or "." in found[0].name:  # ambiguous, or a name PyIceberg reads as a path
            return None
        return found[0]
    return resolve


# -- one conjunct -------------------------------------------------------------------------------
def _conjunct(con: duckdb.DuckDBPyConnection, node: dict, resolve) -> BooleanExpression | None:
    kind = node.get("type")
    if kind in _COMPARISONS:
        left, right = node.get("left") or {}, node.get("right") or {}
        field = resolve(left)
        if field is None:
            field, kind, right = resolve(right), _MIRRORED[kind], left
        if field is None:
            return None
        value = constant(con, right, field)
        return None if value is None else _COMPARISONS[kind](field.name, value)
    if kind == "COMPARE_IN":
        column, *items = node.get("children") or [{}]
        field = resolve(column)
        if field is None or not items:
            return None
        values = [constant(con, item, field) for item in items]
        return None if any(v is None for v in values) else In(field.name, set(values))
    if kind in ("OPERATOR_IS_NULL", "OPERATOR_IS_NOT_NULL"):
        children = node.get("children") or []
        field = resolve(children[0]) if len(children) == 1 else None
        if field is None:
            return None
        return IsNull(field.name) if kind == "OPERATOR_IS_NULL" else NotNull(field.name)
    return None


def constant(con: duckdb.DuckDBPyConnection, node: dict, field: NestedField) -> Literal | None:
    """The constant `node` as an Iceberg literal of `field`'s type, when exact; else None."""
    column_type = type(field.field_type)
    if node.get("type") == "OPERATOR_CAST":
        type_expr = node.get("type_expr") or {}
        target = _CAST_NAMES.get(str(type_expr.get("type_name", "")).upper())
        child = node.get("child") or {}
        if node.get("try_cast") or type_expr.get("children") or target is not column_type:
            return None
        return _from_string(con, child, field) if _literal(child)[0] == "STRING" else None
    kind, text = _literal(node)
    if kind == "STRING":
        return _from_string(con, node, field)
    if kind in ("INTEGER", "NUMERIC"):
        return _from_number(text, field)
    if kind == "BOOLEAN" and column_type is BooleanType and text.lower() in ("true", "false"):
        return BooleanLiteral(text.lower() == "true")
    return None


def _literal(node: dict) -> tuple[str | None, str]:
    """(kind, text) of a VALUE_CONSTANT (DuckDB 2 spells it `literal`), else (None, "")."""
    literal = node.get("literal") if node.get("type") == "VALUE_CONSTANT" else None
    if not isinstance(literal, dict):
        return None, ""
    return literal.get("kind"), str(literal.get("text", ""))


def _from_string(con: duckdb.DuckDBPyConnection, node: dict, field: NestedField) -> Literal | None:
    """A string literal compared with the column: DuckDB casts it to the column's type, so do we."""
    _, text = _literal(node)
    if isinstance(field.field_type, DecimalType):
        sql, make = f"SELECT CAST($1 AS DECIMAL({field.field_type.precision}, {field.field_type.scale}))", None
    elif type(field.field_type) in _STRING_CASTS:
        sql, make = _STRING_CASTS[type(field.field_type)]
    else:
        return None
    try:
        value = con.execute(sql, [text]).fetchone()[0]
    except duckdb.Error:
        return None  # the query itself fails the same way when it binds
    if value is None:
        return None
    return DecimalLiteral(value) if make is None else make(value)


def _from_number(text: str, field: NestedField) -> Literal | None:
    """An integer or decimal literal, only where its value is exact in the column's type."""
    if not text or any(c not in "0123456789.-_" for c in text):
        return None  # exponent notation is a DOUBLE in DuckDB
    try:
        value = Decimal(text.replace("_", ""))
    except InvalidOperation:
        return None
    if len(value.as_tuple().digits) > 38:  # beyond DECIMAL(38) DuckDB reads it as a DOUBLE
        return None
    column = field.field_type
    if type(column) in _INT_RANGE:
        low, high = _INT_RANGE[type(column)]
        if value != value.to_integral_value() or not low <= value <= high:
            return None
        return LongLiteral(int(value))
    if isinstance(column, DecimalType):
        scaled = value.quantize(Decimal(1).scaleb(-column.scale), context=_WIDE)
        if scaled != value or len(scaled.as_tuple().digits) > column.precision:
            return None
        return DecimalLiteral(scaled)
    return None


__all__ = ["constant", "pushed_filter"]
