"""lean-ops: land JSON event streams in an Apache Iceberg lakehouse.

RAW (append-only landing) -> Standardized (deduplicated, flattened strings)
-> Curated (validated, typed, latest wins) -> Semantic (strict schema).

    from leanops.context import Context
    ctx = Context.open()              # $LEANOPS_HOME, default ./.leanops
    ctx.ingest("events", "events.ndjson")
"""

__version__ = "0.1.0"
