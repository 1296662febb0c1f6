"""The orchestrator: isolation, retries, backlog loop, leases across processes, pause, alerts, schedule."""
import functools
import json
import os
import signal
import subprocess

import pytest

from conftest import EVENTS_SCHEMA, LEANOPS, envelope, ingest, run_cli, write_lines, write_schema
from leanops.errors import CommitConflictError
from leanops.orchestrate import retry
from leanops.orchestrate.alerts import Fanout, LogNotifier, WebhookNotifier
from leanops.orchestrate.cycle import CycleOptions, run_cycle
from leanops.orchestrate.flow import FlowOptions
from leanops.orchestrate.retry import RetryPolicy
from leanops.stages import standardized
from leanops.stages.accountability import topic_accounts
from leanops.types import FlowControl, RunStatus

pytestmark = pytest.mark.slow
FAST_RETRY = RetryPolicy(retries=2, base_seconds=0.01, max_seconds=0.05)


def schema_for(topic):
    return {**EVENTS_SCHEMA, "topic": topic}


def setup_topics(ctx, schemas, tmp_path, names, rows=20):
    for name in names:
        write_schema(schemas, schema_for(name))
        ingest(ctx, name, [envelope(f"{name}-{i}", {"i": i}) for i in range(rows)], tmp_path, f"{name}.ndjson")


def test_failing_topic_is_isolated_and_alerted(ctx, schemas, tmp_path, monkeypatch, webhook):
    url, received = webhook
    setup_topics(ctx, schemas, tmp_path, ["alpha", "beta", "gamma"])
    real = standardized.run_standardized

    def flaky(lake, settings, topic, section, **kwargs):
        if topic == "beta":
            raise RuntimeError("injected bug in beta")
        return real(lake, settings, topic, section)

    monkeypatch.setattr("leanops.stages.standardized.run_standardized", flaky)
    report = run_cycle(ctx, CycleOptions(flow=FlowOptions(retry=FAST_RETRY)),
                       Fanout([LogNotifier(), WebhookNotifier(url)]))
    status = {o.topic: o.status for o in report.outcomes}
    assert status == {"alpha": RunStatus.SUCCEEDED, "beta": RunStatus.FAILED, "gamma": RunStatus.SUCCEEDED}
    assert report.failed
    [beta_run] = ctx.state.list_runs("beta")
    assert beta_run.status == "FAILED" and "injected bug in beta" in beta_run.error_message  # not retried
    assert [(a["kind"], a["topic"], a["stage"]) for a in received] == [("TopicFailed", "beta", "standardized")]
    assert "injected bug in beta" in received[0]["reason"]


def test_poisoned_schema_fails_only_its_topic(ctx, schemas, tmp_path, webhook, monkeypatch):
    url, received = webhook
    monkeypatch.setenv("LEANOPS_ALERT_WEBHOOK", url)
    setup_topics(ctx, schemas, tmp_path, ["alpha", "beta"])
    (schemas / "beta.json").write_text('{"topic": "beta", "standardized": {"column_map": {"A": "b"}}}')
    done = run_cli("run", "--once", "--json")
    assert done.returncode == 1
    outcomes = {t["topic"]: t for t in json.loads(done.stdout)["topics"]}
    assert outcomes["alpha"]["status"] == "SUCCEEDED" and outcomes["beta"]["status"] == "FAILED"
    assert "beta.json" in outcomes["beta"]["message"] and "column_map" in outcomes["beta"]["message"]
    assert [a["topic"] for a in received] == ["beta"]


def test_transient_errors_are_retried_with_backoff(ctx, schemas, tmp_path, monkeypatch):
    setup_topics(ctx, schemas, tmp_path, ["alpha"])
    real, calls = standardized.run_standardized, []

    def conflicting(lake, settings, topic, section, **kwargs):
        calls.append(topic)
        if len(calls) < 3:
            raise CommitConflictError("standardized.alpha", "another writer committed first")
        return real(lake, settings, topic, section)

    monkeypatch.setattr("leanops.stages.standardized.run_standardized", conflicting)
    waits = []  # the pauses the retry asks for, recorded instead of slept: no clock of a loaded machine involved
    monkeypatch.setattr(retry, "Retrying", functools.partial(retry.Retrying, sleep=waits.append))
    report = run_cycle(ctx, CycleOptions(flow=FlowOptions(retry=RetryPolicy(2, base_seconds=0.05))))
    assert report.outcomes[0].status == RunStatus.SUCCEEDED and len(calls) == 3
    assert waits == pytest.approx([0.05, 0.1])  # exponential backoff: the base, then twice the base
    assert [r.status for r in reversed(ctx.state.list_runs("alpha"))] == ["FAILED", "FAILED", "SUCCEEDED"]


def test_retries_give_up_after_the_limit(ctx, schemas, tmp_path, monkeypatch):
    setup_topics(ctx, schemas, tmp_path, ["alpha"])

    def always(*args, **kwargs):
        raise OSError("disk unplugged")

    monkeypatch.setattr("leanops.stages.standardized.run_standardized", always)
    report = run_cycle(ctx, CycleOptions(flow=FlowOptions(retry=FAST_RETRY)))
    assert report.outcomes[0].status == RunStatus.FAILED
    assert len(ctx.state.list_runs("alpha")) == 3  # first attempt + 2 retries


def test_backlog_loop_drains_in_one_cycle(ctx, schemas, tmp_path):
    write_schema(schemas, schema_for("alpha"))
    for i in range(4):
        ingest(ctx, "alpha", [envelope(f"m{i}-{j}", {"j": j}) for j in range(100)], tmp_path, f"{i}.ndjson")
    ctx.settings.max_batch_rows = 100
    report = run_cycle(ctx, CycleOptions(flow=FlowOptions(backlog_threshold=50)))
    [outcome] = report.outcomes
    assert outcome.status == RunStatus.SUCCEEDED
    assert sum(s.records_written for s in outcome.stages) == 400
    assert outcome.trace.count("GetAllCheckpoints") == 5  # 4 batches, then the loop finds nothing
    assert all(a.ok for a in topic_accounts(ctx.lake, "alpha"))


def test_inactive_topic_is_skipped_and_shown(ctx, schemas, tmp_path):
    from leanops.ops.dashboard import collect_status, render_dashboard
    setup_topics(ctx, schemas, tmp_path, ["alpha", "beta"])
    ran = run_cli("topics", "deactivate", "beta", "--json")
    assert ran.returncode == 0, ran.stderr
    assert json.loads(ran.stdout)["is_active"] is False
    assert ctx.state.get_topic("beta").flow_control_flag == FlowControl.ENABLED  # the flag is left alone
    report = run_cycle(ctx)
    status = {o.topic: (o.status, o.message) for o in report.outcomes}
    assert status == {"alpha": (RunStatus.SUCCEEDED, ""), "beta": (RunStatus.SKIPPED, "topic is inactive")}
    assert ctx.lake.standardized_table("beta") is None and ctx.state.list_runs("beta") == []

    listed = {t["topic_name"]: t for t in json.loads(run_cli("topics", "--json").stdout)}
    assert (listed["alpha"]["is_active"], listed["beta"]["is_active"]) == (True, False)
    assert "inactive" in run_cli("topics", "deactivate", "beta").stdout  # idempotent
    statuses = {s["topic"]: s for s in json.loads(run_cli("status", "--json").stdout)}
    assert (statuses["alpha"]["is_active"], statuses["beta"]["is_active"]) == (True, False)
    page = render_dashboard(collect_status(ctx))
    assert '<span class="badge INACTIVE" data-field="flow_control_flag">INACTIVE</span>' in page
    assert '<span class="badge ENABLED" data-field="flow_control_flag">ENABLED</span>' in page  # alpha

    unknown = run_cli("topics", "activate", "nope")
    assert unknown.returncode == 2 and "nope" in unknown.stderr
    assert run_cli("topics", "activate", "beta").returncode == 0
    assert {o.topic: o.status for o in run_cycle(ctx).outcomes}["beta"] == RunStatus.SUCCEEDED


def test_paused_topic_is_untouched(ctx, schemas, tmp_path):
    setup_topics(ctx, schemas, tmp_path, ["alpha", "beta"])
    ctx.state.set_flow_control("beta", FlowControl.PAUSED)
    report = run_cycle(ctx)
    status = {o.topic: (o.status, o.message) for o in report.outcomes}
    assert status["beta"] == (RunStatus.SKIPPED, "topic is PAUSED")
    assert ctx.lake.standardized_table("beta") is None and ctx.state.list_runs("beta") == []
    assert run_cli("resume", "beta").returncode == 0
    assert {o.topic: o.status for o in run_cycle(ctx).outcomes}["beta"] == RunStatus.SUCCEEDED


def test_two_orchestrators_never_share_a_topic(tmp_path, schemas, ctx):
    names = [f"t{i}" for i in range(6)]
    for name in names:
        write_schema(schemas, schema_for(name))
        lines = [envelope(f"{name}-{i}", {"i": i}) for i in range(3000)]
        assert run_cli("ingest", "--topic", name, str(write_lines(tmp_path / f"{name}.ndjson", lines))).returncode == 0
    procs = [subprocess.Popen([LEANOPS, "run", "--once", "--json", "--concurrency", "2"], stdout=subprocess.PIPE,
                              text=True) for _ in range(2)]
    reports = [json.loads(p.communicate(timeout=300)[0]) for p in procs]
    assert all(p.returncode == 0 for p in procs)
    for name in names:
        succeeded = [r for r in reports for t in r["topics"] if t["topic"] == name and t["status"] == "SUCCEEDED"]
        assert len(succeeded) == 1, name
        runs = [r for r in ctx.state.list_runs(name) if r.stage == "standardized" and r.status == "SUCCEEDED"]
        assert len(runs) == 1 and runs[0].records_written == 3000
        assert len(ctx.lake.standardized_table(name).scan().to_arrow()) == 3000
        assert all(a.ok for a in topic_accounts(ctx.lake, name))


def test_check_thresholds_exit_codes(ctx, schemas, tmp_path):
    setup_topics(ctx, schemas, tmp_path, ["alpha"], rows=30)
    ingest(ctx, "alpha", ["garbage"], tmp_path, "bad.ndjson")
    lag = run_cli("check", "--curation-lag", "10", "--json")
    assert lag.returncode == 1
    assert [a["kind"] for a in json.loads(lag.stdout)] == ["CurationLag"]
    assert run_cli("run", "--once").returncode == 0
    assert run_cli("check").returncode == 0
    old = run_cli("check", "--dlq-age-days", "0", "--json")
    assert old.returncode == 1 and json.loads(old.stdout)[0]["kind"] == "DlqAge"


def test_run_every_stops_cleanly_on_sigterm(tmp_path, schemas, ctx):
    setup_topics(ctx, schemas, tmp_path, ["alpha"])
    proc = subprocess.Popen([LEANOPS, "run", "--every", "1s", "--json"], stdout=subprocess.PIPE, text=True,
                            env={**os.environ, "PYTHONUNBUFFERED": "1"})  # each report as it is printed
    seen = ""
    while seen.count('"started_at"') < 2:  # wait for two cycle reports (events, not seconds)
        line = proc.stdout.readline()
        assert line, f"the scheduler exited early ({proc.wait()}): {seen}"
        seen += line
    proc.send_signal(signal.SIGTERM)
    out, _ = proc.communicate(timeout=60)
    assert proc.returncode == 0
    assert (seen + out).count('"started_at"') >= 2  # several cycles ran before the signal
    assert len(ctx.lake.standardized_table("alpha").scan().to_arrow()) == 20


def test_missing_schema_alert_is_sent_once(ctx, schemas, tmp_path):
    ingest(ctx, "alpha", [envelope("m1", {"a": 1})], tmp_path)
    first = run_cycle(ctx)
    second = run_cycle(ctx)
    assert [a.kind for a in first.alerts] == ["MissingSchema"] and second.alerts == []
