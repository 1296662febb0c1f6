"""Data-quality and pipeline metrics (seed 004 section 5), as Prometheus text and CloudWatch EMF.

    samples = collect(ctx)              # per topic: accountability, lag, DLQ age, drift, errors, last runs
    prometheus_text(samples)            # what `leanops serve` answers at /metrics
    emf_line(run_record)                # one CloudWatch Embedded Metric Format line per run (AWS)

Per-run figures (records in / written / errors / duplicates / superseded, duration, throughput) are
the run log's rows (`leanops status`, the state store); per-topic figures are read from the tables
the way `leanops accountability` and `leanops check` read them, so the three always agree.
"""
from __future__ import annotations

import dataclasses
import json
import math
import time
from datetime import datetime, timezone

from pyiceberg.expressions import EqualTo

from leanops.context import Context
from leanops.state.base import RunRecord

NAMESPACE = "LeanOps"
RUN_FIELDS = ("records_in", "records_written", "records_errors", "records_duplicates", "records_superseded")


@dataclasses.dataclass(frozen=True)
class Sample:
    name: str
    value: float
    labels: tuple[tuple[str, str], ...] = ()
    help: str = ""
    type: str = "gauge"


def run_metrics(run: RunRecord) -> dict[str, float]:
    """A finished run's figures: its counts, duration and throughput (records in per second)."""
    figures = {name: float(getattr(run, name)) for name in RUN_FIELDS}
    if run.ended_at is not None:
        seconds = max((run.ended_at - run.started_at).total_seconds(), 0.0)
        figures["duration_seconds"] = seconds
        figures["throughput_records_per_second"] = run.records_in / seconds if seconds > 0 else 0.0
    return figures


def collect(ctx: Context, now: datetime | None = None) -> list[Sample]:
    """Every metric of every topic in the registry or the lakehouse."""
    from leanops.landing.operations import files_account
    from leanops.orchestrate.health import UPSTREAM, _schema_safe, layer_lag_seconds, semantic_lag_seconds
    from leanops.ops.errors import LAYERS, layer_rows
    from leanops.stages.accountability import topic_accounts
    now = now or datetime.now(timezone.utc)
    samples: list[Sample] = [Sample("leanops_scrape_timestamp_seconds", now.timestamp(), help="when these were read")]
    dlq = ctx.lake.dlq_table()
    for topic in ctx.topics():
        t = (("topic", topic),)
        entry = ctx.state.get_topic(topic)
        samples.append(Sample("leanops_topic_enabled", 1.0 if entry and entry.is_active
                              and entry.flow_control_flag.value == "ENABLED" else 0.0, t,
                              "1 when the orchestrator processes the topic (active and ENABLED)"))
        files = files_account(ctx.lake, ctx.state, topic)
        for account in ([files] if files else []) + topic_accounts(ctx.lake, topic):
            tl = t + (("layer", account.layer),)
            for field in ("records_in", "written", "errors", "duplicates", "superseded", "pending"):
                samples.append(Sample(f"leanops_layer_{field}", float(getattr(account, field)), tl,
                                      f"accountability: {field} per layer"))
            samples.append(Sample("leanops_layer_accounted_ratio", 1.0 if account.records_in == 0 and account.ok
                                  else (account.accounted / account.records_in if account.records_in else 0.0), tl,
                                  "accounted / in; the target is 1 (100%)"))
            if account.layer == "files":
                samples.append(Sample("leanops_layer_failed_files", float(account.failed_files), tl,
                                      "landed files not in RAW (failed or stuck): the target is 0"))
        for layer in UPSTREAM:
            lag = layer_lag_seconds(ctx, topic, layer, now)
            if lag is not None:
                samples.append(Sample("leanops_layer_lag_seconds", lag, t + (("layer", layer),),
                                      "age of the oldest upstream commit the layer has not read (0: caught up)"))
        lag = _schema_safe(lambda: semantic_lag_seconds(ctx, topic, now))
        if lag is not None:
            samples.append(Sample("leanops_semantic_lag_seconds", lag, t, "age of the oldest Curated change "
                                  "Semantic has not read"))
        times = dlq.scan(row_filter=EqualTo("topic_name", topic), selected_fields=("ingestion_ts",)).to_arrow()
        oldest = min(times.column("ingestion_ts").to_pylist()) if times.num_rows else None
        samples.append(Sample("leanops_dlq_oldest_age_seconds", (now - oldest).total_seconds() if oldest else 0.0, t,
                              "age of the topic's oldest DLQ row (0: none)"))
        samples.append(Sample("leanops_drift_entries", float(len(ctx.state.list_drift(topic))), t,
                              "entries in the semantic drift log"))
        for layer in LAYERS:
            samples.append(Sample("leanops_error_rows", float(layer_rows(ctx.lake, layer, topic).num_rows),
                                  t + (("layer", layer),), "rows in the error tables"))
        latest: dict[str, RunRecord] = {}
        for run in ctx.state.list_runs(topic, limit=200):  # newest first
            latest.setdefault(run.stage, run)
        for stage, run in sorted(latest.items()):
            ts = t + (("stage", stage),)
            for name, value in run_metrics(run).items():
                samples.append(Sample(f"leanops_last_run_{name}", value, ts, f"the latest {stage} run: {name}"))
            samples.append(Sample("leanops_last_run_succeeded", 1.0 if run.status in ("SUCCEEDED", "NO_NEW_DATA")
                                  else 0.0, ts, "1 when the latest run succeeded"))
            samples.append(Sample("leanops_last_run_timestamp_seconds",
                                  (run.ended_at or run.started_at).timestamp(), ts, "when the latest run ended"))
    return samples


def _label(value: str) -> str:
    return value.replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"')


def _number(value: float) -> str:
    if math.isnan(value):
        return "NaN"
    if math.isinf(value):
        return "+Inf" if value > 0 else "-Inf"
    return repr(float(value)) if not float(value).is_integer() else str(int(value))


def prometheus_text(samples: list[Sample]) -> str:
    """Prometheus text exposition format 0.0.4: HELP and TYPE once per metric, label values escaped."""
    lines, described = [], set()
    for sample in sorted(samples, key=lambda s: s.name):
        if sample.name not in described:
            described.add(sample.name)
            lines.append(f"# HELP {sample.name} {sample.help.replace(chr(10), ' ')}")
            lines.append(f"# TYPE {sample.name} {sample.type}")
        labels = ",".join(f'{k}="{_label(v)}"' for k, v in sample.labels)
        lines.append(f"{sample.name}{{{labels}}} {_number(sample.value)}" if labels
                     else f"{sample.name} {_number(sample.value)}")
    return "\n".join(lines) + "\n"


def emf_line(run: RunRecord, namespace: str = NAMESPACE) -> str:
    """One run as a CloudWatch Embedded Metric Format document: printed to a Lambda's or Glue job's log,
    CloudWatch turns it into metrics by topic and stage, no PutMetricData call needed."""
    figures = run_metrics(run)
    units = {name: "Count" for name in RUN_FIELDS}
    units.update(duration_seconds="Seconds", throughput_records_per_second="Count/Second")
    return json.dumps({
        "_aws": {"Timestamp": int(time.time() * 1000), "CloudWatchMetrics": [{
            "Namespace": namespace, "Dimensions": [["topic", "stage"]],
            "Metrics": [{"Name": name, "Unit": units[name]} for name in figures]}]},
        "topic": run.topic, "stage": run.stage, "status": run.status, **figures})
