"""Refresh hooks: tell engines that read Iceberg metadata directly that a semantic table changed.

    LEANOPS_REFRESH_WEBHOOK=https://hooks.example/refresh   POST one JSON object per refreshed table
    LEANOPS_REFRESH_LAMBDA=leanops-snowflake-refresh        invoke that function with the same object (AWS)

Snowflake externally managed Iceberg tables only see a commit after `ALTER ICEBERG TABLE ... REFRESH`;
a webhook receiver can run `leanops.ddl.snowflake_refresh_sql(table)` (or build the same statement from
the event's `metadata_location`), or forward the body to the Snowflake refresh Lambda
(`leanops.aws.lambdas.snowflake_refresh`), which `LambdaRefreshHook` invokes directly on AWS. Athena
on the Glue Data Catalog needs no refresh. Sending never raises: a refresh notice that fails is
logged, the pipeline run goes on.
"""
from __future__ import annotations

import dataclasses
import logging
import os
from typing import Protocol

from pyiceberg.table import Table

from leanops.errors import ConfigError
from leanops.orchestrate.alerts import WebhookNotifier

log = logging.getLogger("leanops.refresh")
KIND = "SemanticRefreshed"


@dataclasses.dataclass(frozen=True)
class RefreshEvent:
    """One commit to semantic.<topic> that downstream readers must pick up."""

    topic: str
    table: str  # "semantic.<topic>"
    snapshot_id: int | None
    metadata_location: str
    schema_changed: bool
    records_written: int

    @classmethod
    def of(cls, topic: str, table: Table, *, schema_changed: bool, records_written: int) -> RefreshEvent:
        """Builds the event from the table as just committed, so the metadata path is the new one."""
        snapshot = table.current_snapshot()
        return cls(topic, f"semantic.{topic}", snapshot.snapshot_id if snapshot else None,
                   table.metadata_location, schema_changed, records_written)

    def as_dict(self) -> dict:
        return {"kind": KIND, **dataclasses.asdict(self)}


class RefreshHook(Protocol):
    def refreshed(self, event: RefreshEvent) -> None: ...


class LogRefreshHook:
    """Always on: the log line is the audit trail even when no webhook is configured."""

    def refreshed(self, event: RefreshEvent) -> None:
        log.info("REFRESH %s snapshot=%s schema_changed=%s records=%d metadata=%s", event.table, event.snapshot_id,
                 event.schema_changed, event.records_written, event.metadata_location)


class WebhookRefreshHook:
    """POSTs the event JSON through the alert webhook code; a failure is a warning, never an exception."""

    def __init__(self, url: str, timeout: float = 5.0) -> None:
        if not url.startswith(("http://", "https://")):
            raise ConfigError(f"LEANOPS_REFRESH_WEBHOOK must be an http(s) URL, got {url!r}")
        self.url, self._post = url, WebhookNotifier(url, timeout)

    def refreshed(self, event: RefreshEvent) -> None:
        try:
            self._post.send(event)  # type: ignore[arg-type]  # send() only needs .as_dict()
        except Exception as exc:  # a refresh notice must not fail a pipeline run
            log.warning("could not POST refresh of %s to %s: %s", event.table, self.url, exc)


class LambdaRefreshHook:
    """Invokes the Snowflake refresh function asynchronously with the event; a failure is a warning."""

    def __init__(self, function_name: str) -> None:
        self.function_name = function_name

    def refreshed(self, event: RefreshEvent) -> None:
        import json

        from leanops.aws import clients
        try:
            clients.client("lambda").invoke(FunctionName=self.function_name, InvocationType="Event",
                                            Payload=json.dumps(event.as_dict()).encode())
        except Exception as exc:  # the drift stream and the next commit refresh again; the run goes on
            log.warning("could not invoke %s for %s: %s", self.function_name, event.table, exc)


class FanoutRefreshHook:
    """Every configured hook; one failing never stops the others or the run."""

    def __init__(self, hooks: list[RefreshHook]) -> None:
        self.hooks = hooks

    def refreshed(self, event: RefreshEvent) -> None:
        for hook in self.hooks:
            try:
                hook.refreshed(event)
            except Exception as exc:
                log.warning("refresh hook %s failed for %s: %s", type(hook).__name__, event.table, exc)


def hook_from_env() -> RefreshHook:
    """Log only, or log + webhook (LEANOPS_REFRESH_WEBHOOK) + the refresh Lambda (LEANOPS_REFRESH_LAMBDA)."""
    hooks: list[RefreshHook] = [LogRefreshHook()]
    if url := os.environ.get("LEANOPS_REFRESH_WEBHOOK"):
        hooks.append(WebhookRefreshHook(url))
    if function_name := os.environ.get("LEANOPS_REFRESH_LAMBDA"):
        hooks.append(LambdaRefreshHook(function_name))
    return hooks[0] if len(hooks) == 1 else FanoutRefreshHook(hooks)
