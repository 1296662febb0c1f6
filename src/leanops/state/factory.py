"""Pick the state-store adapter from configuration, so deployments choose SQLite or DynamoDB without code changes.

    LEANOPS_STATE unset | "sqlite"                          SQLite file at settings.state_path (the default)
    LEANOPS_STATE=dynamodb://<prefix>?region=<r>&endpoint=<url>  DynamoDB tables <prefix>PipelineRegistry, ...
"""
from __future__ import annotations

import os
import re
from urllib.parse import parse_qs, urlparse

from leanops.config import Settings
from leanops.errors import ConfigError
from leanops.state.base import StateStore

ENV = "LEANOPS_STATE"
_PREFIX_RE = re.compile(r"^[A-Za-z0-9_.-]{0,200}$")  # DynamoDB table-name alphabet; suffixes keep it <= 255
_QUERY_KEYS = {"region", "endpoint"}


def open_state_store(settings: Settings) -> StateStore:
    """The store $LEANOPS_STATE names (SQLite when unset); ConfigError for anything unrecognised."""
    value = os.environ.get(ENV, "").strip()
    if value in ("", "sqlite"):
        from leanops.state.sqlite import SqliteStateStore
        return SqliteStateStore(settings.state_path)
    url = urlparse(value)
    if url.scheme != "dynamodb":
        raise ConfigError(f"{ENV}={value!r}: expected 'sqlite' or 'dynamodb://<prefix>?region=<r>&endpoint=<url>'")
    try:
        query = parse_qs(url.query, keep_blank_values=True, strict_parsing=bool(url.query))
    except ValueError as err:
        raise ConfigError(f"{ENV}={value!r}: bad query string ({err})") from None
    unknown = sorted(set(query) - _QUERY_KEYS)
    if unknown or any(len(v) > 1 for v in query.values()):
        raise ConfigError(f"{ENV}={value!r}: query takes 'region' and 'endpoint' once each, got {sorted(query)}")
    prefix = url.netloc or "leanops_"
    if url.path not in ("", "/") or not _PREFIX_RE.match(prefix):
        raise ConfigError(f"{ENV}={value!r}: table prefix must be letters, digits, '_', '.' or '-' (no '/')")
    from leanops.state.dynamodb import DynamoStateStore  # boto3 is only needed here (extra "aws")
    from datetime import timedelta
    return DynamoStateStore(prefix=prefix, region=(query.get("region") or [None])[0] or None,
                            endpoint_url=(query.get("endpoint") or [None])[0] or None,
                            retention=timedelta(days=settings.maintenance.run_log_days))  # TTL on superseded rows
