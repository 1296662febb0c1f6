"""Ingestion: NDJSON envelopes -> RAW (append-only), non-envelopes -> raw.dlq_errors."""
from leanops.ingest.raw import IngestReport, ingest_stream

__all__ = ["IngestReport", "ingest_stream"]
