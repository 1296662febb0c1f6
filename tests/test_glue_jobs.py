"""The Glue job scripts (glue/*.py) run locally with spark-submit against a local home, and read their
arguments with Glue's resolver inside Glue and argparse elsewhere."""
from __future__ import annotations

import json
import os
import subprocess
import sys
import types
from pathlib import Path

import pytest

from conftest import LEANOPS, run_cli, write_lines, write_schema
from leanops.engines.spark import jobs

ROOT = Path(__file__).resolve().parent.parent
SPARK_SUBMIT = Path(sys.executable).parent / "spark-submit"
SCHEMA = {"topic": "events",
          "standardized": {"column_map": {"_metadata_idempotencykeyresource": "idempotency_key"}},
          "curated": {"columns": {"idempotency_key": {"type": "string", "cde": True},
                                  "event_timestamp": {"type": "timestamp", "cde": True},
                                  "qty": {"type": "int"}}},
          "semantic": {"columns": {"idempotency_key": {"type": "string"}, "qty": {"type": "long", "max": 4}}}}


def test_argparse_fallback_ignores_arguments_of_glue_and_spark():
    args = jobs.resolve_args(["job.py", "--JOB_NAME", "x", "--topic_name", "events", "--max_batch_rows", "5",
                              "--JOB_RUN_ID", "jr_1"])
    assert args == {"topic_name": "events", "home": None, "schemas": None, "max_batch_rows": "5",
                    "curated_snapshot_id": None, "catalog": None, "warehouse": None, "state": None,
                    "engine": None, "JOB_RUN_ID": "jr_1", "resume": None, "MANIFEST_PATH": None, "emf": None,
                    "dry_run": None, "lease_holder": None, "shared": None}
    with pytest.raises(SystemExit):
        jobs.resolve_args(["job.py", "--home", "/tmp/h"])  # --topic_name is required


def test_inside_glue_the_glue_resolver_reads_the_arguments(monkeypatch):
    """Dispatch only: a stand-in for awsglue.utils records what it is asked (the real one is Glue's)."""
    asked = []

    def get_resolved_options(argv, names):
        asked.append(names)
        return {n: argv[argv.index(f"--{n}") + 1] for n in names}

    awsglue = types.ModuleType("awsglue")
    utils = types.ModuleType("awsglue.utils")
    utils.getResolvedOptions = get_resolved_options
    monkeypatch.setitem(sys.modules, "awsglue", awsglue)
    monkeypatch.setitem(sys.modules, "awsglue.utils", utils)
    args = jobs.resolve_args(["job.py", "--JOB_NAME", "j", "--topic_name", "events", "--home", "/h"])
    assert asked == [["topic_name", "home"]]  # optional arguments are asked for only when passed
    assert args == {"topic_name": "events", "home": "/h", "schemas": None, "max_batch_rows": None,
                    "curated_snapshot_id": None, "catalog": None, "warehouse": None, "state": None,
                    "engine": None, "JOB_RUN_ID": None, "resume": None, "MANIFEST_PATH": None, "emf": None,
                    "dry_run": None, "lease_holder": None, "shared": None}


def test_on_aws_spark_uses_the_glue_catalog_and_the_platforms_iceberg(monkeypatch, tmp_path):
    """With LEANOPS_CATALOG=glue (the job's --catalog glue) Spark's catalog `leanops` is Iceberg's
    GlueCatalog on the same S3 warehouse the driver's PyIceberg uses, and no local jar is required
    (Glue's --datalake-formats iceberg brings Iceberg). Running it needs AWS: this checks the wiring."""
    from leanops.config import Settings
    from leanops.engines import SparkEngine, engine_for
    from leanops.engines.spark.session import catalog_conf
    from leanops.errors import ConfigError
    monkeypatch.setenv("LEANOPS_SQLITE_JDBC_JAR", str(tmp_path / "missing.jar"))
    with pytest.raises(ConfigError):
        engine_for("spark", Settings.from_env(tmp_path / "home"))  # locally the JDBC jar is needed
    monkeypatch.setenv("LEANOPS_CATALOG", "glue")
    monkeypatch.setenv("LEANOPS_WAREHOUSE", "s3://lake/warehouse/")
    monkeypatch.setenv("LEANOPS_AWS_ENDPOINT", "http://127.0.0.1:5000")
    settings = Settings.from_env(tmp_path / "home")
    assert isinstance(engine_for("spark", settings), SparkEngine)
    conf = catalog_conf(settings)
    assert conf["spark.sql.catalog.leanops.catalog-impl"] == "org.apache.iceberg.aws.glue.GlueCatalog"
    assert conf["spark.sql.catalog.leanops.io-impl"] == "org.apache.iceberg.aws.s3.S3FileIO"
    assert conf["spark.sql.catalog.leanops.warehouse"] == "s3://lake/warehouse"
    assert conf["spark.sql.catalog.leanops.s3.endpoint"] == "http://127.0.0.1:5000"
    assert not any(".uri" in key or "jdbc" in key for key in conf)


def test_a_topic_without_the_section_exits_2_with_the_reason(tmp_path, capsys):
    pytest.importorskip("pyspark")
    (tmp_path / "schemas").mkdir(exist_ok=True)
    argv = ["job.py", "--topic_name", "events", "--home", str(tmp_path / "home"), "--schemas", str(tmp_path / "schemas")]
    assert jobs.execute("curated_processor", argv) == 2
    out = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert out["status"] == "FAILED" and "no curated section" in out["error"]


def test_a_named_run_keeps_its_output_and_its_run_log_row(tmp_path, capsys):
    """Glue passes --JOB_RUN_ID: the output is kept under it for Step Functions, and the run is logged."""
    from conftest import envelope, ingest
    from leanops.context import Context
    schemas = tmp_path / "schemas"
    write_schema(schemas, SCHEMA)
    ctx = Context.open(tmp_path / "home", schemas)
    ingest(ctx, "events", [envelope(f"m{i}", {"_metadata": {"idempotencyKeyResource": f"k{i}"}}) for i in range(3)],
           tmp_path)
    argv = ["job.py", "--topic_name", "events", "--home", str(tmp_path / "home"), "--schemas", str(schemas),
            "--engine", "embedded", "--JOB_RUN_ID", "jr_0001"]

    assert jobs.execute("standardized_processor", argv) == 0

    printed = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    kept = ctx.state.get_job_output("jr_0001")
    assert kept == {**printed, "job_run_id": "jr_0001"} and kept["records_written"] == 3
    [run] = ctx.state.list_runs("events")
    assert (run.stage, run.status, run.records_written) == ("standardized", "SUCCEEDED", 3)
    assert ctx.state.get_checkpoint("events", "standardized").last_snapshot_id == kept["source_snapshot_id"]
    ctx.close()


def test_the_maintenance_job_runs_under_the_topics_lease(tmp_path, capsys, monkeypatch):
    """glue/table_maintenance.py on the embedded engine (the Step Functions tests run it so): a topic another
    run holds is SKIPPED (exit 0, nothing changed); the pipeline's own lease (--lease_holder) is used and kept;
    without one the job takes and releases the lease itself; --dry_run changes nothing."""
    from conftest import envelope, ingest
    from leanops.context import Context
    from leanops.maintenance.run import layout
    from leanops.maintenance.safety import SHARED
    from leanops.runner import run_once
    monkeypatch.setenv("LEANOPS_MAINTENANCE", "off")  # the runs leave the maintenance to the job
    schemas = tmp_path / "schemas"
    write_schema(schemas, SCHEMA)
    ctx = Context.open(tmp_path / "home", schemas)
    for n in range(3):
        ingest(ctx, "events", [envelope(f"m{n}-{i}", {"_metadata": {"idempotencyKeyResource": f"k{i}"},
                                                      "event": {"timestamp": "2026-01-19T10:00:00Z"}, "qty": str(i)})
                               for i in range(3)], tmp_path, f"in{n}.ndjson")
        run_once(ctx)
    raw = ctx.lake.raw_table("events")
    monkeypatch.setenv("LEANOPS_MAINTENANCE", '{"keep_snapshots_hours": 0, "keep_min_snapshots": 1, '
                                              '"orphan_age_hours": 0}')
    argv = ["job.py", "--topic_name", "events", "--home", str(tmp_path / "home"), "--schemas", str(schemas),
            "--engine", "embedded"]

    def job(*extra: str) -> tuple[int, dict]:
        code = jobs.execute("table_maintenance", argv + list(extra))
        return code, json.loads(capsys.readouterr().out.strip().splitlines()[-1])

    assert ctx.state.acquire_lease("events", "someone-else", 600)
    code, busy = job()
    assert code == 0 and busy["maintenance_status"] == "SKIPPED" and "someone-else" in busy["message"]
    ctx.state.release_lease("events", "someone-else")
    code, dry = job("--dry_run", "true")
    raw.refresh()
    assert code == 0 and dry["report"]["dry_run"] and (layout(raw).data_files, len(raw.snapshots())) == (3, 3)

    assert ctx.state.acquire_lease("events", "execution-1", 600)
    code, done = job("--lease_holder", "execution-1", "--JOB_RUN_ID", "jr_m1", "--shared", "false")
    assert code == 0 and (done["stage"], done["status"], done["maintenance_status"]) == \
        ("maintenance", "SUCCEEDED", "SUCCEEDED")
    assert ctx.state.get_job_output("jr_m1") == {**done, "job_run_id": "jr_m1"}
    assert ctx.state.lease_holder("events") == "execution-1"  # the pipeline's lease: still the pipeline's
    [raw_report] = [t for t in done["report"]["tables"] if t["kind"] == "raw"]
    assert raw_report["after"]["data_files"] == 1 and raw_report["after"]["snapshots"] < 3
    assert [r.status for r in ctx.state.list_runs("events") if r.stage == "maintenance"] == ["SUCCEEDED"]
    ctx.state.release_lease("events", "execution-1")
    code, own = job("--shared", "true")
    assert code == 0 and own["shared"]["scope"] == SHARED and ctx.state.lease_holder("events") is None
    ctx.close()


def _submit(script: str, env: dict, *args: str) -> dict:
    submit_args = run_cli("spark-submit-args").stdout.split()
    done = subprocess.run([str(SPARK_SUBMIT), *submit_args, str(ROOT / "glue" / script), *args],
                          capture_output=True, text=True, env=env, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads(done.stdout.strip().splitlines()[-1])


@pytest.mark.spark
@pytest.mark.slow
def test_glue_scripts_run_with_spark_submit_on_a_local_home(tmp_path):
    env = {**os.environ, "LEANOPS_HOME": str(tmp_path / "home"), "LEANOPS_SCHEMAS": str(tmp_path / "schemas"),
           "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"}
    write_schema(tmp_path / "schemas", SCHEMA)
    lines = [json.dumps({"message_id": f"m{i}", "publish_time": "2026-01-19T10:00:00Z",
                         "payload": {"_metadata": {"idempotencyKeyResource": f"k{i % 3}"},
                                     "event": {"timestamp": f"2026-01-19T10:0{i}:00Z"}, "qty": str(i)}})
             for i in range(6)] + [json.dumps({"message_id": "bad", "payload": "{oops"})]
    source = write_lines(tmp_path / "in.ndjson", lines)
    assert subprocess.run([LEANOPS, "ingest", "--topic", "events", str(source)], env=env).returncode == 0

    std = _submit("standardized_processor.py", env, "--topic_name", "events")
    assert (std["job"], std["status"], std["records_in"], std["records_written"], std["records_errors"]) == \
        ("standardized_processor", "SUCCEEDED", 7, 6, 1)
    cur = _submit("curated_processor.py", env, "--topic_name", "events")
    assert (cur["status"], cur["records_written"], cur["records_superseded"]) == ("SUCCEEDED", 3, 3)
    assert cur["source_snapshot_id"] == std["snapshot_id"]
    sem = _submit("semantic_processor.py", env, "--topic_name", "events", "--curated_snapshot_id", str(cur["snapshot_id"]))
    assert (sem["status"], sem["records_in"], sem["records_written"], sem["records_errors"]) == ("SUCCEEDED", 3, 2, 1)
    assert sem["source_snapshot_id"] == cur["snapshot_id"]  # read up to the handed-over token

    status = json.loads(run_cli("status", "--json", env=env).stdout)  # checkpoints mirrored for the orchestrator
    [topic] = [t for t in status if t["topic"] == "events"]
    assert topic["checkpoints"]["curated"] == std["snapshot_id"]

    # the parse error corrected (an older version of k0): the Spark rebuild must apply the correction again
    fix = {"message_id": "bad", "payload": {"_metadata": {"idempotencyKeyResource": "k0"},
                                            "event": {"timestamp": "2026-01-19T09:00:00Z"}, "qty": "9"}}
    fixed = run_cli("errors", "replay", "-t", "events", "-l", "parse", "--from", "-", "--json", env=env,
                    input=json.dumps(fix))
    assert fixed.returncode == 0 and json.loads(fixed.stdout)["fixed"] == 1, fixed.stdout + fixed.stderr

    rebuilt = _submit("historical_rebuilder.py", env, "--topic_name", "events", "--max_batch_rows", "3")
    # three rows a batch: Standardized takes RAW in batches of 3, 3 and 1 row (the broken one), Curated and
    # Semantic take the resulting commits whole, 3 rows at most, so later versions replace earlier ones
    layers = (rebuilt["standardized_rows"], rebuilt["curated_rows"], rebuilt["semantic_rows"])
    assert rebuilt["status"] == "SUCCEEDED" and layers == (6, 6, 5), rebuilt
    assert rebuilt["corrections_applied"] == 1, rebuilt
    accounts = json.loads(run_cli("accountability", "--json", env=env).stdout)
    assert all(a["ok"] for a in accounts), accounts
    [std] = [a for a in accounts if a["layer"] == "standardized"]
    assert (std["written"], std["errors"]) == (7, 0)
    again = _submit("curated_processor.py", env, "--topic_name", "events")
    assert again["status"] == "NO_NEW_DATA" and again["snapshot_id"] is None
