"""Iceberg catalog access: open the catalog, name and create tables, commit with checkpoints.

`Lakehouse` is imported on first use (PEP 562): a light submodule (leanops.catalog.partitioning, used to
validate schema files) must not pull the SQL catalog and SQLAlchemy in with the package.
"""
__all__ = ["Lakehouse"]


def __getattr__(name: str):
    if name == "Lakehouse":
        from leanops.catalog.tables import Lakehouse
        return Lakehouse
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
