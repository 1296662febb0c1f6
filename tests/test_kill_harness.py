"""kill -9 harness: every command that writes is SIGKILLed at points spread over its real run, run again as its
docs say, and must leave the tables of an uninterrupted run, with every record accounted for.

How: an uninterrupted reference run of the command, from a saved home, counts the fault points it passes
(leanops.faults, LEANOPS_FAULT_LOG): N. Then, for a few points k spread over 1..N, the home is restored and
the command runs with LEANOPS_KILL_AT=k: it SIGKILLs itself at the k-th point it passes (a real kill -9,
exit -9, at a point chosen by count, never by time). It is run again (the documented resume; in the last
trial that run is killed too, at a random point, and run once more), and then every table (a rebuild's
archives too) must hold exactly the reference's rows, accountability must be 100% with the reference's
figures, every topic ENABLED, no lease held and no rebuild pending.

The points come from a seed, printed and named in every assertion: LEANOPS_KILL_SEED=<seed> replays a
failure. The few columns that record when something happened (error_ts, ...) are left out of the
comparison; so is ingestion_ts where the command itself ingests.
"""
from __future__ import annotations

import dataclasses
import io
import json
import os
import random
import re
import shutil
import signal
from pathlib import Path
from typing import Callable

import pyarrow as pa
import pyarrow.compute as pc
import pytest

from conftest import REPLAY_SCHEMA, envelope, run_cli, write_lines, write_schema
from leanops.context import Context
from leanops.demo import _install_schemas, topic_lines
from leanops.faults import FAULT_LOG_ENV, KILL_AT_ENV
from leanops.ingest import ingest_stream
from leanops.landing.operations import files_account
from leanops.orchestrate.alerts import Fanout
from leanops.orchestrate.cycle import CycleOptions, run_cycle
from leanops.schema.deploy import deploy
from leanops.stages.accountability import raw_ledger, topic_accounts
from leanops.types import FlowControl

pytestmark = pytest.mark.slow

SEED = int(os.environ.get("LEANOPS_KILL_SEED") or random.SystemRandom().randrange(1 << 30))
NAMESPACES = ("raw", "standardized", "curated", "semantic")
WHEN = ("error_ts", "corrected_ts", "replay_id")  # set when a row is written: differ between two runs
INGESTED = ("ingestion_ts", "ingest_id")  # ... and these where the command ingests
EVERYTHING = '{"keep_snapshots_hours": 0, "keep_min_snapshots": 1, "orphan_age_hours": 0, "max_manifests": 1}'


def setup_module() -> None:
    print(f"kill -9 harness seed: {SEED} (LEANOPS_KILL_SEED={SEED} replays these kill points)")


@dataclasses.dataclass
class Scenario:
    """A command, the home it starts from, and how its result is compared."""

    command: list[str]  # leanops arguments; {root} is the test's directory
    setup: Callable[[Path], None]  # builds the home in-process (LEANOPS_MAINTENANCE=off)
    kills: int = 2  # trials: kill points spread over the reference run (the last trial kills its resume too)
    env: dict[str, str] = dataclasses.field(default_factory=dict)  # the command's environment, on top
    volatile: tuple[str, ...] = WHEN
    at_least_once: tuple[str, ...] = ()  # tables compared as sets: a rerun after the commit lands rows again
    then_run: bool = False  # a pipeline cycle (in-process) before comparing: what the command wrote, downstream


# -- the harness ------------------------------------------------------------------------------------------
def _leanops(root: Path, scenario: Scenario, extra: dict[str, str] | None = None):
    command = [arg.format(root=root) for arg in scenario.command]
    return run_cli(*command, env={"LEANOPS_MAINTENANCE": "off", **scenario.env, **(extra or {})})


def _spread(n: int, k: int, rng: random.Random) -> list[int]:
    """k points of 1..n, one drawn from each of k equal stretches of the run (early ... late)."""
    if n <= k:
        return list(range(1, n + 1))
    edges = [round(i * n / k) for i in range(k + 1)]
    return [rng.randint(edges[i] + 1, edges[i + 1]) for i in range(k)]


def _observe(root: Path, scenario: Scenario) -> dict[str, object]:
    """What must not depend on where the command was killed."""
    ctx = Context.open(root / "home", root / "schemas")
    try:
        if scenario.then_run:
            _cycle(ctx)
        accounts = []
        for topic in ctx.topics():
            files = files_account(ctx.lake, ctx.state, topic)
            accounts += ([files] if files else []) + topic_accounts(ctx.lake, topic)
        assert all(a.ok for a in accounts), [a.as_dict() for a in accounts if not a.ok]
        figures = [{k: v for k, v in a.as_dict().items() if k != "orphaned"} for a in accounts]
        topics = {t.topic_name: t.flow_control_flag.value for t in ctx.state.list_topics()}
        assert set(topics.values()) <= {FlowControl.ENABLED.value}, topics
        for topic in ctx.topics():
            assert ctx.state.lease_holder(topic) is None, (topic, ctx.state.lease_holder(topic))
            rebuild = ctx.state.get_rebuild(topic)
            assert rebuild is None or rebuild["status"] == "SUCCEEDED", rebuild
        observed = {"tables": _tables(ctx, scenario), "topics": topics,
                    "files": sorted((f.file_key, f.status, f.lines) for f in ctx.state.list_files()),
                    "deployed": {t: (d or {}).get("schema_sha256") for t in topics
                                 for d in [ctx.state.last_deployment(t)]}}
        if not scenario.at_least_once:
            observed["accountability"] = figures
        return observed
    finally:
        ctx.close()


def _tables(ctx: Context, scenario: Scenario) -> dict[str, list[str]]:
    """Every table's rows, order-free (a rebuild's archives under one name; DLQ rows of ingests that never
    committed aside: accountability reports them as orphans, never counts them)."""
    sealed = set()
    for topic in ctx.lake.raw_topics():
        sealed |= raw_ledger(ctx.lake.raw_table(topic)).sealed
    found = {}
    for namespace in NAMESPACES:
        for ident in ctx.lake.catalog.list_tables(namespace):
            name = re.sub(r"_archive_\d{14}(_\d+)?$", "_archive_*", ".".join(ident[-2:]))
            rows = ctx.lake.catalog.load_table(ident).scan().to_arrow()
            if name == "raw.dlq_errors":
                rows = rows.filter(pc.is_in(rows["ingest_id"], pa.array(sorted(sealed), pa.string())))
            rows = rows.drop_columns([c for c in scenario.volatile if c in rows.column_names])
            listed = sorted(repr(sorted(r.items())) for r in rows.to_pylist())
            found[name] = sorted(set(listed)) if name in scenario.at_least_once else listed
    return found


def _cycle(ctx: Context) -> None:
    report = run_cycle(ctx, CycleOptions(concurrency=1), Fanout([]))
    assert not report.failed, [o.as_dict() for o in report.outcomes]


# -- data -------------------------------------------------------------------------------------------------
def _demo_home(root: Path) -> Context:
    """The demo's events (with a semantic section) and orders schemas."""
    _install_schemas(root / "schemas")
    (root / "schemas" / "payments.json").unlink()
    return Context.open(root / "home", root / "schemas")


def _lines(topic: str, start: int, stop: int) -> list[str]:
    """The demo's lines of a topic: duplicates, corrections, broken JSON, CDE and cast failures, DLQ lines."""
    return list(topic_lines(topic, 11, 200))[start:stop]


def _ingest(ctx: Context, topic: str, lines: list[str], source: str) -> None:
    data = "".join(line + "\n" for line in lines).encode()
    ingest_stream(ctx.lake, ctx.state, ctx.settings, topic, io.BytesIO(data), source)


# -- the scenarios ----------------------------------------------------------------------------------------
def setup_ingest(root: Path) -> None:
    ctx = _demo_home(root)
    _ingest(ctx, "events", _lines("events", 0, 30), "first.ndjson")
    _cycle(ctx)
    write_lines(root / "events.ndjson", _lines("events", 30, 90) + ["not an envelope"])
    ctx.close()


def setup_run(root: Path) -> None:
    ctx = _demo_home(root)
    _ingest(ctx, "events", _lines("events", 0, 40), "e1.ndjson")
    _ingest(ctx, "orders", _lines("orders", 0, 40), "o1.ndjson")
    _cycle(ctx)
    _ingest(ctx, "events", _lines("events", 40, 80), "e2.ndjson")
    _ingest(ctx, "events", _lines("events", 80, 100), "e3.ndjson")
    _ingest(ctx, "orders", _lines("orders", 40, 80), "o2.ndjson")
    ctx.close()


def _changed(root: Path, topic: str, change: Callable[[dict], None]) -> None:
    path = root / "schemas" / f"{topic}.json"
    doc = json.loads(path.read_text())
    change(doc)
    path.write_text(json.dumps(doc))


def _reset_events(doc: dict) -> None:
    """A NUCLEAR_RESET: the user id becomes a critical data element (every stored row is checked again)."""
    doc["curated"]["columns"]["event_userid"]["cde"] = True
    doc["change"] = {"kind": "NUCLEAR_RESET", "reason": "events without a user are rejected now"}


def setup_deploy(root: Path) -> None:
    ctx = _demo_home(root)
    deploy(ctx, root / "schemas", deployed_by="ci")
    _ingest(ctx, "events", _lines("events", 0, 50), "e1.ndjson")
    _ingest(ctx, "orders", _lines("orders", 0, 40), "o1.ndjson")
    _cycle(ctx)
    _ingest(ctx, "events", _lines("events", 50, 80), "e2.ndjson")
    _cycle(ctx)
    _changed(root, "events", _reset_events)
    _changed(root, "orders", lambda doc: doc["curated"]["columns"].update(order_channel={"type": "string"}))
    _install_schemas(root / "all-schemas")
    shutil.copy(root / "all-schemas" / "payments.json", root / "schemas" / "payments.json")  # a NEW_TABLE
    ctx.close()


def setup_rebuild(root: Path) -> None:
    ctx = _demo_home(root)
    _ingest(ctx, "events", _lines("events", 0, 50), "e1.ndjson")
    _cycle(ctx)
    _ingest(ctx, "events", _lines("events", 50, 90), "e2.ndjson")
    _cycle(ctx)
    from leanops.ops.corrections import export_errors, replay_parse
    [broken, *_] = list(export_errors(ctx.lake, "events", "parse"))
    fixed = replay_parse(ctx, "events", [json.dumps({"message_id": broken["message_id"], "payload": {"fixed": 1}})])
    assert fixed.fixed == 1
    _changed(root, "events", _reset_events)
    ctx.close()


def _order(mid: str, key: str, minute: int, qty: str, customer: str | None = None) -> str:
    payload = {"_metadata": {"idempotencyKeyResource": key}, "event": {"timestamp": f"2026-01-19T10:{minute:02d}:00Z"},
               "qty": qty}
    if customer is not None:
        payload["customer"] = customer
    return envelope(mid, payload)


def setup_replay(root: Path) -> None:
    """orders with every kind of error: no customer (fixed by the schema change), no int, broken JSON, lines
    that are no envelope; the corrections of the last two in files, as `leanops errors export` wrote them."""
    from leanops.ops.corrections import export_errors
    write_schema(root / "schemas", REPLAY_SCHEMA)
    ctx = Context.open(root / "home", root / "schemas")
    lines = [_order(f"m{i}", f"k{i % 12}", i % 50, str(i), None if i % 4 == 0 else f"c{i}") for i in range(40)]
    lines += [_order("x1", "kx", 5, "not a number", "c"), envelope("p1", "{broken"), envelope("p2", "[1, 2]"),
              "not an envelope", '{"message_id": "d1", "payload": {"a": 1}, "extra": true}']
    _ingest(ctx, "orders", lines, "orders.ndjson")
    _ingest(ctx, "orders", [_order(f"n{i}", f"k{i}", 55, str(i)) for i in range(6)], "more.ndjson")
    _cycle(ctx)
    fixed_schema = json.loads(json.dumps(REPLAY_SCHEMA))
    fixed_schema["curated"]["columns"]["customer"] = {"type": "string"}
    write_schema(root / "schemas", fixed_schema)
    parse = [json.dumps({**e, "payload": {"_metadata": {"idempotencyKeyResource": e["message_id"]}, "qty": "1",
                                          "event": {"timestamp": "2026-01-19T11:00:00Z"}}})
             for e in export_errors(ctx.lake, "orders", "parse")]
    dlq = [json.dumps({**e, "line": _order(f"fixed{e['line_number']}", f"kd{e['line_number']}", 7, "3", "c")})
           for e in export_errors(ctx.lake, "orders", "dlq")]
    assert len(parse) == 2 and len(dlq) == 2
    write_lines(root / "parse-fix.ndjson", parse)
    write_lines(root / "dlq-fix.ndjson", dlq)
    ctx.close()


def setup_watch(root: Path) -> None:
    ctx = _demo_home(root)
    ctx.close()
    for topic, cuts in (("events", (0, 25, 50, 70)), ("orders", (0, 30, 60))):
        for n, (start, stop) in enumerate(zip(cuts, cuts[1:])):
            (root / "landing" / topic).mkdir(parents=True, exist_ok=True)
            write_lines(root / "landing" / topic / f"part-{n}.ndjson", _lines(topic, start, stop))


def setup_maintain(root: Path) -> None:
    ctx = _demo_home(root)
    for n in range(2):
        _ingest(ctx, "events", _lines("events", 30 * n, 30 * n + 30), f"e{n}.ndjson")
        _ingest(ctx, "orders", _lines("orders", 30 * n, 30 * n + 30), f"o{n}.ndjson")
        _cycle(ctx)
    ctx.close()


SCENARIOS = {
    "ingest": Scenario(["ingest", "--topic", "events", "{root}/events.ndjson"], setup_ingest, kills=3,
                       volatile=WHEN + INGESTED, at_least_once=("raw.events_staging", "raw.dlq_errors"),
                       then_run=True),
    "run": Scenario(["run", "--once", "--concurrency", "1"], setup_run),
    "deploy": Scenario(["deploy"], setup_deploy),
    "rebuild": Scenario(["rebuild", "events"], setup_rebuild, kills=3),
    "errors-replay-curated": Scenario(["errors", "replay", "-t", "orders", "-l", "curated"], setup_replay),
    "errors-replay-parse": Scenario(["errors", "replay", "-t", "orders", "-l", "parse", "--from",
                                     "{root}/parse-fix.ndjson"], setup_replay),
    "errors-replay-dlq": Scenario(["errors", "replay", "-t", "orders", "-l", "dlq", "--from", "{root}/dlq-fix.ndjson"],
                                  setup_replay, volatile=WHEN + INGESTED),
    "watch": Scenario(["watch", "{root}/landing", "--topic-from-path", "--once", "--settle", "0", "--max-files", "2"],
                      setup_watch, volatile=WHEN + INGESTED),
    "maintain": Scenario(["maintain"], setup_maintain, env={"LEANOPS_MAINTENANCE": EVERYTHING}),
}


@pytest.mark.parametrize("name", list(SCENARIOS))
def test_kill_harness(tmp_path, monkeypatch, name):
    scenario = SCENARIOS[name]
    monkeypatch.setenv("LEANOPS_MAINTENANCE", "off")
    scenario.setup(tmp_path)
    saved = tmp_path / "saved-home"
    shutil.copytree(tmp_path / "home", saved)
    rng = random.Random(f"{SEED}:{name}")

    log = tmp_path / "faults.log"
    reference = _leanops(tmp_path, scenario, {FAULT_LOG_ENV: str(log)})
    assert reference.returncode in (0, 1), reference.stdout + reference.stderr
    points = log.read_text().splitlines()
    expected = _observe(tmp_path, scenario)
    assert points, reference.stdout + reference.stderr

    kills = _spread(len(points), scenario.kills, rng)
    for trial, k in enumerate(kills):
        label = f"seed {SEED}, {name}: killed at fault point {points[k - 1]} of {len(points)}"
        shutil.rmtree(tmp_path / "home")
        shutil.copytree(saved, tmp_path / "home")
        died = _leanops(tmp_path, scenario, {KILL_AT_ENV: str(k)})
        assert died.returncode == -signal.SIGKILL, f"{label}: {died.returncode}\n{died.stdout}{died.stderr}"
        again_at = rng.randint(1, len(points)) if trial == len(kills) - 1 else None  # the resume killed too
        again = _leanops(tmp_path, scenario, {KILL_AT_ENV: str(again_at)} if again_at else {})
        if again.returncode == -signal.SIGKILL:
            label += f", its resume at point {again_at}"
            again = _leanops(tmp_path, scenario)
        assert again.returncode == reference.returncode, f"{label}: {again.returncode}\n{again.stdout}{again.stderr}"
        try:
            got = _observe(tmp_path, scenario)
        except AssertionError as exc:
            raise AssertionError(f"{label}: {exc}") from exc
        for part in expected:
            assert got[part] == expected[part], f"{label}: {part} differs from the uninterrupted run"
