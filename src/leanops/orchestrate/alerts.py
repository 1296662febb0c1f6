"""Alerts: a log line always, an HTTP webhook when configured, and the seam where SNS plugs in.

    LEANOPS_ALERT_WEBHOOK=https://hooks.example/leanops   POST one JSON object per alert
    LEANOPS_ALERT_SNS_TOPIC=arn:aws:sns:...                 publish to SNS (needs boto3: lean-ops[aws])

Each alert carries topic, stage, kind, reason and counts. Sending never raises: a notifier that
fails is logged, the pipeline goes on.
"""
from __future__ import annotations

import abc
import dataclasses
import json
import logging
import os
import urllib.request
from datetime import datetime, timezone

from leanops.errors import ConfigError

log = logging.getLogger("leanops.alerts")


@dataclasses.dataclass(frozen=True)
class Alert:
    kind: str  # TopicFailed | MissingSchema | CurationLag | DlqAge
    topic: str
    stage: str
    reason: str
    counts: dict = dataclasses.field(default_factory=dict)
    at: str = dataclasses.field(default_factory=lambda: datetime.now(timezone.utc).isoformat())

    def as_dict(self) -> dict:
        return dataclasses.asdict(self)


class Notifier(abc.ABC):
    @abc.abstractmethod
    def send(self, alert: Alert) -> None: ...


class LogNotifier(Notifier):
    def send(self, alert: Alert) -> None:
        log.warning("ALERT %s topic=%s stage=%s reason=%s counts=%s", alert.kind, alert.topic, alert.stage,
                    alert.reason, json.dumps(alert.counts, sort_keys=True))


class WebhookNotifier(Notifier):
    def __init__(self, url: str, timeout: float = 5.0) -> None:
        if not url.startswith(("http://", "https://")):
            raise ConfigError(f"LEANOPS_ALERT_WEBHOOK must be an http(s) URL, got {url!r}")
        self.url, self.timeout = url, timeout

    def send(self, alert: Alert) -> None:
        body = json.dumps(alert.as_dict()).encode()
        request = urllib.request.Request(self.url, data=body, method="POST",
                                         headers={"Content-Type": "application/json"})
        with urllib.request.urlopen(request, timeout=self.timeout) as response:  # noqa: S310  # nosec B310  # http(s): __init__
            response.read()


class SnsNotifier(Notifier):
    """Publishes to an SNS topic (the AWS runtime's alert channel)."""

    def __init__(self, topic_arn: str) -> None:
        try:
            import boto3
        except ImportError as exc:
            raise ConfigError("LEANOPS_ALERT_SNS_TOPIC needs boto3: pip install 'lean-ops[aws]'") from exc
        self.topic_arn, self.client = topic_arn, boto3.client("sns")

    def send(self, alert: Alert) -> None:
        self.client.publish(TopicArn=self.topic_arn, Subject=f"lean-ops {alert.kind}: {alert.topic}"[:100],
                            Message=json.dumps(alert.as_dict()))


class Fanout(Notifier):
    """Every configured notifier; one failing never stops the others or the pipeline."""

    def __init__(self, notifiers: list[Notifier]) -> None:
        self.notifiers = notifiers
        self.sent: list[Alert] = []

    def send(self, alert: Alert) -> None:
        self.sent.append(alert)
        for notifier in self.notifiers:
            try:
                notifier.send(alert)
            except Exception as exc:  # an alert channel down must not fail a topic
                log.error("could not send alert through %s: %s", type(notifier).__name__, exc)


def notifier_from_env() -> Fanout:
    notifiers: list[Notifier] = [LogNotifier()]
    if url := os.environ.get("LEANOPS_ALERT_WEBHOOK"):
        notifiers.append(WebhookNotifier(url))
    if arn := os.environ.get("LEANOPS_ALERT_SNS_TOPIC"):
        notifiers.append(SnsNotifier(arn))
    return Fanout(notifiers)
