"""Suggest a topic's curated section from what `standardized.<topic>` holds (`leanops schema suggest T`).

    suggestion = suggest_curated(ctx.lake, ctx.settings, "github", sample_rows=100_000)
    suggestion.curated_section()   # {"merge_key": "id", "order_by": "created_at", "columns": {...}}

Every payload column of Standardized is a string. A type is suggested for a column only when every sampled
value of it passes that type's rule in `leanops.stages.casting`, the very expressions Curated casts with
(`leanops.schema.column_profile` runs them over the sample), so a suggested type never sends a sampled row to
`curated.errors`. Among the types that fit, the most specific wins (boolean, long, decimal/double, date,
timestamp, else string); `reason` says why, and for a string which type almost fit and which value kept it out. The merge key, the order-by column and the CDE candidates follow from the same counts.

Bounded: at most `sample_rows` rows are profiled (a seeded reservoir sample), and a big table is not read whole.
"""
from __future__ import annotations

import dataclasses
import re

import duckdb

from leanops import duck
from leanops.catalog.schemas import META_COLUMNS
from leanops.catalog.tables import Lakehouse
from leanops.config import Settings
from leanops.errors import TerminalError
from leanops.naming import ICEBERG_METADATA_COLUMNS, is_valid_column_name
from leanops.schema.column_profile import PROBED, Profile, failures, profiles, sample_table
from leanops.schema_file import CuratedColumn

DEFAULT_SAMPLE_ROWS = 100_000
MONEY_NAME = re.compile(r"amount|price|cost|total|fee|tax|balance|revenue|salary|fare|discount|refund|charge|paid|"
                        r"payment")
TIME_PART = re.compile(r"ts|at|date|epoch|\w*(time|timestamp|datetime)|(created|updated|modified|changed|occurred|"
                       r"received|sent|published|deleted|processed|started|ended|closed|merged|pushed)(at|on|date|ts)")
CODE_PART = re.compile(r"\w*(zip|zipcode|postal|postalcode|postcode|phone|phonenumber|msisdn|iban|ssn|sku|isbn)")
VERSION_WORDS = ("updated", "modified", "changed")
DOUBLE_DIGITS = 17  # a double prints as at most 17 significant digits: longer text is a number no double holds


@dataclasses.dataclass(frozen=True)
class ColumnGuess:
    name: str
    type: str
    cde: bool
    values: int  # present (non-missing under `type`) in the sampled rows
    missing: int
    distinct: int
    reason: str

    def as_dict(self) -> dict:
        return dataclasses.asdict(self)


@dataclasses.dataclass(frozen=True)
class Choice:
    """The merge key or the order-by column, and why."""

    column: str
    reason: str


@dataclasses.dataclass(frozen=True)
class Suggestion:
    topic: str
    rows_in_table: int
    rows_sampled: int
    files_read: int
    files_in_table: int
    columns: list[ColumnGuess]
    skipped: list[Choice]  # columns a schema file cannot declare, and why
    merge_key: Choice
    order_by: Choice

    @property
    def cde_candidates(self) -> list[str]:
        return [c.name for c in self.columns if c.cde]

    @property
    def sampling(self) -> str:
        if self.rows_sampled >= self.rows_in_table:
            return f"all {self.rows_in_table} rows"
        return (f"{self.rows_sampled} of {self.rows_in_table} rows (a seeded random sample of "
                f"{self.files_read} of {self.files_in_table} data files, spread evenly over the table)")

    def curated_section(self) -> dict:
        """The suggested `curated` section: keys first, then every declarable column in table order."""
        first = [self.merge_key.column, self.order_by.column]
        ordered = sorted(self.columns, key=lambda c: first.index(c.name) if c.name in first else len(first))
        columns = {c.name: {"type": c.type, **({"cde": True} if c.cde else {})} for c in ordered}
        return {"merge_key": self.merge_key.column, "order_by": self.order_by.column, "columns": columns}

    def as_dict(self) -> dict:
        return {"topic": self.topic, "table": f"standardized.{self.topic}", "rows_in_table": self.rows_in_table,
                "rows_sampled": self.rows_sampled, "files_read": self.files_read,
                "files_in_table": self.files_in_table, "sampling": self.sampling,
                "merge_key": dataclasses.asdict(self.merge_key), "order_by": dataclasses.asdict(self.order_by),
                "cde_candidates": self.cde_candidates, "columns": [c.as_dict() for c in self.columns],
                "skipped_columns": [dataclasses.asdict(s) for s in self.skipped]}


def suggest_curated(lake: Lakehouse, settings: Settings, topic: str,
                    sample_rows: int = DEFAULT_SAMPLE_ROWS) -> Suggestion:
    """Profile a sample of `standardized.<topic>` and choose types, keys and CDEs.

    Raises:
        TerminalError: the table does not exist or holds no rows yet (ingest and run first).
    """
    table = lake.standardized_table(topic)
    if table is None:
        raise TerminalError(_no_data(lake, topic, f"standardized.{topic} does not exist"))
    with duck.connect(settings.home / "tmp") as con:
        rows_in_table, files_read, files_in_table = sample_table(con, table, sample_rows)
        rows_sampled = con.execute("SELECT count(*) FROM sample").fetchall()[0][0]
        if rows_sampled == 0:
            raise TerminalError(_no_data(lake, topic, f"standardized.{topic} holds no rows"))
        names = [f.name for f in table.schema().fields if f.name not in META_COLUMNS]
        declarable = [n for n in names if is_valid_column_name(n) and n not in ICEBERG_METADATA_COLUMNS]
        skipped = [Choice(n, "a schema file cannot declare this name; Curated carries it as an undeclared string")
                   for n in names if n not in declarable]
        found = profiles(con, declarable)
        guesses = _verified(con, found, [_guess(p, rows_sampled) for p in found], rows_sampled)
    return Suggestion(topic, rows_in_table, rows_sampled, files_read, files_in_table, guesses,
                      skipped, _merge_key(guesses, rows_sampled), _order_by(guesses))


def _no_data(lake: Lakehouse, topic: str, what: str) -> str:
    """What to do first: ingest, open the schema gate, or run."""
    gate = f"a schema file with a standardized section ({{\"topic\": \"{topic}\", \"standardized\": {{}}}})"
    if lake.raw_table(topic) is None:
        return (f"{what}: no data for topic {topic!r} yet. Ingest some (`leanops ingest --topic {topic} FILE`), give "
                f"it {gate}, run `leanops run --once`, then suggest again")
    if lake.standardized_table(topic) is None:
        return f"{what}: the topic's data waits in RAW. Give it {gate}, run `leanops run --once`, then suggest again"
    return (f"{what}: run `leanops run --once` to process what was ingested, then suggest again (`leanops status` "
            f"shows what is pending; payloads that are not JSON objects are in `leanops errors -t {topic}`)")


def _count(n: int, noun: str) -> str:
    return f"{n} {noun}" if n == 1 else f"{n} {noun}s"


def _column(p: Profile, type_name: str, rows: int, reason: str) -> ColumnGuess:
    """The guess for `p` as `type_name`: a CDE candidate when no sampled row misses it (blank is missing but
    for a string)."""
    present = p.non_null if type_name == "string" else p.values
    return ColumnGuess(p.name, type_name, present == rows, present, rows - present, p.distinct, reason)


def _guess(p: Profile, rows: int) -> ColumnGuess:
    """The most specific type every sampled value of the column casts to, and why."""
    def fits(type_name: str) -> bool:
        return type_name not in p.failures

    def take(type_name: str, reason: str) -> ColumnGuess:
        return _column(p, type_name, rows, reason)

    if p.values == 0:
        return take("string", "no values in the sample" if p.non_null == 0 else
                    "only blank values in the sample, which a string keeps")
    every = "every value" if p.values > 1 else "its one value"
    if fits("boolean") and p.words_bool:
        return take("boolean", f"{every} is true/false (or 1/0)")
    if p.leading_zero and (fits("long") or fits("double")):
        return take("string", f"{_count(p.leading_zero, 'value')} with leading zeros (e.g. an id or a code): "
                              "a number type would drop them")
    if (fits("long") or fits("double")) and any(CODE_PART.fullmatch(part) for part in p.name.split("_")):
        return take("string", "numbers, but the name says a code (postal code, phone, ...): text keeps the "
                              "leading zeros a number drops")
    if fits("long"):
        if fits("timestamp") and not p.epoch_outside and _time_named(p.name):
            return take("timestamp", f"{every} is an integer epoch time in 2000..2100 and the name says time "
                                     "(seconds below 100,000,000,000, else milliseconds)")
        money = "; the name suggests money: declare decimal(18,2) if fractions can come" \
            if MONEY_NAME.search(p.name) else ""
        return take("long", f"{every} is an integer within long{money}")
    if p.integers == p.values:  # integer text, some of it past long
        if p.int_digits <= 38:
            return take(f"decimal({_precision(p.int_digits)},0)",
                        f"integers of up to {p.int_digits} digits, past long: an exact decimal")
        return take("string", f"integers of {p.int_digits} digits: past long and past decimal(38,0)")
    if fits("double"):
        return _number(p, rows, every)
    if fits("date"):
        return take("date", f"{every} is a YYYY-MM-DD date")
    if fits("timestamp"):
        return take("timestamp", f"{every} parses as a Curated timestamp ({_formats(p)})")
    return take("string", _why_string(p))


def _number(p: Profile, rows: int, every: str) -> ColumnGuess:
    """Fractional numbers: decimal when exactness matters (money, or more digits than a double holds), else double."""
    money = bool(MONEY_NAME.search(p.name))
    if not p.exponents and (money or p.digits > DOUBLE_DIGITS):
        scale = max(p.scale, 2) if money else p.scale
        if p.int_digits + scale <= 38:
            why = ("the name suggests money" if money else
                   f"up to {p.digits} significant digits, more than a double holds")
            kept = f", {scale} kept" if scale > p.scale else ""
            return _column(p, f"decimal({_precision(p.int_digits + scale)},{scale})", rows,
                           f"{why}: an exact decimal; up to {_count(p.scale, 'decimal place')} seen{kept} and "
                           f"{_count(p.int_digits, 'integer digit')} (the precision leaves room)")
    return _column(p, "double", rows, f"{every} is a number" + (" (exponents seen)" if p.exponents else ""))


def _precision(needed: int) -> int:
    """Room to grow: 18 (an 8-byte decimal) when the data needs no more, else 38."""
    return 18 if needed <= 18 else 38


def _formats(p: Profile) -> str:
    seen = [(p.iso_zone, "ISO-8601 with a zone"), (p.iso_local, "ISO-8601 without a zone, read as UTC"),
            (p.date_only, "dates alone, midnight UTC"), (p.epoch, "epoch numbers")]
    return "; ".join(f"{label}: {count}" for count, label in seen if count)


def _why_string(p: Profile) -> str:
    """Which type most values cast to, and the value that kept the column out of it; else what the text is."""
    near = min(PROBED, key=lambda t: p.failures.get(t, (0, ""))[0])
    failed, example = p.failures[near]
    if failed * 2 < p.values:  # most values cast: say which ones kept the column a string
        return (f"{failed} of {p.values} values {'is' if failed == 1 else 'are'} not {_article(near)} (e.g. "
                f"{example!r}): {near} would send {'that row' if failed == 1 else 'those rows'} to curated.errors")
    if p.json_text == p.values:
        return "JSON text (arrays and objects stay strings)"
    return "text"


def _article(type_name: str) -> str:
    return {"long": "a long integer", "double": "a number", "boolean": "a boolean", "date": "a date",
            "timestamp": "a timestamp"}[type_name]


def _time_named(name: str) -> bool:
    return any(TIME_PART.fullmatch(part) for part in name.split("_"))


def _verified(con: duckdb.DuckDBPyConnection, profiles: list[Profile], guesses: list[ColumnGuess],
              rows: int) -> list[ColumnGuess]:
    """Each suggested type's own rule over its columns' cells once more (a decimal's precision and scale come
    from the text, not from a rule): a column that would fail falls back to string, which never fails."""
    failed: dict[str, tuple[int, str]] = {}
    for type_name in sorted({g.type for g in guesses} - {"string"}):
        columns = [g.name for g in guesses if g.type == type_name]
        for column, by_type in failures(con, {type_name: CuratedColumn(type=type_name)}, columns).items():
            failed[column] = by_type[type_name]
    return [_column(p, "string", rows, f"{g.type} failed on {_count(failed[g.name][0], 'value')} (e.g. "
                                       f"{failed[g.name][1]!r})") if g.name in failed else g
            for p, g in zip(profiles, guesses)]


def _merge_key(guesses: list[ColumnGuess], rows: int) -> Choice:
    """idempotency_key when every row has one and most are distinct (repeats are versions of one record);
    else a column present and distinct in every sampled row, id-like names first; else message_id."""
    by_name = {g.name: g for g in guesses}
    key = by_name.get("idempotency_key")
    if key and key.missing == 0 and key.distinct * 2 >= rows:
        return Choice(key.name, f"present in every sampled row, {key.distinct} distinct of {rows}: repeats are "
                                "versions of one record, the latest wins")
    unique = [g for g in guesses if g.missing == 0 and g.distinct == rows and g.type in ("string", "long")]
    if unique:
        best = min(unique, key=lambda g: (_id_rank(g.name), guesses.index(g)))
        note = "" if not key else f" (idempotency_key is missing in {key.missing} rows or mostly repeated)"
        return Choice(best.name, f"present and distinct in every sampled row{note}")
    return Choice("message_id", "no column is present and distinct in every sampled row: each message is its own "
                                "record; set merge_key to the business key whose versions replace each other")


def _id_rank(name: str) -> int:
    if name == "id":
        return 0
    return 1 if name.endswith("id") or re.search(r"key|uuid|guid", name) else 2


def _order_by(guesses: list[ColumnGuess]) -> Choice:
    """A timestamp column present in every sampled row, event-time names first, then version times; else
    publish_time."""
    times = [g for g in guesses if g.type == "timestamp" and g.missing == 0]
    if not times:
        return Choice("publish_time", "no timestamp column is present in every sampled row: versions are ordered "
                                      "by when they were published")

    def rank(g: ColumnGuess) -> int:
        if "event" in g.name and _time_named(g.name):
            return 0
        if any(word in g.name for word in VERSION_WORDS):
            return 1
        return 2 if _time_named(g.name) else 3
    best = min(times, key=lambda g: (rank(g), guesses.index(g)))
    why = ["its name says event time", "its name says version time", "its name says time",
           "the only kind of timestamp there is"][rank(best)]
    return Choice(best.name, f"a timestamp present in every sampled row; {why}")
