"""One orchestrator cycle: FetchActiveTopics, then a Map over the topics with a concurrency limit.

Failure isolation (the Map state's ToleratedFailurePercentage 100): each topic's branch catches
everything; one FAILED branch never stops or slows the others. A per-topic lease in the state store
makes sure two orchestrators on one home never process the same topic at once.
"""
from __future__ import annotations

import dataclasses
import os
import socket
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timezone
from typing import Callable

from leanops.context import Context
from leanops.orchestrate.alerts import Alert, Fanout, notifier_from_env
from leanops.orchestrate.flow import JOB_STEPS, FlowOptions, run_flow
from leanops.stages.result import StageResult
from leanops.types import FlowControl, RunStatus


@dataclasses.dataclass
class CycleOptions:
    concurrency: int = 4
    lease_ttl_seconds: float = 900.0
    topics: list[str] | None = None  # None: every registered topic
    flow: FlowOptions = dataclasses.field(default_factory=FlowOptions)


@dataclasses.dataclass
class TopicOutcome:
    topic: str
    status: RunStatus
    stages: list[StageResult] = dataclasses.field(default_factory=list)
    message: str = ""
    trace: list[str] = dataclasses.field(default_factory=list)

    def as_dict(self) -> dict:
        return {"topic": self.topic, "status": self.status.value, "message": self.message,
                "trace": self.trace, "stages": [s.as_dict() for s in self.stages]}


@dataclasses.dataclass
class CycleReport:
    started_at: datetime
    ended_at: datetime
    outcomes: list[TopicOutcome]
    alerts: list[Alert]
    shared_maintenance: dict | None = None  # the shared tables' maintenance, when it was due this cycle

    @property
    def failed(self) -> bool:
        return any(o.status == RunStatus.FAILED for o in self.outcomes)

    def as_dict(self) -> dict:
        return {"started_at": self.started_at.isoformat(), "ended_at": self.ended_at.isoformat(),
                "seconds": round((self.ended_at - self.started_at).total_seconds(), 3), "failed": self.failed,
                "topics": [o.as_dict() for o in self.outcomes], "alerts": [a.as_dict() for a in self.alerts],
                "shared_maintenance": self.shared_maintenance}


def holder_id() -> str:
    """host:pid:nonce — enough to tell, on the same host, that a holder's process is gone."""
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


def dead_local_holder(holder: str) -> bool:
    """A holder on this host whose process no longer exists (it crashed): its lease is stale."""
    host, _, rest = holder.partition(":")
    pid = rest.partition(":")[0]
    if host != socket.gethostname() or not pid.isdigit():
        return False
    try:
        os.kill(int(pid), 0)
    except ProcessLookupError:
        return True
    except PermissionError:
        return False
    return False


def acquire(ctx: Context, topic: str, holder: str, ttl: float) -> bool:
    """The topic's lease: free, expired, ours, or left by a crashed process on this host."""
    if ctx.state.acquire_lease(topic, holder, ttl):
        return True
    current = ctx.state.lease_holder(topic)
    return bool(current) and dead_local_holder(current) and ctx.state.steal_lease(topic, current, holder, ttl)


def fetch_active_topics(ctx: Context, wanted: list[str] | None) -> tuple[list[str], list[TopicOutcome]]:
    """Registry topics that are active and ENABLED; the rest come back as SKIPPED outcomes."""
    for topic in ctx.lake.raw_topics():  # RAW written by another path is registered on sight
        if ctx.state.get_topic(topic) is None:
            ctx.state.register_topic(topic)
    active, skipped = [], []
    for entry in ctx.state.list_topics():
        if wanted and entry.topic_name not in wanted:
            continue
        if not entry.is_active:
            skipped.append(TopicOutcome(entry.topic_name, RunStatus.SKIPPED, message="topic is inactive"))
        elif entry.flow_control_flag != FlowControl.ENABLED:
            skipped.append(TopicOutcome(entry.topic_name, RunStatus.SKIPPED,
                                        message=f"topic is {entry.flow_control_flag.value}"))
        else:
            active.append(entry.topic_name)
    return active, skipped


def run_cycle(ctx: Context, options: CycleOptions | None = None, notifier: Fanout | None = None) -> CycleReport:
    options = options or CycleOptions()
    notifier = notifier or notifier_from_env()
    started = datetime.now(timezone.utc)
    active, skipped = fetch_active_topics(ctx, options.topics)
    holder = holder_id()
    with ThreadPoolExecutor(max_workers=max(1, options.concurrency), thread_name_prefix="leanops-topic") as pool:
        outcomes = list(pool.map(lambda t: _branch(ctx, t, options, holder, notifier), active))
    outcomes = sorted(outcomes + skipped, key=lambda o: o.topic)
    shared = _shared_maintenance(ctx, notifier)
    return CycleReport(started, datetime.now(timezone.utc), outcomes, list(notifier.sent), shared)


def _shared_maintenance(ctx: Context, notifier: Fanout) -> dict | None:
    """The tables every topic writes (DLQ, error tables) get maintenance after the topics, when due."""
    from leanops.maintenance.run import shared_due_reasons
    from leanops.maintenance.safety import SHARED
    try:
        reasons = shared_due_reasons(ctx)
        if not reasons:
            return None
        report = ctx.engine.maintain_shared(ctx)
    except Exception as exc:  # never fails the cycle: the topics' results stand
        report_doc = {"scope": SHARED, "status": "FAILED", "message": f"{type(exc).__name__}: {exc}"}
    else:
        report_doc = {**report.as_dict(), "reasons": reasons}
    if report_doc["status"] == "FAILED":
        notifier.send(Alert("MaintenanceFailed", SHARED, "maintenance", report_doc["message"], {}))
    return report_doc


def _branch(ctx: Context, topic: str, options: CycleOptions, holder: str, notifier: Fanout) -> TopicOutcome:
    """One topic's branch of the Map: lease, flow, alerts. Never raises."""
    if not acquire(ctx, topic, holder, options.lease_ttl_seconds):
        return TopicOutcome(topic, RunStatus.SKIPPED, message="another orchestrator holds this topic's lease")
    try:
        state = run_flow(ctx, topic, options.flow, before_step=_renewal(ctx, topic, holder, options.lease_ttl_seconds))
        outcome = _outcome(state)
        for alert in state.alerts:
            notifier.send(alert)
    except Exception as exc:  # a bug in the flow itself: still only this topic fails
        outcome = TopicOutcome(topic, RunStatus.FAILED, message=f"{type(exc).__name__}: {exc}")
    finally:
        ctx.state.release_lease(topic, holder)
    if outcome.status == RunStatus.FAILED:
        failed = next((s for s in outcome.stages if s.status == RunStatus.FAILED), None)
        notifier.send(Alert("TopicFailed", topic, failed.stage if failed else "flow", outcome.message,
                            {"stages_run": len(outcome.stages)}))
    elif outcome.trace and outcome.trace[-1] == "MissingSchema":
        _missing_schema_alert(ctx, topic, notifier)
    return outcome


WORK_STEPS = frozenset(JOB_STEPS) | {"RunMaintenance"}  # steps that may run for minutes


def _renewal(ctx: Context, topic: str, holder: str, ttl: float) -> Callable[[str], None]:
    """Renew the lease before each step that does work (it may run long), and before any other step once
    a third of the TTL has passed: an idle topic's flow writes its lease twice (take, release), not once
    a step."""
    renewed = time.monotonic()

    def before(step: str) -> None:
        nonlocal renewed
        if step in WORK_STEPS or time.monotonic() - renewed > ttl / 3:
            ctx.state.acquire_lease(topic, holder, ttl)
            renewed = time.monotonic()
    return before


def _outcome(state) -> TopicOutcome:
    terminal = state.trace[-1]
    status = {"Success": RunStatus.SUCCEEDED, "NoNewData": RunStatus.NO_NEW_DATA,
              "MissingSchema": RunStatus.SKIPPED, "Failed": RunStatus.FAILED}[terminal]
    if status == RunStatus.SUCCEEDED and not any(r.status == RunStatus.SUCCEEDED for r in state.results):
        status = RunStatus.NO_NEW_DATA
    return TopicOutcome(state.topic, status, state.results, state.message, state.trace)


def _missing_schema_alert(ctx: Context, topic: str, notifier: Fanout) -> None:
    """NotifyMissingSchema: data is waiting in RAW and no schema lets it through."""
    from leanops.stages.accountability import standardized_account
    pending = standardized_account(ctx.lake, topic).pending
    if pending and ctx.state.should_alert(topic, "MissingSchema"):
        notifier.send(Alert("MissingSchema", topic, "standardized",
                            "data is waiting in RAW but schemas/<topic>.json (standardized section) is missing",
                            {"pending_records": pending}))
