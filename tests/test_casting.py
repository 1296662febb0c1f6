"""Curated casting rules (leanops.stages.casting): every row of docs/curated-casting.md, and properties."""
from __future__ import annotations

from datetime import date, datetime, timedelta, timezone
from decimal import Decimal

import pyarrow as pa
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pyiceberg import types as ice

from leanops import duck
from leanops.schema_file import CuratedColumn
from leanops.stages.casting import (
    MISSING_CDE, TIMESTAMP_REASON, duck_type, iceberg_type, projection,
)

UTC = timezone.utc
T0 = datetime(2026, 1, 19, 10, tzinfo=UTC)


class Fail(str):
    """Expected: the value is rejected with this reason."""


@pytest.fixture(scope="module")
def con():
    connection = duck.connect()
    yield connection
    connection.close()


def run(con, columns: dict[str, CuratedColumn], data: dict[str, list], available: set[str] | None = None):
    """Apply `projection` to string columns built from Python lists; one dict per row: typed values + errors."""
    table = pa.table({name: pa.array(values, pa.string()) for name, values in data.items()})
    con.register("src", table)
    try:
        results = []
        for shared in (False, True):  # each rule written into both expressions, or run once in `source`
            p = projection(con, columns, set(data) if available is None else available, shared=shared)
            select = ", ".join([f'{sql} AS "{name}"' for name, sql in p.typed] + [f"{p.errors} AS errors"])
            results.append(duck.arrow(con, f"SELECT {select} FROM {p.source('src')}").to_pylist())
        assert results[0] == results[1]
        return results[1]
    finally:
        con.unregister("src")


def cast_one(con, type_name: str, values: list[str | None], **options) -> list:
    """Each value cast as one column `c`: the typed value, or Fail(reason)."""
    rows = run(con, {"c": CuratedColumn(type=type_name, **options)}, {"c": values})
    out = []
    for value, row in zip(values, rows):
        if row["errors"]:
            [error] = row["errors"]
            assert (error["column"], error["value"]) == ("c", value)
            assert row["c"] is None
            out.append(Fail(error["reason"]))
        else:
            out.append(row["c"])
    return out


def check(con, type_name: str, cases: list[tuple[str | None, object]], **options) -> None:
    got = cast_one(con, type_name, [text for text, _ in cases], **options)
    for (text, want), value in zip(cases, got):
        assert type(value) is type(want) and value == want, f"{type_name} {text!r}: got {value!r}, want {want!r}"


# --- the table of docs/curated-casting.md, type by type ------------------------------------------

def test_int(con):
    check(con, "int", [("42", 42), ("-7", -7), ("+7", 7), ("007", 7), (" 12\t\n", 12),
                       ("2147483647", 2147483647), ("-2147483648", -2147483648),
                       ("2147483648", Fail("out of range for int")), ("-2147483649", Fail("out of range for int")),
                       ("1.0", Fail("not an integer")), ("1e3", Fail("not an integer")),
                       ("1_000", Fail("not an integer")), ("0x10", Fail("not an integer")),
                       ("1.5", Fail("not an integer")), ("- 1", Fail("not an integer")),
                       ("abc", Fail("not an integer"))])


def test_long(con):
    check(con, "long", [("9223372036854775807", 9223372036854775807),
                        ("-9223372036854775808", -9223372036854775808),
                        ("9223372036854775808", Fail("out of range for long")),
                        ("-9223372036854775809", Fail("out of range for long")),
                        ("0000000000000000000000000001", 1), ("1.0", Fail("not an integer"))])


def test_double(con):
    check(con, "double", [("1.5", 1.5), ("-2", -2.0), ("1e5", 1e5), ("1E-3", 1e-3), ("+.5", 0.5), ("5.", 5.0),
                          ("1.e2", 100.0), (" 2.5 ", 2.5), ("1e-400", 0.0),
                          ("NaN", Fail("not a finite number")), ("nan", Fail("not a finite number")),
                          ("inf", Fail("not a finite number")), ("-Infinity", Fail("not a finite number")),
                          ("1e400", Fail("not a finite number")), ("-1e400", Fail("not a finite number")),
                          ("1_000.5", Fail("not a number")), ("0x10", Fail("not a number")),
                          ("1,5", Fail("not a number")), ("1.5d", Fail("not a number")), ("e5", Fail("not a number")),
                          (".", Fail("not a number")), ("abc", Fail("not a number"))])


def test_boolean(con):
    check(con, "boolean", [("true", True), ("TRUE", True), ("False", False), ("1", True), ("0", False),
                           (" true ", True), ("yes", Fail("not a boolean")), ("t", Fail("not a boolean")),
                           ("y", Fail("not a boolean")), ("2", Fail("not a boolean")), ("01", Fail("not a boolean"))])


def test_decimal_precision_and_scale(con):
    out_of_range = Fail("out of range for decimal(5,2)")
    check(con, "decimal(5,2)", [("123.45", Decimal("123.45")), ("1234.5", out_of_range), ("-1234", out_of_range),
                                ("1.234", Fail("more than 2 decimal places")),
                                ("999.995", Fail("more than 2 decimal places")),
                                ("-0.5", Decimal("-0.50")), (".5", Decimal("0.50")), ("5.", Decimal("5.00")),
                                ("+1", Decimal("1.00")), ("-999.99", Decimal("-999.99")),
                                ("000123.45", Decimal("123.45")), ("1.2300", Decimal("1.23")),
                                ("1e2", Fail("not a decimal")), ("1_0", Fail("not a decimal")),
                                (".", Fail("not a decimal")), ("1,5", Fail("not a decimal")),
                                ("abc", Fail("not a decimal"))])
    check(con, "decimal(3,3)", [("0.123", Decimal("0.123")), ("1", Fail("out of range for decimal(3,3)"))])
    check(con, "decimal(4,0)", [("1234", Decimal("1234")), ("12.0", Decimal("12")),
                                ("12.5", Fail("more than 0 decimal places"))])


def test_date(con):
    check(con, "date", [("2026-01-19", date(2026, 1, 19)), ("2024-02-29", date(2024, 2, 29)),
                        (" 2026-01-19 ", date(2026, 1, 19)), ("0001-01-01", date(1, 1, 1)),
                        ("9999-12-31", date(9999, 12, 31))]
          + [(bad, Fail("not an ISO-8601 date (YYYY-MM-DD)")) for bad in
             ("2026-02-30", "2026-13-01", "2025-02-29", "19/01/2026", "2026-1-19", "2026-01-19 10:00",
              "2026-01-19T00:00:00", "20260119", "0000-01-01", "epoch", "infinity")])


def test_timestamp_iso_forms(con):
    check(con, "timestamp", [
        ("2026-01-19T10:00:00Z", T0), ("2026-01-19 10:00:00", T0), ("2026-01-19T10:00:00", T0),
        ("2026-01-19T10:00:00.123456+02:00", datetime(2026, 1, 19, 8, 0, 0, 123456, tzinfo=UTC)),
        ("2026-01-19T10:00:00-0500", datetime(2026, 1, 19, 15, tzinfo=UTC)),
        ("2026-01-19T10:00:00+02", datetime(2026, 1, 19, 8, tzinfo=UTC)),
        ("2026-01-19T10:00:00+00:00", T0), ("2026-01-19T10:00Z", T0), ("2026-01-19 10:00", T0),
        ("2026-01-19", datetime(2026, 1, 19, tzinfo=UTC)), ("2026-01-19t10:00:00z", T0),
        ("2026-01-19T10:00:00.5Z", T0 + timedelta(microseconds=500000)),
        ("2026-01-19T10:00:00.123456789Z", T0 + timedelta(microseconds=123456)),  # below 1 µs dropped
        (" 2026-01-19T10:00:00Z\n", T0), ("0001-01-01T00:00:00Z", datetime(1, 1, 1, tzinfo=UTC)),
    ] + [(bad, Fail(TIMESTAMP_REASON)) for bad in (
        "2026-02-30T10:00:00Z", "2026-01-19T24:00:00Z", "2026-01-19T10:60:00Z", "2026-01-19T23:59:60Z",
        "2026-01-19T10Z", "2026-01-19Z", "2026-1-19 10:00:00", "2026-01-19T10:00:00 +02:00",
        "2026-01-19T10:00:00+24:00", "2026-01-19T10:00:00+02:60", "2026-01-19T10:00:00.Z",
        "2026-01-19T10:00:00,5Z", "2026-01-19T10:00:00.1234567890Z", "2026-01-19 10:00:00 America/New_York",
        "2026-01-19 10:00:00 UTC", "20260119T100000Z", "0000-01-01T00:00:00Z", "0001-01-01T00:00:00+01:00",
        "9999-12-31T23:00:00-05:00", "epoch", "now", "infinity", "19/01/2026")])


def test_timestamp_epoch_seconds_and_milliseconds(con):
    check(con, "timestamp", [
        ("1768816800", T0), ("1768816800000", T0), ("+1768816800", T0), (" 1768816800 ", T0),
        ("1768816800.5", T0 + timedelta(microseconds=500000)),
        ("1768816800000.5", T0 + timedelta(microseconds=500)),
        ("1768816800.1234567", T0 + timedelta(microseconds=123456)),  # below 1 µs dropped
        ("0001768816800", T0),  # the value decides, not the number of digits
        ("0", datetime(1970, 1, 1, tzinfo=UTC)), ("-1", datetime(1969, 12, 31, 23, 59, 59, tzinfo=UTC)),
        ("-1.5", datetime(1969, 12, 31, 23, 59, 58, 500000, tzinfo=UTC)),
        ("99999999999", datetime(1970, 1, 1, tzinfo=UTC) + timedelta(seconds=99999999999)),  # still seconds
        ("100000000000", datetime(1970, 1, 1, tzinfo=UTC) + timedelta(milliseconds=100000000000)),  # 1973
        ("-100000000000", datetime(1970, 1, 1, tzinfo=UTC) - timedelta(milliseconds=100000000000)),
        ("253402300799999", datetime(9999, 12, 31, 23, 59, 59, 999000, tzinfo=UTC)),
    ] + [(bad, Fail(TIMESTAMP_REASON)) for bad in (
        "253402300800000", "-62135596801", "99999999999999999999", "1e9", "1768816800.", ".5", "0x10",
        "1_768_816_800", "1768816800 000")])


def test_string_is_verbatim(con):
    check(con, "string", [(" a ", " a "), ("", ""), ("   ", "   "), ("\t", "\t"),
                          ("'; DROP TABLE x; --", "'; DROP TABLE x; --")])


# --- missing values, CDEs and defaults ------------------------------------------------------------

@pytest.mark.parametrize("type_name", ["int", "long", "double", "boolean", "date", "timestamp", "decimal(5,2)"])
def test_null_empty_and_blank_are_missing_for_typed_columns(con, type_name):
    assert cast_one(con, type_name, [None, "", "  ", "\t\r\n\x0b\x0c"]) == [None] * 4
    assert cast_one(con, type_name, [None, "", " \n"], cde=True) == [Fail(MISSING_CDE)] * 3


def test_only_null_is_missing_for_string(con):
    assert cast_one(con, "string", [None, "", " "], cde=True) == [Fail(MISSING_CDE), "", " "]
    assert cast_one(con, "string", [None, "", " "], default="n/a") == ["n/a", "", " "]


def test_missing_cde_reports_the_original_text(con):
    [row] = run(con, {"c": CuratedColumn(type="int", cde=True)}, {"c": ["  "]})
    assert row["errors"] == [{"column": "c", "value": "  ", "reason": MISSING_CDE}]
    [row] = run(con, {"c": CuratedColumn(type="int", cde=True)}, {"c": [None]})
    assert row["errors"] == [{"column": "c", "value": None, "reason": MISSING_CDE}]


def test_default_applies_when_missing_not_when_invalid(con):
    assert cast_one(con, "decimal(18,2)", [None, "", "  ", "2.5", "abc"], default="0") == [
        Decimal("0.00"), Decimal("0.00"), Decimal("0.00"), Decimal("2.50"), Fail("not a decimal")]
    assert cast_one(con, "timestamp", [None, "1768816800"], default=" 1970-01-01T00:00:00Z ") == [
        datetime(1970, 1, 1, tzinfo=UTC), T0]
    assert cast_one(con, "boolean", [None, "x"], default="TRUE") == [True, Fail("not a boolean")]


def test_defaults_are_data_not_sql(con):
    evil = "x'); DROP TABLE src; --"
    assert cast_one(con, "string", [None, "a"], default=evil) == [evil, "a"]


def check_default(name: str, column: CuratedColumn) -> None:
    """The schema file's default check (leanops.schema.default_rules), on a column model."""
    from leanops.schema.default_rules import check_default as check
    check(name, column.type, column.default, column.cde)


def test_check_default(con):
    check_default("amount", CuratedColumn(type="decimal(18,2)", default="0"))
    check_default("note", CuratedColumn(type="string", default=""))
    check_default("at", CuratedColumn(type="timestamp", default="1768816800000"))
    check_default("flag", CuratedColumn(type="boolean", default=" false "))
    unchecked = CuratedColumn.model_construct  # the model refuses these itself (tests/test_schema_file.py)
    for column, reason in [(unchecked(type="int", default="1.5"), "not an integer"),
                           (unchecked(type="int", default="2147483648"), "out of range for int"),
                           (unchecked(type="decimal(5,2)", default="1.234"), "more than 2 decimal places"),
                           (unchecked(type="date", default="2026-02-30"), "not an ISO-8601 date"),
                           (unchecked(type="double", default="NaN"), "not a finite number"),
                           (unchecked(type="long", default="  "), "blank")]:
        with pytest.raises(ValueError, match=reason):
            check_default("c", column)


def test_a_cde_cannot_have_a_default(con):
    column = CuratedColumn.model_construct(type="string", cde=True, default="x")  # past the model's own check
    with pytest.raises(ValueError, match="critical data element"):
        check_default("c", column)
    with pytest.raises(ValueError, match="critical data element"):
        projection(con, {"c": column}, {"c"})


def test_declared_column_missing_from_the_relation(con):
    columns = {"here": CuratedColumn(type="int"), "gone": CuratedColumn(type="int"),
               "gone_cde": CuratedColumn(type="string", cde=True),
               "gone_default": CuratedColumn(type="long", default="7")}
    rows = run(con, columns, {"here": ["1", "2"]})
    assert [(r["here"], r["gone"], r["gone_default"]) for r in rows] == [(1, None, 7), (2, None, 7)]
    assert all(r["errors"] == [{"column": "gone_cde", "value": None, "reason": MISSING_CDE}] for r in rows)


def test_every_failure_of_a_row_in_declared_column_order(con):
    columns = {"z_amount": CuratedColumn(type="decimal(5,2)"), "a_id": CuratedColumn(type="string", cde=True),
               "m_count": CuratedColumn(type="int"), "b_at": CuratedColumn(type="timestamp")}
    data = {"a_id": [None, "k2"], "b_at": ["2026-01-19", "x"], "m_count": ["3", "1.5"], "z_amount": ["1.234", "1"]}
    first, second = run(con, columns, data)
    assert first["errors"] == [{"column": "z_amount", "value": "1.234", "reason": "more than 2 decimal places"},
                               {"column": "a_id", "value": None, "reason": MISSING_CDE}]
    assert second["errors"] == [{"column": "m_count", "value": "1.5", "reason": "not an integer"},
                                {"column": "b_at", "value": "x", "reason": TIMESTAMP_REASON}]
    assert (second["z_amount"], second["a_id"]) == (Decimal("1.00"), "k2")


def test_no_declared_columns_means_no_failures(con):
    assert run(con, {}, {"x": ["1"]}) == [{"errors": []}]


def test_column_names_that_look_like_sql_names_inside_the_rules(con):
    """The rules bind helper names in lambdas; user columns named alike must not be captured."""
    names = ["t", "v", "e", "r", "u", "w", "d", "us", "x", "reason", "value", "column"]
    columns = {n: CuratedColumn(type="timestamp" if n == "us" else "double") for n in names}
    rows = run(con, columns, {n: ["1768816800" if n == "us" else "2.5"] for n in names})
    assert rows == [{**{n: (T0 if n == "us" else 2.5) for n in names}, "errors": []}]


def test_projection_needs_a_utc_session():
    other = duck.connect()
    other.execute("SET TimeZone = 'Europe/Paris'").fetchall()
    with pytest.raises(ValueError, match="TimeZone"):
        projection(other, {"at": CuratedColumn(type="timestamp")}, {"at"})
    other.close()


def test_two_projections_on_one_connection_keep_their_defaults(con):
    table = pa.table({"c": pa.array([None], pa.string())})
    con.register("src", table)
    first = projection(con, {"c": CuratedColumn(type="int", default="1")}, {"c"})
    second = projection(con, {"c": CuratedColumn(type="int", default="2")}, {"c"})
    assert con.execute(f"SELECT {first.typed[0][1]}, {second.typed[0][1]} FROM src").fetchall() == [(1, 2)]
    con.unregister("src")


def test_types():
    expected = {"string": ("VARCHAR", ice.StringType()), "int": ("INTEGER", ice.IntegerType()),
                "long": ("BIGINT", ice.LongType()), "double": ("DOUBLE", ice.DoubleType()),
                "boolean": ("BOOLEAN", ice.BooleanType()), "date": ("DATE", ice.DateType()),
                "timestamp": ("TIMESTAMPTZ", ice.TimestamptzType()),
                "decimal(18,2)": ("DECIMAL(18,2)", ice.DecimalType(18, 2)),
                "decimal(38, 0)": ("DECIMAL(38,0)", ice.DecimalType(38, 0))}
    for name, (duck_name, iceberg) in expected.items():
        assert (duck_type(name), iceberg_type(name)) == (duck_name, iceberg)
    with pytest.raises(ValueError):
        duck_type("float")


# --- properties -------------------------------------------------------------------------------------

PROPERTY = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])


@PROPERTY
@given(st.lists(st.one_of(st.integers(-2**63 - 1000, 2**63 + 1000), st.integers(-2**80, 2**80)),
                min_size=1, max_size=40),
       st.sampled_from(["", "+", "0", "00"]))
def test_long_agrees_with_pythons_range_check(con, numbers, prefix):
    texts = [(f"-{prefix.lstrip('+')}{-n}" if n < 0 else f"{prefix}{n}") for n in numbers]
    got = cast_one(con, "long", texts)
    for n, text, value in zip(numbers, texts, got):
        want = n if -2**63 <= n < 2**63 else Fail("out of range for long")
        assert value == want and type(value) is type(want), text


@st.composite
def decimal_texts(draw):
    precision = draw(st.integers(1, 38))
    scale = draw(st.integers(0, precision))
    digits = st.text("0123456789", max_size=precision + 3)
    texts = []
    for _ in range(draw(st.integers(1, 20))):
        whole, fraction = draw(digits), draw(digits)
        if not whole and not fraction:
            whole = "0"
        sign = draw(st.sampled_from(["", "+", "-"]))
        dot = "." if fraction or draw(st.booleans()) else ""
        texts.append(f"{sign}{whole}{dot}{fraction}" if whole else f"{sign}.{fraction}")
    return precision, scale, texts


@PROPERTY
@given(decimal_texts())
def test_decimal_accepts_exactly_the_right_digit_counts(con, case):
    precision, scale, texts = case
    got = cast_one(con, f"decimal({precision},{scale})", texts)
    for text, value in zip(texts, got):
        whole, _, fraction = text.lstrip("+-").partition(".")
        if len(fraction.rstrip("0")) > scale:
            assert value == Fail(f"more than {scale} decimal places"), text
        elif len(whole.lstrip("0")) > precision - scale:
            assert value == Fail(f"out of range for decimal({precision},{scale})"), text
        else:
            assert isinstance(value, Decimal) and value == Decimal(text), text


@PROPERTY
@given(st.lists(st.tuples(st.integers(-10**16, 10**16), st.text("0123456789", max_size=12)), min_size=1, max_size=40))
def test_epoch_numbers_agree_with_exact_arithmetic(con, numbers):
    texts = [f"{whole}.{fraction}" if fraction else str(whole) for whole, fraction in numbers]
    texts = [text.replace("0.", "-0.", 1) if whole == 0 and i % 2 else text
             for i, ((whole, _), text) in enumerate(zip(numbers, texts))]  # also -0.x
    got = cast_one(con, "timestamp", texts)
    epoch = datetime(1970, 1, 1, tzinfo=UTC)
    for text, value in zip(texts, got):
        exact = Decimal(text)
        micros = int(exact * (10**6 if abs(exact) < 100_000_000_000 else 10**3))  # toward zero
        if -62135596800 * 10**6 <= micros <= 253402300799999999:
            assert value == epoch + timedelta(microseconds=micros), text
        else:
            assert value == Fail(TIMESTAMP_REASON), text


def test_decimal_38_2_keeps_every_digit(con):
    """Issue 18: a 36-digit number fits decimal(38,2) and keeps its digits; nothing goes through a double."""
    texts = ["123456789012345678901234567890123456.12", "-123456789012345678901234567890123456",
             "12345678901234567.89", "99999999999999999999999999999999999.99", "-0", "0.10", "+0.01"]
    got = cast_one(con, "decimal(38,2)", texts)
    assert got == [Decimal(t) for t in texts]
    assert [str(v) for v in got] == ["123456789012345678901234567890123456.12",
                                     "-123456789012345678901234567890123456.00", "12345678901234567.89",
                                     "99999999999999999999999999999999999.99", "0.00", "0.10", "0.01"]
    assert cast_one(con, "decimal(38,2)", ["1234567890123456789012345678901234567", "0.125"]) == [
        Fail("out of range for decimal(38,2)"), Fail("more than 2 decimal places")]
