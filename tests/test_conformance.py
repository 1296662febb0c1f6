"""Conformance: the embedded engine and the Spark engine turn the same history into the same tables.

One hostile event history (tests/conformance_fixtures.py) is ingested step by step into separate
homes, and each home runs the orchestrator after every step with its engine:
  - embedded: every run in-process (DuckDB + PyIceberg);
  - spark:    every run on Spark (local[*], Iceberg JdbcCatalog on the same SQLite catalog);
  - mixed:    engines take turns on the same tables (embedded, spark, embedded).
After every step the homes must agree on: table schemas (names, types, order), row sets of
Standardized, Curated and both error tables (all columns but the ingestion and error clocks), every
stage run's counts, the accountability report, and the checkpoint each run committed (as a position
in the upstream table's history, since snapshot ids differ between homes).
A crash between the error commit and the data commit on one engine is finished by the other.
"""
from __future__ import annotations

import dataclasses
import json
import subprocess
from decimal import Decimal
from pathlib import Path

import pytest

pytest.importorskip("pyspark", reason="pyspark not installed: pip install 'lean-ops[spark]' (scripts/setup-spark.sh)")

import conformance_fixtures as fx  # noqa: E402
from conftest import LEANOPS, write_lines, write_schema  # noqa: E402
from leanops.context import Context  # noqa: E402
from leanops.ingest import ingest_stream  # noqa: E402
from leanops.orchestrate.cycle import CycleOptions, run_cycle  # noqa: E402
from leanops.orchestrate.flow import FlowOptions  # noqa: E402
from leanops.stages.accountability import topic_accounts  # noqa: E402

pytestmark = [pytest.mark.spark, pytest.mark.slow]

CLOCKS = {"ingestion_ts", "error_ts"}  # differ between homes by construction
CURATED_ERRORS_STEP_1 = ["empty", "no-key", "no-ts", "bad-qty", "bad-amount", "bad-flag", "bad-day", "bad-ts", "bad-big"]
TABLES = ("standardized.events", "standardized.parse_errors", "curated.events", "curated.errors",
          "semantic.events", "semantic.errors")


class Home:
    """One deployment with its own engine plan (the engine of each step)."""

    def __init__(self, root: Path, engines: list[str]) -> None:
        self.root, self.engines = root, engines
        self.schemas = root / "schemas"
        self.schemas.mkdir(parents=True)
        self.contexts = {name: self._open(name) for name in set(engines)}

    def _open(self, engine: str) -> Context:
        ctx = Context.open(self.root / "home", self.schemas, engine=engine)
        ctx.settings = ctx.settings.model_copy(update={"max_batch_rows": fx.BATCH_ROWS})
        return ctx

    @property
    def any(self) -> Context:
        return next(iter(self.contexts.values()))

    def step(self, index: int, schema: dict, ingests: list[list[str]], tmp: Path) -> list[tuple]:
        write_schema(self.schemas, schema)
        for n, lines in enumerate(ingests):
            path = write_lines(tmp / f"{self.root.name}-{index}-{n}.ndjson", lines)
            with path.open("rb") as stream:
                ingest_stream(self.any.lake, self.any.state, self.any.settings, fx.TOPIC, stream, str(path))
        ctx = self.contexts[self.engines[index]]
        report = run_cycle(ctx, CycleOptions(flow=FlowOptions(backlog_threshold=0)))
        [outcome] = report.outcomes
        assert outcome.status.value == "SUCCEEDED", outcome.message
        return [_run_facts(ctx, r) for r in outcome.stages]

    def close(self) -> None:
        for ctx in self.contexts.values():
            ctx.close()


def _position(table, snapshot_id: int | None) -> int | None:
    """A snapshot's place in its table's history (1 = first): comparable between homes."""
    if snapshot_id is None:
        return None
    ordered = sorted(table.snapshots(), key=lambda s: s.sequence_number)
    return 1 + [s.snapshot_id for s in ordered].index(snapshot_id)


def _run_facts(ctx: Context, r) -> tuple:
    upstream = {"standardized": ctx.lake.raw_table, "curated": ctx.lake.standardized_table,
                "semantic": ctx.lake.curated_table}[r.stage](fx.TOPIC)
    return (r.stage, r.status.value, r.records_in, r.records_written, r.records_errors, r.records_duplicates,
            r.records_superseded, tuple(r.columns_added), _position(upstream, r.source_snapshot_id))


def _value(v):
    return str(v) if isinstance(v, Decimal) else v


def state_of(ctx: Context) -> dict:
    """Everything the engines must agree on, engine-independent."""
    out = {}
    for ident in TABLES:
        table = ctx.lake.load(ident)
        assert table is not None, ident
        fields = table.schema().fields
        out[f"{ident} schema"] = [(f.name, str(f.field_type), f.required) for f in fields]
        rows = table.scan().to_arrow().to_pylist()
        out[f"{ident} rows"] = sorted(json.dumps({k: _value(v) for k, v in row.items() if k not in CLOCKS},
                                                 default=str, sort_keys=True) for row in rows)
        out[f"{ident} spec"] = str(table.spec())
    out["accountability"] = [{**dataclasses.asdict(a), "ok": a.ok} for a in topic_accounts(ctx.lake, fx.TOPIC)]
    out["drift"] = sorted((d.column_name, d.kind, d.sample_value, _position(ctx.lake.curated_table(fx.TOPIC),
                                                                              d.snapshot_id), d.detail)
                          for d in ctx.state.list_drift(fx.TOPIC))
    return out


def test_engines_agree_step_by_step_and_in_turns(tmp_path):
    homes = {name: Home(tmp_path / name, plan) for name, plan in {
        "embedded": ["embedded"] * 3,
        "spark": ["spark"] * 3,
        "mixed": ["embedded", "spark", "embedded"],
    }.items()}
    try:
        for index, (schema, ingests) in enumerate(fx.STEPS):
            runs = {name: home.step(index, schema, ingests, tmp_path) for name, home in homes.items()}
            states = {name: state_of(home.any) for name, home in homes.items()}
            for name in ("spark", "mixed"):
                assert runs[name] == runs["embedded"], f"step {index + 1}: {name} runs differ"
                for key, expected in states["embedded"].items():
                    assert states[name][key] == expected, f"step {index + 1}: {name} differs in {key}"
        final = states["embedded"]
    finally:
        for home in homes.values():
            home.close()

    # the history really exercised the contract (a guard against a fixture that tests nothing)
    std_runs = [r for r in runs["embedded"] if r[0] == "standardized"]
    assert len(std_runs) == 2  # step 3: two batches, one per ingest
    curated_rows = [json.loads(r) for r in final["curated.events rows"]]
    by_key = {r["idempotency_key"]: r for r in curated_rows}
    assert by_key["k1"]["message_id"] == "m13" and by_key["k1"]["amount"] == "3.00"
    assert by_key["k2"]["message_id"] == "m9" and by_key["k3"]["message_id"] == "m7"
    assert by_key["k17"]["score"] == -0.5 and by_key["k16"]["extra"] == "new field"
    errors = {json.loads(r)["message_id"]: json.loads(r) for r in final["curated.errors rows"]}
    assert set(errors) == set(CURATED_ERRORS_STEP_1) | {"m11"}
    parse = {json.loads(r)["message_id"] for r in final["standardized.parse_errors rows"]}
    assert parse == {"bad-json", "array", "scalar", "repeated"}
    governed = {json.loads(r)["message_id"]: json.loads(r)["reason"] for r in final["semantic.errors rows"]}
    assert governed and {"above the maximum 5", "not one of the allowed values"} <= set(governed.values())
    assert {d[1] for d in final["drift"]} >= {"undeclared_column", "type_conflict"}
    assert all(a["ok"] for a in final["accountability"])


def _cli(*args: str, env: dict) -> subprocess.CompletedProcess:
    return subprocess.run([LEANOPS, *args], capture_output=True, text=True, env=env, timeout=600)


def test_crash_on_one_engine_is_finished_by_the_other(tmp_path):
    """Spark dies after committing parse errors, before its data commit; the embedded engine redoes
    exactly that range without writing the errors twice (and the reverse for Curated)."""
    import os
    env = {**os.environ, "LEANOPS_HOME": str(tmp_path / "home"), "LEANOPS_SCHEMAS": str(tmp_path / "schemas")}
    (tmp_path / "schemas").mkdir(exist_ok=True)
    write_schema(tmp_path / "schemas", fx.SCHEMA_V1)
    source = write_lines(tmp_path / "step1.ndjson", fx.STEP_1)
    assert _cli("ingest", "--topic", fx.TOPIC, str(source), "--json", env=env).returncode == 0

    crashed = _cli("run", "--once", "--engine", "spark", env={**env, "LEANOPS_FAULT": "after-parse-errors-commit"})
    assert crashed.returncode == 75, crashed.stderr[-2000:]
    crashed = _cli("run", "--once", env={**env, "LEANOPS_FAULT": "after-curated-errors-commit"})
    assert crashed.returncode == 75, crashed.stderr[-2000:]
    finished = _cli("run", "--once", "--engine", "spark", "--json", env=env)
    assert finished.returncode == 0, finished.stderr[-2000:]

    ctx = Context.open(tmp_path / "home", tmp_path / "schemas")
    try:
        parse = ctx.lake.parse_errors_table().scan().to_arrow().column("message_id").to_pylist()
        assert sorted(parse) == ["array", "bad-json", "repeated", "scalar"]  # once each
        errors = ctx.lake.curated_errors_table().scan().to_arrow().column("message_id").to_pylist()
        assert sorted(errors) == sorted(CURATED_ERRORS_STEP_1)  # once each
        assert all(a.ok for a in topic_accounts(ctx.lake, fx.TOPIC))
    finally:
        ctx.close()
