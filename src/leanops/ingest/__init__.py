"""Ingestion: NDJSON envelopes -> RAW (append-only), non-envelopes -> raw.dlq_errors."""
from leanops.ingest.raw import IngestReport, Source, SourceError, ingest_sources, ingest_stream

__all__ = ["IngestReport", "Source", "SourceError", "ingest_sources", "ingest_stream"]
