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
Table maintenance: tables maintained by the embedded engine or by Spark's Iceberg procedures read the same
as a never-maintained twin, and the next runs, on either engine, stay exact (docs/maintenance-spark.md).
"""
from __future__ import annotations

import dataclasses
import json
import subprocess
from decimal import Decimal
from pathlib import Path

import pytest

import conformance_fixtures as fx
from conftest import LEANOPS, write_lines, write_schema
from leanops.context import Context
from leanops.ingest import ingest_stream
from leanops.maintenance.policy import MaintenancePolicy
from leanops.orchestrate.cycle import CycleOptions, run_cycle
from leanops.orchestrate.flow import FlowOptions
from leanops.stages.accountability import topic_accounts

pytestmark = [pytest.mark.spark, pytest.mark.slow]

CLOCKS = {"ingestion_ts", "error_ts"}  # differ between homes by construction
CURATED_ERRORS_STEP_1 = ["empty", "no-key", "no-ts", "bad-qty", "bad-amount", "bad-flag", "bad-day", "bad-ts", "bad-big"]
TABLES = ("standardized.events", "standardized.parse_errors", "curated.events", "curated.errors",
          "semantic.events", "semantic.errors")


class Home:
    """One deployment with its own engine plan (the engine of each step)."""

    def __init__(self, root: Path, engines: list[str], batch_rows: int = fx.BATCH_ROWS) -> None:
        self.root, self.engines, self.batch_rows = root, engines, batch_rows
        self.schemas = root / "schemas"
        self.schemas.mkdir(parents=True)
        self.contexts = {name: self._open(name) for name in set(engines)}

    def _open(self, engine: str) -> Context:
        ctx = Context.open(self.root / "home", self.schemas, engine=engine)
        # the stages only: maintenance has its own conformance test below, and when it became due here
        # would depend on each engine's file layout
        ctx.settings = ctx.settings.model_copy(update={"max_batch_rows": self.batch_rows,
                                                       "maintenance": MaintenancePolicy(enabled=False)})
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
    assert by_key["k19"]["amount"] == "1.50"  # a number spelt 1.50 in the payload
    spelt = next(json.loads(r) for r in final["standardized.events rows"] if '"spellings"' in r)
    assert (spelt["sci"], spelt["negzero"], spelt["long"], spelt["list"]) == ("1E5", "-0", "12345678901234567.89",
                                                                            "[1.10,-0]")
    errors = {json.loads(r)["message_id"]: json.loads(r) for r in final["curated.errors rows"]}
    assert set(errors) == set(CURATED_ERRORS_STEP_1) | {"m11"}
    parse = {json.loads(r)["message_id"] for r in final["standardized.parse_errors rows"]}
    assert parse == {"bad-json", "array", "scalar", "repeated"}
    governed = {json.loads(r)["message_id"]: json.loads(r)["reason"] for r in final["semantic.errors rows"]}
    assert governed and {"above the maximum 5", "not one of the allowed values"} <= set(governed.values())
    assert {d[1] for d in final["drift"]} >= {"undeclared_column", "type_conflict"}
    assert all(a["ok"] for a in final["accountability"])


def _standardized_state(ctx: Context) -> dict:
    """What the engines must agree on when a topic has only a standardized section."""
    out = {}
    for ident in ("standardized.events", "standardized.parse_errors"):
        table = ctx.lake.load(ident)
        out[f"{ident} schema"] = [(f.name, str(f.field_type), f.required) for f in table.schema().fields]
        out[f"{ident} rows"] = sorted(json.dumps({k: v for k, v in row.items() if k not in CLOCKS}, default=str,
                                                 sort_keys=True) for row in table.scan().to_arrow().to_pylist())
    out["accountability"] = [{**dataclasses.asdict(a), "ok": a.ok} for a in topic_accounts(ctx.lake, fx.TOPIC)]
    return out


def test_engines_refuse_the_same_hostile_shapes(tmp_path):
    """Payloads nested too deep or too wide, and a batch past the topic's column cap: both engines send the
    same rows to parse_errors with the same reasons, and add the same columns (docs/standardized.md, Limits)."""
    schema = {"topic": fx.TOPIC, "standardized": {"limits": {"max_columns": 8}}}  # 4 metadata + 4 payload
    steps = [
        [fx.envelope("g1", {"a": 1, "b": {"c": 2}})],
        [fx.envelope("deep", json.loads('{"x":' * 40 + "1" + "}" * 40)),
         fx.envelope("very-deep", '{"x":' * 200_000 + "1" + "}" * 200_000),
         fx.envelope("wide", {f"k{i}": i for i in range(1500)}),
         fx.envelope("g2", {"a": 2, "d": 1}),             # the last but one column there is room for
         fx.envelope("over", {"e": 1, "f": 1}),           # two more: past the cap
         fx.envelope("nulls", {"a": 3, "n": None}),       # a new key holding null fills no column
         fx.envelope("g3", {"g": "last"}),                 # the last column
         fx.envelope("late", {"h": 1}),                    # past the cap
         fx.envelope("bad", "{nope")],
    ]
    # each step's ingest is one batch: the column cap takes a batch's rows in ingestion order, so where a
    # batch ends decides which rows still fit
    homes = {name: Home(tmp_path / name, [name] * len(steps), batch_rows=100) for name in ("embedded", "spark")}
    try:
        for index, lines in enumerate(steps):
            runs = {name: home.step(index, schema, [lines], tmp_path) for name, home in homes.items()}
            assert runs["spark"] == runs["embedded"], f"step {index + 1}: runs differ"
            states = {name: _standardized_state(home.any) for name, home in homes.items()}
            for key, expected in states["embedded"].items():
                assert states["spark"][key] == expected, f"step {index + 1}: spark differs in {key}"
    finally:
        for home in homes.values():
            home.close()
    errors = [json.loads(r) for r in states["embedded"]["standardized.parse_errors rows"]]
    assert {e["message_id"]: e["reason"] for e in errors} == {
        "deep": "payload nested deeper than 32 levels", "very-deep": "payload nested deeper than 32 levels",
        "wide": "payload has 1500 keys, more than 1000", "bad": "invalid JSON",
        "over": "payload adds 2 new columns, past the topic's cap of 8 columns",
        "late": "payload adds 1 new columns, past the topic's cap of 8 columns"}
    assert [n for n, _, _ in states["embedded"]["standardized.events schema"]][4:] == ["a", "b_c", "d", "g"]
    assert all(a["ok"] for a in states["embedded"]["accountability"])


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


# -- table maintenance on either engine ----------------------------------------------------------------------

VOLATILE = CLOCKS | {"ingest_id", "source"}  # differ between homes fed alike
MAINTAIN_ALL = {"enabled": False, "keep_snapshots_hours": 0, "keep_min_snapshots": 1, "orphan_age_hours": 0,
                "max_manifests": 1}  # by hand only, everything expirable expired, every manifest merged
DLQ_LINE = "this line is no envelope"  # an open DLQ row: RAW's roll-up keeps a set in a side file
STEP_4 = [fx.event("m14", "k1", "2026-01-19T12:00:00Z", amount="4"),  # a correction after the maintenance
          fx.event("m15", "k19", "2026-01-22T00:00:00Z", qty="2", publish_time="2026-01-22T00:00:00Z")]


def _open_home(root: Path) -> Context:
    (root / "schemas").mkdir(parents=True, exist_ok=True)
    ctx = Context.open(root / "home", root / "schemas")
    ctx.settings = ctx.settings.model_copy(update={"maintenance": MaintenancePolicy(**MAINTAIN_ALL)})
    return ctx


def _feed(ctx: Context, root: Path, schema: dict, lines: list[str], tag: str) -> None:
    write_schema(root / "schemas", schema)
    path = write_lines(root / f"{tag}.ndjson", lines)
    with path.open("rb") as stream:
        ingest_stream(ctx.lake, ctx.state, ctx.settings, fx.TOPIC, stream, str(path))


def _cycle(ctx: Context, engine: str) -> None:
    from leanops.engines import engine_for
    ctx.engine = engine_for(engine, ctx.settings)  # the same home, this cycle on `engine`
    report = run_cycle(ctx, CycleOptions(flow=FlowOptions(backlog_threshold=0)))
    assert [o.status.value for o in report.outcomes] == ["SUCCEEDED"], [o.message for o in report.outcomes]


def _contents(ctx: Context) -> dict[str, list[str]]:
    """Every table's rows (the shared tables too), order-free, without the columns that depend on when."""
    found = {}
    for namespace in ("raw", "standardized", "curated", "semantic"):
        for ident in ctx.lake.catalog.list_tables(namespace):
            rows = ctx.lake.catalog.load_table(ident).scan().to_arrow()
            rows = rows.drop_columns([c for c in VOLATILE if c in rows.column_names])
            found[".".join(ident)] = sorted(json.dumps({k: _value(v) for k, v in r.items()}, default=str,
                                                       sort_keys=True) for r in rows.to_pylist())
    return found


def _accounts(ctx: Context) -> list[dict]:
    accounts = topic_accounts(ctx.lake, fx.TOPIC)
    assert all(a.ok for a in accounts), [dataclasses.asdict(a) for a in accounts if not a.ok]
    return [dataclasses.asdict(a) for a in accounts]


def _plant_orphan(ctx: Context) -> Path:
    """A data file no commit references (a run killed before its commit), a day old."""
    import os
    import time as clock
    location = ctx.lake.raw_table(fx.TOPIC).location().removeprefix("file://")
    orphan = Path(location) / "data" / "killed-run-00000.parquet"
    orphan.write_bytes(b"PAR1 not committed")
    os.utime(orphan, (clock.time() - 86_400, clock.time() - 86_400))
    return orphan


def test_tables_maintained_by_either_engine_read_the_same_and_runs_stay_exact(tmp_path):
    """Three homes fed alike: one never maintained, one maintained by the embedded engine, one by Spark
    (Iceberg's procedures). Maintenance lands while Semantic lags a Curated commit behind; the next runs
    go to the other engine. Every table of every home reads the same at every point, the accounts stay
    whole, and Spark keeps its safety rules: Curated is compacted only once Semantic has caught up, the
    roll-up's side file survives the orphan removal, a planted orphan does not."""
    from leanops.catalog import rollups
    from leanops.engines import engine_for
    from leanops.engines.spark.maintenance import spark_actions
    from leanops.maintenance import run as embedded
    from leanops.stages.curated import run_curated
    from leanops.stages.standardized import run_standardized
    from readers import assert_same_rows, read_spark
    homes = {name: _open_home(tmp_path / name) for name in ("plain", "embedded", "spark")}
    try:
        for name, ctx in homes.items():  # two cycles, then Standardized and Curated run but Semantic does not
            root = tmp_path / name
            _feed(ctx, root, fx.SCHEMA_V1, fx.STEP_1 + [DLQ_LINE], "step1")
            _cycle(ctx, "embedded")
            _feed(ctx, root, fx.SCHEMA_V1, fx.STEP_2, "step2")
            _cycle(ctx, "embedded")
            _feed(ctx, root, fx.SCHEMA_V2, fx.STEP_3A, "step3a")
            schema = ctx.schema(fx.TOPIC)
            run_standardized(ctx.lake, ctx.settings, fx.TOPIC, schema.standardized)
            run_curated(ctx.lake, ctx.settings, fx.TOPIC, schema)
        expected, figures = _contents(homes["plain"]), _accounts(homes["plain"])

        orphans = {name: _plant_orphan(homes[name]) for name in ("embedded", "spark")}
        emb = homes["embedded"]
        assert not embedded.maintain_topic(emb, fx.TOPIC).failed and not embedded.maintain_shared(emb).failed
        spk = homes["spark"]
        spark = engine_for("spark", spk.settings).session
        on_spark = spark_actions(spark)
        topic_report = embedded.maintain_topic(spk, fx.TOPIC, engine=on_spark)
        shared_report = embedded.maintain_shared(spk, engine=on_spark)
        assert not topic_report.failed and not shared_report.failed, (topic_report.message, shared_report.message)

        tables = {t.kind: t for t in topic_report.tables}
        assert "Semantic has read Curated up to" in tables["curated"].actions["compact"]["skipped"]
        assert tables["raw"].actions["compact"]["data_files_removed"] > 1
        assert tables["raw"].after.data_files < tables["raw"].before.data_files
        assert tables["raw"].actions["expire"]["snapshots_expired"] > 0
        assert tables["raw"].actions["orphans"]["method"] == "iceberg"
        raw = spk.lake.raw_table(fx.TOPIC)
        sides = rollups.side_files(raw)
        assert sides and all(Path(p.removeprefix("file:").removeprefix("//")).is_file() for p in sides)
        assert not any(p.exists() for p in orphans.values())
        for name, ctx in homes.items():
            assert _contents(ctx) == expected, f"{name}: rows differ after maintenance"
            assert _accounts(ctx) == figures, f"{name}: accounts differ after maintenance"

        # the next runs, each maintained home on the other engine: Semantic catches up over the maintained tables
        for name, engine in (("plain", "embedded"), ("embedded", "spark"), ("spark", "embedded")):
            _feed(homes[name], tmp_path / name, fx.SCHEMA_V2, fx.STEP_3B, "step3b")
            _cycle(homes[name], engine)
        expected, figures = _contents(homes["plain"]), _accounts(homes["plain"])
        for name, ctx in homes.items():
            assert _contents(ctx) == expected, f"{name}: rows differ after the next run"
            assert _accounts(ctx) == figures, f"{name}: accounts differ after the next run"

        # Semantic has caught up: now Spark compacts Curated too, and Spark reads what PyIceberg reads
        again = embedded.maintain_topic(spk, fx.TOPIC, engine=on_spark)
        curated = next(t for t in again.tables if t.kind == "curated")
        assert not again.failed and curated.actions["compact"]["data_files_removed"] > 0, again.as_dict()
        assert not embedded.maintain_topic(emb, fx.TOPIC).failed
        for ident in ("curated.events", "semantic.events"):
            assert_same_rows(spk.lake.load(ident).scan().to_arrow(), read_spark(spk.settings.home, ident),
                             ("pyiceberg", "spark"))
        for name, ctx in homes.items():
            _feed(ctx, tmp_path / name, fx.SCHEMA_V2, STEP_4, "step4")
            _cycle(ctx, "embedded")
        expected, figures = _contents(homes["plain"]), _accounts(homes["plain"])
        for name, ctx in homes.items():
            assert _contents(ctx) == expected, f"{name}: rows differ at the end"
            assert _accounts(ctx) == figures, f"{name}: accounts differ at the end"
    finally:
        for ctx in homes.values():
            ctx.close()
