"""A column profile of `standardized.<topic>`: a bounded sample, and what Curated's casting rules say of it.

    with duck.connect() as con:
        rows_in_table, files_read, files_in_table = sample_table(con, table, sample_rows=100_000)
        for profile in profiles(con, ["qty", "amount"]):
            profile.failures   # {"long": (1, "abc")}: one sampled row's qty is not a long ('abc')

The sample (temp table `sample`) is a seeded reservoir of at most `sample_rows` rows; a table of more than
`FILE_SPREAD` times as many rows is not read whole, only every k-th data file (about that many rows, old and
new data alike). It is unpivoted into distinct (column, value) cells with their row counts (temp table
`cells`), and each type's rule from `leanops.stages.casting` (`projection`, the very expressions Curated
casts with) runs once per cell: a count of failing rows is exact for the sample, and cheap however many rows
share a value. The shape counts (blanks, decimal places, timestamp forms, ...) come from the same cells.
"""
from __future__ import annotations

import dataclasses

import duckdb
from pyiceberg.table import Table

from leanops.catalog.scan import ReadPath, create_view, plan_scan
from leanops.catalog.schemas import META_COLUMNS
from leanops.schema_file import CuratedColumn
from leanops.stages import casting

FILE_SPREAD = 4  # a table of more than this many times the sample's rows is read from every k-th file
SEED = 7  # the reservoir sample's seed: the same table gives the same profile
PROBED = ("boolean", "long", "double", "date", "timestamp")  # the fixed-form types every cell is tried against
EPOCH_YEARS = (946684800, 4102444800)  # 2000-01-01 .. 2100-01-01 in epoch seconds: plausible event times


@dataclasses.dataclass(frozen=True)
class Profile:
    """What the sample says about one column; counts are rows (each cell's value counted as often as it occurs)."""

    name: str
    failures: dict[str, tuple[int, str]]  # type -> (rows whose value fails its rule, one failing value)
    non_null: int = 0
    blank: int = 0  # empty or whitespace only: a value for `string`, missing for every other type
    distinct: int = 0
    words_bool: int = 0  # 'true' / 'false' in any case (a 0/1 column is a number, not a boolean)
    leading_zero: int = 0  # '007', '0123.5': a number type would drop the zeros
    integers: int = 0  # integer text, whatever its size
    int_digits: int = 0  # most significant integer digits of a decimal-looking value
    scale: int = 0  # most significant decimal places
    digits: int = 0  # most significant digits (a double holds 17)
    exponents: int = 0  # values written with an exponent (1e5): a double, never a decimal
    epoch_outside: int = 0  # integers that, read as epoch seconds or milliseconds, fall outside 2000..2100
    iso_zone: int = 0
    iso_local: int = 0
    date_only: int = 0
    epoch: int = 0
    json_text: int = 0  # values that look like JSON arrays or objects

    @property
    def values(self) -> int:
        """Non-missing values for every type but string (blank is missing there)."""
        return self.non_null - self.blank


def sample_table(con: duckdb.DuckDBPyConnection, table: Table, sample_rows: int) -> tuple[int, int, int]:
    """Temp table `sample`: up to `sample_rows` rows of the payload columns. Returns (rows in the table,
    files read, files in the table); the table's rows are counted from the files' metadata."""
    plan = plan_scan(table)
    tasks = list(plan.tasks)
    rows_in_table = sum(t.file.record_count for t in tasks)
    if rows_in_table > sample_rows * FILE_SPREAD:  # every stride-th file: old and new data alike, fewer rows
        stride = -(-rows_in_table // (sample_rows * FILE_SPREAD))
        plan = dataclasses.replace(plan, tasks=tuple(tasks[::stride]))
    payload = [f.name for f in table.schema().fields if f.name not in META_COLUMNS]
    select = ", ".join(_quote(n) for n in payload) or "NULL::VARCHAR AS \"$none\""
    if plan.path is ReadPath.EMPTY:
        con.execute(f"CREATE TEMP TABLE sample AS SELECT {select} FROM range(0)").fetchall()
        return 0, 0, 0
    create_view(con, plan, "standardized_rows")
    con.execute(f"CREATE TEMP TABLE sample AS SELECT {select} FROM standardized_rows "
                f"USING SAMPLE reservoir({int(sample_rows)} ROWS) REPEATABLE ({SEED})").fetchall()
    return rows_in_table, len(plan.tasks), len(tasks)


def _quote(name: str) -> str:
    """A column name as a SQL identifier (names come from data: always quoted)."""
    return '"' + name.replace('"', '""') + '"'


def _lit(text: str) -> str:
    """A SQL literal of one of this module's own constants (data never becomes SQL text)."""
    return "'" + text.replace("'", "''") + "'"


def profiles(con: duckdb.DuckDBPyConnection, names: list[str]) -> list[Profile]:
    """One Profile per column: the casting rules and the shape counts over the distinct (column, value) cells."""
    if not names:
        return []
    con.execute("CREATE TEMP TABLE cells AS SELECT col, v, count(*) AS n FROM (UNPIVOT (SELECT "
                + ", ".join(_quote(n) for n in names) + " FROM sample) ON COLUMNS(*) INTO NAME col VALUE v) "
                "GROUP BY ALL").fetchall()
    found = failures(con, {t: CuratedColumn(type=t) for t in PROBED})
    cursor = con.execute(_SHAPE_SQL)
    fields = [d[0] for d in cursor.description]
    shapes = {row[0]: {k: int(v or 0) for k, v in zip(fields[1:], row[1:])} for row in cursor.fetchall()}
    return [Profile(name, found.get(name, {}), **shapes.get(name, {})) for name in names]


def failures(con: duckdb.DuckDBPyConnection, rules: dict[str, CuratedColumn],
             columns: list[str] | None = None) -> dict[str, dict[str, tuple[int, str]]]:
    """{column: {rule key: (failing rows, a failing value)}}: each of `rules` run over the cells (of `columns`
    only, when given) by casting.projection, the expressions Curated runs."""
    aliases = {f"r{i}": (key, column) for i, (key, column) in enumerate(rules.items())}
    only = "" if columns is None else "WHERE col IN (SELECT unnest($1::VARCHAR[]))"
    con.execute("CREATE OR REPLACE TEMP TABLE candidates AS SELECT col, n, "
                + ", ".join(f"v AS {a}" for a in aliases) + f" FROM cells {only}",
                [] if columns is None else [columns]).fetchall()
    projection = casting.projection(con, {a: c for a, (_, c) in aliases.items()}, set(aliases), shared=True)
    rows = con.execute(f"SELECT col, e.column, sum(n)::BIGINT, min(e.value) FROM (SELECT col, n, "
                       f"unnest({projection.errors}) AS e FROM {projection.source('candidates')}) GROUP BY ALL"
                       ).fetchall()
    found: dict[str, dict[str, tuple[int, str]]] = {}
    for column, alias, count, value in rows:
        found.setdefault(column, {})[aliases[alias][0]] = (count, value)
    return found


_TRIMMED = f"regexp_replace(v, {_lit(casting.WHITESPACE_EDGES)}, '', 'g')"
_IS = {name: f"regexp_full_match(t, {_lit(pattern)})" for name, pattern in {
    "decimal": casting.DECIMAL_TEXT, "double": casting.DOUBLE_TEXT, "integer": casting.INTEGER_TEXT,
    "leading_zero": r"[+-]?0[0-9]+(\.[0-9]*)?", "timestamp": casting.TIMESTAMP_TEXT, "date": casting.DATE_TEXT,
    "zone": r".*[T t][0-9:.]+([Zz]|[+-][0-9:]+)", "time": r".*[T t][0-9:.]+", "epoch": casting.EPOCH_TEXT}.items()}
_EPOCH_OK = (f"(abs(try_cast(t AS HUGEINT)) BETWEEN {EPOCH_YEARS[0]} AND {EPOCH_YEARS[1]} "
             f"OR abs(try_cast(t AS HUGEINT)) BETWEEN {EPOCH_YEARS[0] * 1000} AND {EPOCH_YEARS[1] * 1000})")
_SHAPE_SQL = f"""
SELECT col AS name, sum(n) AS non_null, sum(n) FILTER (WHERE t = '') AS blank, count(*) AS "distinct",
  sum(n) FILTER (WHERE lower(t) IN ('true', 'false')) AS words_bool,
  sum(n) FILTER (WHERE {_IS['leading_zero']}) AS leading_zero,
  sum(n) FILTER (WHERE {_IS['integer']}) AS integers,
  max(length(ltrim(split_part(ltrim(t, '+-'), '.', 1), '0'))) FILTER (WHERE {_IS['decimal']}) AS int_digits,
  max(length(rtrim(split_part(t, '.', 2), '0'))) FILTER (WHERE {_IS['decimal']}) AS scale,
  max(length(trim(replace(ltrim(regexp_replace(t, '[eE].*', ''), '+-'), '.', ''), '0')))
    FILTER (WHERE {_IS['double']}) AS digits,
  sum(n) FILTER (WHERE {_IS['double']} AND NOT {_IS['decimal']}) AS exponents,
  sum(n) FILTER (WHERE {_IS['integer']} AND NOT {_EPOCH_OK}) AS epoch_outside,
  sum(n) FILTER (WHERE {_IS['timestamp']} AND {_IS['zone']}) AS iso_zone,
  sum(n) FILTER (WHERE {_IS['timestamp']} AND {_IS['time']} AND NOT {_IS['zone']}) AS iso_local,
  sum(n) FILTER (WHERE {_IS['date']}) AS date_only,
  sum(n) FILTER (WHERE {_IS['epoch']}) AS epoch,
  sum(n) FILTER (WHERE left(t, 1) IN ('[', '{{')) AS json_text
FROM (SELECT col, v, n, {_TRIMMED} AS t FROM cells) GROUP BY col
"""
