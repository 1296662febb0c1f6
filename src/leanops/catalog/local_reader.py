"""The tables of a home's local SQL catalog, opened read-only from its files: for the read commands.

`leanops status` and `accountability` read commit summaries and table properties, which are all in a
table's metadata.json. Opening the catalog the usual way (PyIceberg's SqlCatalog) imports SQLAlchemy,
and building a table's FileIO imports PyArrow (with pandas where installed): most of a second before
one figure is read. Here the table's current metadata location comes from the catalog's SQLite file
(`iceberg_tables`, as leanops.catalog.listing reads it), its metadata.json is parsed by PyIceberg, and
the FileIO is chosen on first use: local files (metadata, manifests, side lists) are read with plain
`open()`; anything else, and every write, goes to the FileIO PyIceberg would have chosen.

    lake = read_only_lakehouse(settings)     # a Lakehouse, or None when the catalog is not such a file
    table = lake.raw_table("events")         # a pyiceberg Table; commits are refused
    rows = scannable(table).scan().to_arrow()   # a row scan needs the real FileIO (PyArrow's)
"""
from __future__ import annotations

import os
import sqlite3
from typing import TYPE_CHECKING

from pyiceberg.catalog.noop import NoopCatalog
from pyiceberg.exceptions import NoSuchTableError
from pyiceberg.io import FileIO, InputFile, InputStream, OutputFile, load_file_io
from pyiceberg.serializers import FromInputFile
from pyiceberg.table import Table
from pyiceberg.table.metadata import TableMetadata

from leanops.config import CATALOG_NAME, Settings

if TYPE_CHECKING:
    from leanops.catalog.tables import Lakehouse


class LocalInputFile(InputFile):
    """A local file read with `open()` (what a metadata.json, manifest or side list needs)."""

    def __init__(self, location: str) -> None:
        super().__init__(location)
        from leanops.catalog.tables import local_path
        self._path = local_path(location)

    def __len__(self) -> int:
        return os.path.getsize(self._path)

    def exists(self) -> bool:
        return os.path.isfile(self._path)

    def open(self, seekable: bool = True) -> InputStream:
        return open(self._path, "rb")  # noqa: SIM115  (the caller closes it, as with any FileIO)


class LazyFileIO(FileIO):
    """Reads of local files with `open()`; everything else through the FileIO `load_file_io` chooses,
    built (and its library imported) on first use."""

    def __init__(self, properties: dict[str, str], location: str) -> None:
        super().__init__(properties)
        self._location = location
        self._resolved: FileIO | None = None

    @property
    def resolved(self) -> FileIO:
        if self._resolved is None:
            self._resolved = load_file_io(self.properties, self._location)
        return self._resolved

    def new_input(self, location: str) -> InputFile:
        if location.startswith("file:") or location.startswith("/"):
            return LocalInputFile(location)
        return self.resolved.new_input(location)

    def new_output(self, location: str) -> OutputFile:
        return self.resolved.new_output(location)

    def delete(self, location: str | InputFile | OutputFile) -> None:
        self.resolved.delete(location)


def scannable(table: Table) -> Table:
    """`table` with the FileIO a row scan needs (PyIceberg's Arrow reader accepts only its own FileIOs)."""
    if isinstance(table.io, LazyFileIO):
        table.io = table.io.resolved
    return table


class SqliteCatalogReader(NoopCatalog):
    """Loads (and lists) the tables of a PyIceberg SQL catalog kept in SQLite; never writes: every other
    catalog operation, a commit through a table it loaded included, raises NotImplementedError."""

    def __init__(self, settings: Settings) -> None:
        super().__init__(CATALOG_NAME, warehouse=settings.warehouse_dir.as_uri())
        self._path = settings.catalog_path
        self._properties = dict(self.properties)
        self._metadata: dict[tuple[str, str], tuple[str, TableMetadata]] = {}  # table -> its newest, parsed

    def _query(self, sql: str, params: tuple) -> list[tuple]:
        with sqlite3.connect(f"{self._path.as_uri()}?mode=ro", uri=True) as con:
            return con.execute(sql, params).fetchall()

    def load_table(self, identifier: str | tuple[str, ...]) -> Table:  # type: ignore[override]
        namespace, name = identifier.split(".", 1) if isinstance(identifier, str) else identifier[-2:]
        rows = self._query("SELECT metadata_location FROM iceberg_tables WHERE catalog_name = ? "
                           "AND table_namespace = ? AND table_name = ?", (self.name, namespace, name))
        if not rows or not rows[0][0]:
            raise NoSuchTableError(f"Table does not exist: {namespace}.{name}")
        location = rows[0][0]
        io = LazyFileIO(self._properties, location)
        known = self._metadata.get((namespace, name))
        if known is None or known[0] != location:  # every topic's account loads the shared tables again
            known = self._metadata[(namespace, name)] = (location, FromInputFile.table_metadata(io.new_input(location)))
        metadata = known[1]
        io.properties = {**self._properties, **metadata.properties}  # what the catalog would pass on
        return Table(identifier=(namespace, name), metadata=metadata, metadata_location=location, io=io, catalog=self)

    def list_tables(self, namespace: str) -> list[tuple[str, str]]:  # type: ignore[override]
        rows = self._query("SELECT table_name FROM iceberg_tables WHERE catalog_name = ? AND table_namespace = ?",
                           (self.name, namespace))
        return [(namespace, name) for (name,) in rows]


def read_only_lakehouse(settings: Settings) -> Lakehouse | None:
    """The home's catalog opened for reading, or None when it is not a readable local SQLite catalog
    (Glue, no catalog file yet, another layout): the caller opens the catalog as usual then."""
    from leanops.catalog.listing import sql_catalog_raw_topics
    from leanops.catalog.tables import Lakehouse
    if settings.catalog != "sql" or not settings.catalog_path.is_file():
        return None
    if sql_catalog_raw_topics(settings) is None:  # not the layout this reader knows
        return None
    return Lakehouse(SqliteCatalogReader(settings))


__all__ = ["LazyFileIO", "LocalInputFile", "SqliteCatalogReader", "read_only_lakehouse", "scannable"]
