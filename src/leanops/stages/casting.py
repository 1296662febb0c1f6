"""Curated casting: the rules that turn Standardized strings into declared types, as DuckDB SQL.

    p = projection(con, section.columns, set(standardized_string_columns))
    select = ", ".join(f'{sql} AS "{name}"' for name, sql in p.typed) + f", {p.errors} AS errors"

Every rule is a vectorised SQL expression (regexp_full_match, try_cast, CASE): no Python UDF runs
per row. DuckDB's own casts are far more lenient than the contract (`'1.5'::INTEGER` is 2,
`'1.234'::DECIMAL(5,2)` is 1.23, `'1_000'` is a number, `'2026-01-19 10:00'::DATE` drops the time,
`'epoch'` and `'infinity'` are timestamps), so each type first checks the text against a pinned
grammar and only then casts. The grammar is what makes other engines (Spark) able to agree.
Defaults run through the very same expressions. The table of accepted forms: docs/curated-casting.md.
"""
from __future__ import annotations

import dataclasses
import hashlib
import json
import re
from collections.abc import Callable
from typing import TYPE_CHECKING

from pyiceberg import types as ice

from leanops import duck

if TYPE_CHECKING:  # schema_file may import this module to validate defaults: no import cycle
    import duckdb

    from leanops.schema_file import CuratedColumn

MISSING_CDE = "missing critical data element"
ERROR_LIST_TYPE = 'STRUCT("column" VARCHAR, "value" VARCHAR, reason VARCHAR)[]'
# ASCII whitespace. DuckDB's one-argument trim() strips Unicode spaces but not tabs or newlines.
_WHITESPACE = "chr(32) || chr(9) || chr(10) || chr(11) || chr(12) || chr(13)"
_NAME = re.compile(r"^\w+$")
_DECIMAL = re.compile(r"^decimal\((\d+),\s*(\d+)\)$")

INTEGER_TEXT = r"^[+-]?[0-9]+$"
DECIMAL_TEXT = r"^[+-]?([0-9]+\.?[0-9]*|\.[0-9]+)$"
DOUBLE_TEXT = r"^[+-]?([0-9]+\.?[0-9]*|\.[0-9]+)([eE][+-]?[0-9]+)?$"
NON_FINITE_TEXT = r"^[+-]?(nan|inf|infinity)$"  # matched against lower(value)
DATE_TEXT = r"^[0-9]{4}-[0-9]{2}-[0-9]{2}$"
# Date, optional [T ]HH:MM[:SS[.fraction]] and zone (Z, +HH, +HHMM, +HH:MM); upper() makes t/z legal too.
TIMESTAMP_TEXT = (r"^[0-9]{4}-[0-9]{2}-[0-9]{2}([T ]([01][0-9]|2[0-3]):[0-5][0-9](:[0-5][0-9](\.[0-9]{1,9})?)?"
                  r"(Z|[+-]([01][0-9]|2[0-3])(:?[0-5][0-9])?)?)?$")
EPOCH_TEXT = r"^[+-]?[0-9]+(\.[0-9]+)?$"
EPOCH_SECONDS_DIGITS = 11  # |x| < 100,000,000,000 (at most 11 integer digits) = seconds, else milliseconds
TIMESTAMP_MIN_US, TIMESTAMP_MAX_US = -62135596800000000, 253402300799999999  # 0001-01-01 .. 9999-12-31Z
TIMESTAMP_REASON = "not an ISO-8601 timestamp or epoch seconds/milliseconds"


def _lit(text: str) -> str:
    """A SQL string literal. Only for our own constants: user data goes through parameters."""
    return "'" + text.replace("'", "''") + "'"


def _match(value: str, pattern: str) -> str:
    return f"regexp_full_match({value}, {_lit(pattern)})"


def _decimal_args(type_name: str) -> tuple[int, int] | None:
    match = _DECIMAL.match(type_name.strip().lower())
    return (int(match.group(1)), int(match.group(2))) if match else None


@dataclasses.dataclass(frozen=True)
class _Rule:
    """One type's rule over a trimmed, non-missing text `t`."""

    value: str  # the typed value; NULL exactly when t is invalid (or NULL)
    reasons: tuple[tuple[str, str], ...]  # (condition, reason) tried in order once value is NULL
    otherwise: str  # the reason when no condition holds


def _integer(bits: int) -> Callable[[str], _Rule]:
    duck_name, label = {32: ("INTEGER", "int"), 64: ("BIGINT", "long")}[bits]

    def rule(t: str) -> _Rule:  # try_cast alone would accept '1.5' (as 2), '1e3', '0x10', '1_000'
        return _Rule(f"CASE WHEN {_match(t, INTEGER_TEXT)} THEN try_cast({t} AS {duck_name}) END",
                     ((f"NOT {_match(t, INTEGER_TEXT)}", "not an integer"),), f"out of range for {label}")
    return rule


def _double(t: str) -> _Rule:
    """The grammar excludes DuckDB's extras ('1_000', 'nan', 'inf'); overflow ('1e400') casts to inf."""
    cast = f"try_cast({t} AS DOUBLE)"
    return _Rule(f"CASE WHEN {_match(t, DOUBLE_TEXT)} AND isfinite({cast}) THEN {cast} END",
                 ((f"NOT {_match(t, DOUBLE_TEXT)} AND NOT {_match(f'lower({t})', NON_FINITE_TEXT)}",
                   "not a number"),), "not a finite number")


def _boolean(t: str) -> _Rule:
    """Only true/false/1/0: DuckDB would also take t, y, yes, f, n, no."""
    return _Rule(f"CASE lower({t}) WHEN 'true' THEN true WHEN '1' THEN true "
                 f"WHEN 'false' THEN false WHEN '0' THEN false END", (), "not a boolean")


def _decimal(precision: int, scale: int) -> Callable[[str], _Rule]:
    """Counts significant digits first: DuckDB's cast rounds extra decimal places silently."""
    def rule(t: str) -> _Rule:
        places = f"length(rtrim(regexp_extract({t}, '\\.([0-9]*)$', 1), '0'))"  # trailing zeros lose nothing
        digits = f"length(ltrim(regexp_extract({t}, '^[+-]?([0-9]*)', 1), '0'))"  # nor do leading zeros
        ok = f"{_match(t, DECIMAL_TEXT)} AND {places} <= {scale} AND {digits} <= {precision - scale}"
        return _Rule(f"CASE WHEN {ok} THEN try_cast({t} AS DECIMAL({precision},{scale})) END",
                     ((f"NOT {_match(t, DECIMAL_TEXT)}", "not a decimal"),
                      (f"{places} > {scale}", f"more than {scale} decimal places")),
                     f"out of range for decimal({precision},{scale})")
    return rule


def _date(t: str) -> _Rule:
    """Strict YYYY-MM-DD; DuckDB alone takes '2026-1-5', 'epoch', and year 0000 as 1 BC."""
    return _Rule(f"CASE WHEN {_match(t, DATE_TEXT)} AND NOT starts_with({t}, '0000') "
                 f"THEN try_cast({t} AS DATE) END", (), "not an ISO-8601 date (YYYY-MM-DD)")


def _epoch_micros(t: str) -> str:
    """Epoch seconds or milliseconds as exact integer microseconds (digits below 1 µs dropped)."""
    whole = f"regexp_extract({t}, '^[+-]?0*([0-9]+)', 1)"
    fraction = f"regexp_extract({t}, '\\.([0-9]+)$', 1)"
    magnitude = (f"CASE WHEN length({whole}) <= {EPOCH_SECONDS_DIGITS} "
                 f"THEN CAST({whole} AS BIGINT) * 1000000 + CAST(rpad(left({fraction}, 6), 6, '0') AS BIGINT) "
                 f"WHEN length({whole}) <= 15 "
                 f"THEN CAST({whole} AS BIGINT) * 1000 + CAST(rpad(left({fraction}, 3), 3, '0') AS BIGINT) END")
    return f"(CASE WHEN starts_with({t}, '-') THEN -1 ELSE 1 END) * {magnitude}"


def _timestamp(t: str) -> _Rule:
    """ISO-8601 (no zone = UTC: needs the session TimeZone UTC) or epoch; years 0001-9999 in UTC."""
    micros = (f"CASE WHEN {_match(t, TIMESTAMP_TEXT)} THEN epoch_us(try_cast(upper({t}) AS TIMESTAMPTZ)) "
              f"WHEN {_match(t, EPOCH_TEXT)} THEN {_epoch_micros(t)} END")
    return _Rule(f"make_timestamptz(CASE WHEN {micros} BETWEEN {TIMESTAMP_MIN_US} AND {TIMESTAMP_MAX_US} "
                 f"THEN {micros} END)", (), TIMESTAMP_REASON)


_RULES: dict[str, tuple[Callable[[str], _Rule], str, Callable[[], ice.IcebergType]]] = {
    # type: (rule, DuckDB type, Iceberg type); string has no rule: it is kept verbatim
    "int": (_integer(32), "INTEGER", ice.IntegerType),
    "long": (_integer(64), "BIGINT", ice.LongType),
    "double": (_double, "DOUBLE", ice.DoubleType),
    "boolean": (_boolean, "BOOLEAN", ice.BooleanType),
    "date": (_date, "DATE", ice.DateType),
    "timestamp": (_timestamp, "TIMESTAMPTZ", ice.TimestamptzType),
    "string": (lambda t: _Rule(t, (), ""), "VARCHAR", ice.StringType),
}


def _rule(type_name: str) -> Callable[[str], _Rule]:
    args = _decimal_args(type_name)
    if args:
        return _decimal(*args)
    return _lookup(type_name)[0]


def _lookup(type_name: str):
    try:
        return _RULES[type_name.strip().lower()]
    except KeyError:
        raise ValueError(f"unknown type {type_name!r}") from None


def duck_type(type_name: str) -> str:
    args = _decimal_args(type_name)
    return f"DECIMAL({args[0]},{args[1]})" if args else _lookup(type_name)[1]


def iceberg_type(type_name: str) -> ice.IcebergType:
    args = _decimal_args(type_name)
    return ice.DecimalType(*args) if args else _lookup(type_name)[2]()


@dataclasses.dataclass(frozen=True)
class Projection:
    typed: list[tuple[str, str]]  # (column name, SQL giving the typed value, NULL when missing/invalid)
    errors: str  # SQL: LIST of STRUCT(column, value, reason), the row's failures in column order


def _text(column_sql: str, type_name: str, default_sql: str | None) -> str:
    """The text the rule sees: NULL when missing (blank too, except for string), else the default."""
    if type_name == "string":
        return column_sql if default_sql is None else f"coalesce({column_sql}, {default_sql})"
    present = f"nullif(trim({column_sql}, {_WHITESPACE}), '')"
    return present if default_sql is None else f"coalesce({present}, nullif(trim({default_sql}, {_WHITESPACE}), ''))"


def _failure(name: str, original: str, text: str, rule: _Rule, cde: bool) -> str:
    """One column's failure STRUCT, or NULL when the column is fine."""
    def struct(reason_sql: str) -> str:
        return f"{{'column': {_lit(name)}, 'value': {original}, 'reason': {reason_sql}}}"
    reason = _lit(rule.otherwise)
    if rule.reasons:
        reason = "CASE " + "".join(f"WHEN {c} THEN {_lit(r)} " for c, r in rule.reasons) + f"ELSE {reason} END"
    missing = f"WHEN {text} IS NULL THEN {struct(_lit(MISSING_CDE)) if cde else 'NULL'} "
    return f"CASE {missing}WHEN ({rule.value}) IS NULL THEN {struct(reason)} END"


def _set_defaults(con: duckdb.DuckDBPyConnection, defaults: list[str | None]) -> str:
    """Store the defaults (user data, never SQL text) in a session variable named after its content."""
    digest = hashlib.sha1(json.dumps(defaults).encode()).hexdigest()[:12]
    variable = f"leanops_defaults_{digest}"  # two projections on one connection never clash
    con.execute(f"SET VARIABLE {variable} = $1::VARCHAR[]", [defaults]).fetchall()
    return variable


def projection(con: duckdb.DuckDBPyConnection, columns: dict[str, CuratedColumn],
               available: set[str]) -> Projection:
    """Typed-value and failure expressions over a relation of VARCHAR columns named `available`."""
    for name, column in columns.items():
        if not _NAME.match(name):
            raise ValueError(f"column name {name!r} is not an identifier")
        if column.cde and column.default is not None:
            raise ValueError(f"column {name!r}: a critical data element (cde: true) cannot have a default")
    if any(c.type == "timestamp" for c in columns.values()):
        [(zone,)] = con.execute("SELECT current_setting('TimeZone')").fetchall()
        if zone != "UTC":
            raise ValueError(f"the connection's TimeZone is {zone!r}: zone-less timestamps need 'UTC'")
    defaults = [c.default for c in columns.values()]
    variable = _set_defaults(con, defaults) if any(d is not None for d in defaults) else ""
    typed, failures = [], []
    for index, (name, column) in enumerate(columns.items(), start=1):
        original = f'"{name}"' if name in available else "NULL::VARCHAR"
        default = None if column.default is None else f"getvariable('{variable}')[{index}]"
        text = _text(original, column.type, default)
        rule = _rule(column.type)(text)
        typed.append((name, rule.value))
        failures.append(_failure(name, original, text, rule, column.cde))
    if not failures:
        return Projection(typed, f"[]::{ERROR_LIST_TYPE}")
    listed = ", ".join(failures)
    return Projection(typed, f"CAST([e FOR e IN [{listed}] IF e IS NOT NULL] AS {ERROR_LIST_TYPE})")


def check_default(name: str, column: CuratedColumn) -> None:
    """Reject a default that would not cast (by the very rules values follow), or a CDE's default."""
    if column.cde and column.default is not None:
        raise ValueError(f"column {name!r}: a critical data element (cde: true) cannot have a default")
    if column.default is None:
        return
    con = duck.connect()
    try:
        rules = projection(con, {name: column}, set())  # the column is missing, so the default applies
        [(ok, failures)] = con.execute(f"SELECT ({rules.typed[0][1]}) IS NOT NULL, {rules.errors}").fetchall()
    finally:
        con.close()
    if not ok:
        reason = failures[0]["reason"] if failures else "blank, which is missing"
        raise ValueError(f"column {name!r}: default {column.default!r} is not a valid {column.type}: {reason}")
