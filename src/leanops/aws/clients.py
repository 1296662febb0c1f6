"""boto3 clients made on first use, so importing lean-ops never needs boto3."""
from __future__ import annotations

import functools
from typing import Any

from leanops.errors import ConfigError


@functools.cache
def client(service: str) -> Any:
    """One client per service and process: a warm Lambda reuses it across invocations."""
    try:
        import boto3
    except ImportError as exc:
        raise ConfigError(f"the AWS handlers need boto3 for {service}: pip install 'lean-ops[aws]'") from exc
    return boto3.client(service)


def reset() -> None:
    """Forget the cached clients (tests that start a new mocked AWS account)."""
    client.cache_clear()
