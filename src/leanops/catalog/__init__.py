"""Iceberg catalog access: open the catalog, name and create tables, commit with checkpoints."""
from leanops.catalog.tables import Lakehouse

__all__ = ["Lakehouse"]
