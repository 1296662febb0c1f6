"""The columns the stages add to their relations for their own use, named where data can never reach.

A data column is a Standardized name: lower-case `\\w+` (leanops.naming). Every helper name holds a
`$`, outside `\\w`, so no payload key — `ord`, `__rank`, `filename`, `$ord` (which becomes `_ord`) —
can ever become one, and a helper never shadows, overwrites or duplicates a data column. The readers'
own columns are renamed into the same namespace: DuckDB's `read_parquet` gives the file as `$file`
and the row position as `$pos` (leanops.catalog.files), never its default `filename` and
`file_row_number`. Spark reads Iceberg's metadata columns `_file` / `_pos`, which Iceberg keeps from
being table columns at all (leanops.naming.ICEBERG_METADATA_COLUMNS).

A helper formats as its quoted DuckDB identifier — `f"SELECT {ORD}"` is `SELECT "$ord"` — so it is
never spliced bare (a bare `$ord` is a DuckDB parameter: an error, not a silent clash). `.name` is
the plain name (Arrow fields, Spark's `withColumn`); `.spark` the backquoted one (Spark expressions
and DDL strings).
"""
from __future__ import annotations

import dataclasses
import re

_HELPER = re.compile(r"^\$\w+$")
_DATA = re.compile(r"^\w+$")


@dataclasses.dataclass(frozen=True)
class Helper:
    """One helper column."""

    name: str

    def __post_init__(self) -> None:
        if not _HELPER.match(self.name):
            raise ValueError(f"a helper column is named '$' + letters, digits, '_', not {self.name!r}")

    def __str__(self) -> str:
        return f'"{self.name}"'

    @property
    def spark(self) -> str:
        return f"`{self.name}`"


# readers
FILE = Helper("$file")              # the data file a row was read from, as the reader was given it
POS = Helper("$pos")                # the row's 0-based position in that file (position deletes)
FILE_INDEX = Helper("$file_index")  # the file's place in a batch's commit order (Spark)
FIRST_ROW = Helper("$first_row")    # the first row of a file a batch reads (Spark; 0 unless it starts inside it)
END_ROW = Helper("$end_row")        # the row after the last one a batch reads of a file (Spark)

# every stage
ORD = Helper("$ord")                # a row's place in its batch: ingestion order, the last tie-breaker
FAILURES = Helper("$failures")      # the row's failures, a list of {column, value, reason}
CAST_FAILURES = Helper("$cast_failures")  # the failures of the casts alone, before the key and rule checks
KEY_TEXT = Helper("$key_text")      # the row's merge key as text (the errors tables' idempotency_key)

# latest wins (Curated) and upserts (Semantic)
RANK = Helper("$rank")              # 1 for the latest version of a key
WINS = Helper("$wins")              # a batch row that beat every other version of its key
KEY = Helper("$key")                # the merge key, batch and stored rows side by side
ORDER_VALUE = Helper("$order_value")  # the order_by value, batch and stored rows side by side
REPLACES = Helper("$replaces")      # a winner that replaces a stored row (Spark)
STORED_KEY = Helper("$stored_key")  # the stored row's columns next to a batch row (Spark)
STORED_ORDER = Helper("$stored_order")
STORED_INGESTION = Helper("$stored_ingestion")
STORED_ID = Helper("$stored_id")

# flattening (Standardized)
STRINGS = Helper("$strings")        # a row's leaf values as strings, one per leaf path
JSON_TEXTS = Helper("$json_texts")  # a row's values of mixed paths as JSON text
EXACT_NUMBERS = Helper("$exact_numbers")  # number leaves as written, only for rows DuckDB would print otherwise

# the errors-table fields Spark carries through its partitions (`$error_reason`, ...)
ERROR_PREFIX = "$error_"


def error_field(name: str) -> Helper:
    """The helper carrying the errors-table field `name` (Spark)."""
    return Helper(ERROR_PREFIX + name)


def is_helper(name: str) -> bool:
    return bool(_HELPER.match(name))


def sql_name(name: str) -> str:
    """A column name, data (`\\w+`) or helper, as a quoted DuckDB identifier; anything else is refused."""
    if not (_DATA.match(name) or _HELPER.match(name)):
        raise ValueError(f"unsafe column name {name!r}")
    return f'"{name}"'
