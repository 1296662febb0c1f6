"""Curated casting: the rules that turn Standardized strings into declared types, as DuckDB SQL.

    p = projection(con, section.columns, set(standardized_string_columns))
    select = ", ".join(f'{sql} AS "{name}"' for name, sql in p.typed) + f", {p.errors} AS errors"

Every rule is a vectorised SQL expression (regexp_full_match, try_cast, CASE): no Python UDF runs
per row. DuckDB's own casts are far more lenient than the contract (`'1.5'::INTEGER` is 2,
`'1.234'::DECIMAL(5,2)` is 1.23, `'1_000'` is a number, `'2026-01-19 10:00'::DATE` drops the time,
`'epoch'` is a timestamp), so each type first checks the text against a pinned grammar and only
then casts; the grammar is also what lets another engine (Spark) agree. Defaults go through the
very same expressions. The accepted forms, as a table: docs/curated-casting.md.
"""
from __future__ import annotations

import dataclasses
import hashlib
import json
import re
from collections.abc import Callable
from typing import TYPE_CHECKING

from pyiceberg import types as ice

from leanops.helper_columns import Helper

if TYPE_CHECKING:  # the schema-file model only for annotations: it never imports this module
    import duckdb

    from leanops.schema_file import CuratedColumn

MISSING_CDE = "missing critical data element"
ERROR_LIST_TYPE = 'STRUCT("column" VARCHAR, "value" VARCHAR, reason VARCHAR)[]'
_NAME = re.compile(r"^\w+$")
_DECIMAL = re.compile(r"^decimal\((\d+),\s*(\d+)\)$")

# Grammars, matched whole (regexp_full_match) against the trimmed text.
WHITESPACE_EDGES = r"^[\t\n\x0B\f\r ]+|[\t\n\x0B\f\r ]+$"  # ASCII; DuckDB's trim() skips tabs/newlines
_WHITESPACE_CODES = "9, 10, 11, 12, 13, 32"  # the characters of WHITESPACE_EDGES
INTEGER_TEXT = r"[+-]?[0-9]+"
DECIMAL_TEXT = r"[+-]?([0-9]+\.?[0-9]*|\.[0-9]+)"
DOUBLE_TEXT = r"[+-]?([0-9]+\.?[0-9]*|\.[0-9]+)([eE][+-]?[0-9]+)?"
NON_FINITE_TEXT = r"[+-]?(nan|inf|infinity)"  # matched against lower(text)
DATE_TEXT = r"[0-9]{4}-[0-9]{2}-[0-9]{2}"
# A date, optionally [T ]HH:MM[:SS[.1-9 digits]] and a zone Z, ±HH, ±HHMM or ±HH:MM (t and z too).
TIMESTAMP_TEXT = (r"[0-9]{4}-[0-9]{2}-[0-9]{2}([Tt ]([01][0-9]|2[0-3]):[0-5][0-9](:[0-5][0-9](\.[0-9]{1,9})?)?"
                  r"([Zz]|[+-]([01][0-9]|2[0-3])(:?[0-5][0-9])?)?)?")
EPOCH_TEXT = r"[+-]?[0-9]+(\.[0-9]+)?"
EPOCH_MILLIS_FROM = 100_000_000_000  # |x| below: epoch seconds (up to year 5138); from here: milliseconds
TIMESTAMP_MIN_US, TIMESTAMP_MAX_US = -62135596800000000, 253402300799999999  # 0001-01-01 .. 9999-12-31Z
TIMESTAMP_REASON = "not an ISO-8601 timestamp or epoch seconds/milliseconds"


def _lit(text: str) -> str:
    """A SQL string literal. Only for our own constants: user data goes through parameters."""
    return "'" + text.replace("'", "''") + "'"


def _match(value: str, pattern: str) -> str:
    return f"regexp_full_match({value}, {_lit(pattern)})"


def _let(value: str, name: str, body: str) -> str:
    """`body` with `name` bound to `value`, computed once per row.

    DuckDB shares no sub-expression under CASE, and the rules use their text many times. The
    names hold '$' so they are never a column name (\\w+): in DuckDB 2.0 a bare name inside a
    struct literal in a lambda binds to a same-named column before the lambda parameter.
    """
    return f'list_transform([{value}], lambda "{name}": {body})[1]'


@dataclasses.dataclass(frozen=True)
class _Rule:
    """One type's rule over the trimmed, non-missing text `t` (a SQL name)."""

    value: str  # the typed value; NULL exactly when t is invalid (or NULL)
    reasons: tuple[tuple[str, str], ...]  # (condition, reason) tried in order once value is NULL
    otherwise: str  # the reason when no condition holds


def _integer(duck_name: str, label: str) -> Callable[[str], _Rule]:
    def rule(t: str) -> _Rule:  # try_cast alone takes '1.5' (as 2), '1e3', '0x10', '1_000'
        return _Rule(f"CASE WHEN {_match(t, INTEGER_TEXT)} THEN try_cast({t} AS {duck_name}) END",
                     ((f"NOT {_match(t, INTEGER_TEXT)}", "not an integer"),), f"out of range for {label}")
    return rule


def _double(t: str) -> _Rule:
    """The grammar drops DuckDB's extras ('1_000', 'nan', 'inf'); overflow ('1e400') casts to inf."""
    return _Rule(_let(f"CASE WHEN {_match(t, DOUBLE_TEXT)} THEN try_cast({t} AS DOUBLE) END", "d$",
                      'CASE WHEN isfinite("d$") THEN "d$" END'),
                 ((f"NOT {_match(t, DOUBLE_TEXT)} AND NOT {_match(f'lower({t})', NON_FINITE_TEXT)}",
                   "not a number"),), "not a finite number")


def _boolean(t: str) -> _Rule:
    """Only true/false/1/0, any case: DuckDB would also take t, f, y, yes, n, no."""
    return _Rule(f"CASE lower({t}) WHEN 'true' THEN true WHEN '1' THEN true "
                 f"WHEN 'false' THEN false WHEN '0' THEN false END", (), "not a boolean")


def _decimal(precision: int, scale: int) -> Callable[[str], _Rule]:
    """Checks the decimal places first: DuckDB's cast rounds extra ones silently. Then a NULL cast
    can only mean too many integer digits. Zeros that change nothing (007.50) are not counted."""
    places = rf"[^.]*(\.[0-9]{{0,{scale}}}0*)?"

    def rule(t: str) -> _Rule:
        return _Rule(f"CASE WHEN {_match(t, DECIMAL_TEXT)} AND {_match(t, places)} "
                     f"THEN try_cast({t} AS DECIMAL({precision},{scale})) END",
                     ((f"NOT {_match(t, DECIMAL_TEXT)}", "not a decimal"),
                      (f"NOT {_match(t, places)}", f"more than {scale} decimal places")),
                     f"out of range for decimal({precision},{scale})")
    return rule


def _date(t: str) -> _Rule:
    """Strict YYYY-MM-DD; DuckDB alone takes '2026-1-5', 'epoch', and year 0000 as 1 BC."""
    return _Rule(f"CASE WHEN {_match(t, DATE_TEXT)} AND NOT starts_with({t}, '0000') "
                 f"THEN try_cast({t} AS DATE) END", (), "not an ISO-8601 date (YYYY-MM-DD)")


def _epoch_micros(t: str) -> str:
    """Epoch seconds or milliseconds as exact integer microseconds (digits below 1 µs dropped).

    Integer arithmetic on the text's parts, not DECIMAL: exact for any length, and faster."""
    sign = f"(CASE WHEN starts_with({t}, '-') THEN -1 ELSE 1 END)"  # '-0.5' has a whole part of 0

    def fraction(digits: int) -> str:
        return f"{sign} * CAST(rpad(left(split_part({t}, '.', 2), {digits}), {digits}, '0') AS BIGINT)"
    return _let(f"try_cast(split_part({t}, '.', 1) AS HUGEINT)", "w$", (  # NULL past 38 digits
        f'CASE WHEN abs("w$") < {EPOCH_MILLIS_FROM} THEN "w$" * 1000000 + {fraction(6)} '
        f'WHEN abs("w$") < {10 ** 15} THEN "w$" * 1000 + {fraction(3)} END'))  # 1e15 ms is past 9999


def _timestamp(t: str) -> _Rule:
    """ISO-8601 (no zone = UTC: the session TimeZone must be UTC) or epoch; years 0001-9999 in UTC."""
    micros = (f"CASE WHEN {_match(t, TIMESTAMP_TEXT)} THEN epoch_us(try_cast(upper({t}) AS TIMESTAMPTZ)) "
              f"WHEN {_match(t, EPOCH_TEXT)} THEN {_epoch_micros(t)} END")
    return _Rule(_let(micros, "us$", f'make_timestamptz(CASE WHEN "us$" BETWEEN {TIMESTAMP_MIN_US} '
                                     f'AND {TIMESTAMP_MAX_US} THEN CAST("us$" AS BIGINT) END)'), (), TIMESTAMP_REASON)


def _string(t: str) -> _Rule:
    return _Rule(t, (), "")  # verbatim: only a NULL is missing, and nothing else can fail


_RULES: dict[str, tuple[Callable[[str], _Rule], str, Callable[[], ice.IcebergType]]] = {
    # type: (rule, DuckDB type, Iceberg type); decimal(p,s) is built from its arguments
    "string": (_string, "VARCHAR", ice.StringType),
    "int": (_integer("INTEGER", "int"), "INTEGER", ice.IntegerType),
    "long": (_integer("BIGINT", "long"), "BIGINT", ice.LongType),
    "double": (_double, "DOUBLE", ice.DoubleType),
    "boolean": (_boolean, "BOOLEAN", ice.BooleanType),
    "date": (_date, "DATE", ice.DateType),
    "timestamp": (_timestamp, "TIMESTAMPTZ", ice.TimestamptzType),
}


def _decimal_args(type_name: str) -> tuple[int, int] | None:
    match = _DECIMAL.match(type_name.strip().lower())
    return (int(match.group(1)), int(match.group(2))) if match else None


def _lookup(type_name: str) -> tuple[Callable[[str], _Rule], str, Callable[[], ice.IcebergType]]:
    args = _decimal_args(type_name)
    if args:
        return _decimal(*args), "DECIMAL({},{})".format(*args), lambda: ice.DecimalType(*args)
    try:
        return _RULES[type_name.strip().lower()]
    except KeyError:
        raise ValueError(f"unknown type {type_name!r}") from None


def duck_type(type_name: str) -> str:
    return _lookup(type_name)[1]


def iceberg_type(type_name: str) -> ice.IcebergType:
    return _lookup(type_name)[2]()



@dataclasses.dataclass(frozen=True)
class Projection:
    typed: list[tuple[str, str]]  # (column name, SQL giving the typed value, NULL when missing/invalid)
    errors: str  # SQL: LIST of STRUCT(column, value, reason), the row's failures in column order
    # with `shared`: (helper, SQL of a column's STRUCT(v, r)) that `typed` and `errors` read
    analyses: list[tuple[Helper, str]] = dataclasses.field(default_factory=list)

    def source(self, relation: str) -> str:
        """`relation` with the analyses added: what `typed` and `errors` select from."""
        if not self.analyses:
            return relation
        return f"(SELECT *, {', '.join(f'{sql} AS {helper}' for helper, sql in self.analyses)} FROM {relation})"


def _text(column_sql: str, type_name: str, default_sql: str | None) -> str:
    """The text a rule sees: trimmed, NULL when missing (blank too, except for string), else the default."""
    if type_name.strip().lower() == "string":
        return column_sql if default_sql is None else f"coalesce({column_sql}, {default_sql})"
    def trimmed(sql: str) -> str:  # the regex only when an edge is whitespace: most values have none
        edge = " OR ".join(f"ascii({end}) IN ({_WHITESPACE_CODES})" for end in (sql, f"right({sql}, 1)"))
        return f"nullif(CASE WHEN {edge} THEN regexp_replace({sql}, {_lit(WHITESPACE_EDGES)}, '', 'g') ELSE {sql} END, '')"
    return trimmed(column_sql) if default_sql is None else f"coalesce({trimmed(column_sql)}, {trimmed(default_sql)})"


def _analysis(text: str, rule: Callable[[str], _Rule], cde: bool) -> str:
    """STRUCT(v typed value, r failure reason or NULL) of one column, each part computed once per row."""
    parts = rule('"t$"')
    reason = _lit(parts.otherwise)
    if parts.reasons:
        reason = "CASE " + "".join(f"WHEN {c} THEN {_lit(r)} " for c, r in parts.reasons) + f"ELSE {reason} END"
    missing = _lit(MISSING_CDE) if cde else "NULL"
    body = f"""{{'v': "v$", 'r': CASE WHEN "t$" IS NULL THEN {missing} WHEN "v$" IS NULL THEN {reason} END}}"""
    return _let(text, "t$", _let(parts.value, "v$", body))


def _set_defaults(con: duckdb.DuckDBPyConnection, defaults: list[str | None]) -> str:
    """Store the defaults (user data, never SQL text) in a session variable named after its content."""
    variable = "leanops_defaults_" + hashlib.sha1(json.dumps(defaults).encode()).hexdigest()[:12]
    con.execute(f"SET VARIABLE {variable} = $1::VARCHAR[]", [defaults]).fetchall()
    return variable  # content-named: two projections on one connection never overwrite each other


def projection(con: duckdb.DuckDBPyConnection, columns: dict[str, CuratedColumn],
               available: set[str], shared: bool = False) -> Projection:
    """Typed-value and failure expressions over a relation of VARCHAR columns named `available`.

    Each column's rule gives both its value and its failure. DuckDB computes an expression as often
    as it is written, so with `shared` each rule runs once, in `Projection.source(relation)`, and the
    expressions read its result: select them from that, not from the relation itself.
    """
    for name, column in columns.items():
        if not _NAME.match(name):
            raise ValueError(f"column name {name!r} is not an identifier")
        if column.cde and column.default is not None:
            raise ValueError(f"column {name!r}: a critical data element (cde: true) cannot have a default")
    if any(column.type.strip().lower() == "timestamp" for column in columns.values()):
        [(zone,)] = con.execute("SELECT current_setting('TimeZone')").fetchall()
        if zone != "UTC":
            raise ValueError(f"the connection's TimeZone is {zone!r}: zone-less timestamps need 'UTC'")
    defaults = [column.default for column in columns.values()]
    variable = _set_defaults(con, defaults) if any(d is not None for d in defaults) else ""
    typed, failures, analyses = [], [], []
    for index, (name, column) in enumerate(columns.items(), start=1):
        original = f'"{name}"' if name in available else "NULL::VARCHAR"
        default = None if column.default is None else f"getvariable('{variable}')[{index}]"
        if column.type.strip().lower() == "string":  # verbatim: only a missing CDE fails, no rule to run
            text = _text(original, column.type, default)
            typed.append((name, text))
            if column.cde:
                failures.append(f"{{'column': {_lit(name)}, 'value': {original}, "
                                f"'reason': CASE WHEN {text} IS NULL THEN {_lit(MISSING_CDE)} END}}")
            continue
        analysis = _analysis(_text(original, column.type, default), _lookup(column.type)[0], column.cde)
        if shared:
            analyses.append((Helper(f"$cast_{index}"), analysis))
            analysis = str(analyses[-1][0])
        typed.append((name, f"struct_extract({analysis}, 'v')"))
        failures.append(f"{{'column': {_lit(name)}, 'value': {original}, 'reason': struct_extract({analysis}, 'r')}}")
    if not failures:
        return Projection(typed, f"[]::{ERROR_LIST_TYPE}", analyses)
    found = f"""list_filter([{", ".join(failures)}], lambda "e$": "e$".reason IS NOT NULL)"""
    return Projection(typed, f"CAST({found} AS {ERROR_LIST_TYPE})", analyses)


def type_name(iceberg: ice.IcebergType) -> str:
    """The schema-file name of an Iceberg type (the inverse of `iceberg_type`)."""
    from pyiceberg.types import DecimalType
    if isinstance(iceberg, DecimalType):
        return f"decimal({iceberg.precision},{iceberg.scale})"
    for name in ("string", "int", "long", "double", "boolean", "date", "timestamp"):
        if type(iceberg_type(name)) is type(iceberg):
            return name
    raise ValueError(f"no schema-file type for {iceberg}")
