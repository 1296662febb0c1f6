"""The RAW tables of a local SQL catalog, listed without opening PyIceberg.

`leanops status` and `accountability` on a home with no topic (and `Context.topics()` before the lake is
needed) only ask which RAW tables exist. The local catalog is PyIceberg's SQL catalog in SQLite, whose
`iceberg_tables` rows (catalog, namespace, table name) are the Iceberg JDBC catalog layout; reading
them with sqlite3 costs milliseconds where importing the catalog costs most of a second. Anything
unexpected (no file yet, another layout) answers None, and the caller asks the real catalog.
"""
from __future__ import annotations

import sqlite3

from leanops.config import CATALOG_NAME, Settings

RAW_SUFFIX = "_staging"


def sql_catalog_raw_topics(settings: Settings) -> list[str] | None:
    """Topics with a `raw.<topic>_staging` table in the home's SQLite catalog; [] when there is no
    catalog file yet; None when the file cannot be read as expected (ask PyIceberg then)."""
    path = settings.catalog_path
    if not path.is_file():
        return []
    try:
        with sqlite3.connect(f"{path.as_uri()}?mode=ro", uri=True) as con:
            columns = {row[1] for row in con.execute("PRAGMA table_info(iceberg_tables)")}
            if not columns:
                return []  # the catalog holds no table yet
            only_tables = " AND (iceberg_type IS NULL OR iceberg_type = 'TABLE')" if "iceberg_type" in columns else ""
            query = "SELECT table_name FROM iceberg_tables WHERE catalog_name = ? AND table_namespace = ?"
            rows = con.execute(query + only_tables,  # nosec B608  # two constant texts; the values are bound
                               (CATALOG_NAME, "raw")).fetchall()
    except sqlite3.Error:
        return None
    return sorted(name[: -len(RAW_SUFFIX)] for (name,) in rows if name.endswith(RAW_SUFFIX))
