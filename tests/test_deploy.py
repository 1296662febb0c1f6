"""The deployer: NEW_TABLE, SCHEMA_EVOLVE, NUCLEAR_RESET, refusals, idempotence, audit trail."""
import json

import pytest

from conftest import envelope, ingest, run_cli, write_schema
from leanops.schema.deploy import deploy
from leanops.stages.accountability import topic_accounts
from leanops.runner import run_once
from leanops.types import FlowControl

pytestmark = pytest.mark.slow

BASE = {"topic": "events", "standardized": {"column_map": {"_metadata_idempotencykeyresource": "idempotency_key"}},
        "curated": {"columns": {"idempotency_key": {"type": "string", "cde": True},
                                "event_timestamp": {"type": "timestamp", "cde": True},
                                "qty": {"type": "int"}}}}


def event(mid, key, qty):
    return envelope(mid, {"_metadata": {"idempotencyKeyResource": key},
                          "event": {"timestamp": "2026-01-19T10:00:00Z"}, "qty": qty, "note": "n"})


def test_new_table_then_idempotent(ctx, schemas):
    write_schema(schemas, BASE)
    [first] = deploy(ctx, schemas, deployed_by="ci")
    assert first.kind == "NEW_TABLE" and first.ok
    assert ctx.state.get_topic("events").flow_control_flag == FlowControl.ENABLED
    assert ctx.lake.curated_table("events").schema().find_field("qty").field_type.__class__.__name__ == "IntegerType"
    [again] = deploy(ctx, schemas)
    assert again.kind is None and again.actions == ["unchanged: nothing to do"]
    [record] = ctx.state.list_deployments("events")
    assert (record["kind"], record["deployed_by"]) == ("NEW_TABLE", "ci")


def test_default_partitioning_written_out_is_no_change(ctx, schemas):
    """The fingerprint holds the partitioning in force, as earlier versions stored it: a file that writes
    the default out deploys as unchanged, and one with another merge key hashes its own default."""
    write_schema(schemas, BASE)
    deploy(ctx, schemas)
    explicit = json.loads(json.dumps(BASE))
    explicit["curated"]["partition_by"] = ["day(publish_time)", "bucket(16, idempotency_key)"]
    write_schema(schemas, explicit)
    assert deploy(ctx, schemas)[0].actions == ["unchanged: nothing to do"]
    [record] = ctx.state.list_deployments("events")
    stored = json.loads(record["schema_json"])
    assert stored["curated"]["partition_by"] == ["day(publish_time)", "bucket(16, idempotency_key)"]
    from leanops.schema.deploy import fingerprint
    from leanops.schema_file import TopicSchema
    keyed = json.loads(json.dumps(BASE))
    keyed["curated"].update(merge_key="qty")
    text, _ = fingerprint(TopicSchema.model_validate(keyed))
    assert json.loads(text)["curated"]["partition_by"] == ["day(publish_time)", "bucket(16, qty)"]


def test_schema_evolve_in_place(ctx, schemas, tmp_path):
    write_schema(schemas, BASE)
    deploy(ctx, schemas)
    ingest(ctx, "events", [event("m1", "k1", 1)], tmp_path)
    run_once(ctx)
    evolved = json.loads(json.dumps(BASE))
    evolved["curated"]["columns"]["qty"] = {"type": "long"}
    evolved["curated"]["columns"]["score"] = {"type": "double"}
    write_schema(schemas, evolved)
    [done] = deploy(ctx, schemas)
    assert done.kind == "SCHEMA_EVOLVE" and "widened qty to long" in done.actions and any("score" in a for a in done.actions)
    table = ctx.lake.curated_table("events")
    assert table.schema().find_field("qty").field_type.__class__.__name__ == "LongType"
    assert table.scan().to_arrow().to_pylist()[0]["qty"] == 1  # data kept, no rebuild
    assert deploy(ctx, schemas)[0].actions == ["unchanged: nothing to do"]


def test_nuclear_reset_must_be_declared_and_then_rebuilds(ctx, schemas, tmp_path):
    write_schema(schemas, BASE)
    deploy(ctx, schemas)
    ingest(ctx, "events", [event(f"m{i}", f"k{i}", i) for i in range(20)], tmp_path)
    run_once(ctx)
    narrowed = json.loads(json.dumps(BASE))
    narrowed["curated"]["columns"]["qty"] = {"type": "string"}
    write_schema(schemas, narrowed)
    refused = run_cli("deploy", "--json")
    assert refused.returncode == 1
    assert "NUCLEAR_RESET" in json.loads(refused.stdout)[0]["problem"]
    narrowed["change"] = {"kind": "NUCLEAR_RESET", "reason": "qty is free text now"}
    write_schema(schemas, narrowed)
    [done] = deploy(ctx, schemas)
    assert done.kind == "NUCLEAR_RESET" and any(a.startswith("archived") for a in done.actions)
    assert ctx.state.get_topic("events").flow_control_flag == FlowControl.ENABLED
    rows = ctx.lake.curated_table("events").scan().to_arrow().to_pylist()
    assert len(rows) == 20 and all(isinstance(r["qty"], str) for r in rows)
    assert all(a.ok for a in topic_accounts(ctx.lake, "events"))
    assert deploy(ctx, schemas)[0].actions == ["unchanged: nothing to do"]


def _reset_pending(ctx, schemas, tmp_path) -> dict:
    """events deployed with 20 rows; the next schema file declares a NUCLEAR_RESET."""
    write_schema(schemas, BASE)
    deploy(ctx, schemas)
    ingest(ctx, "events", [event(f"m{i}", f"k{i}", i) for i in range(20)], tmp_path)
    run_once(ctx)
    narrowed = json.loads(json.dumps(BASE))
    narrowed["curated"]["columns"]["qty"] = {"type": "string"}
    narrowed["change"] = {"kind": "NUCLEAR_RESET", "reason": "qty is free text now"}
    write_schema(schemas, narrowed)
    return narrowed


def _archives(ctx) -> list[str]:
    return sorted(".".join(i) for n in ("standardized", "curated") for i in ctx.lake.catalog.list_tables(n)
                  if "_archive_" in i[-1])


def test_deploy_killed_after_its_rebuild_does_not_rebuild_again(ctx, schemas, tmp_path):
    """Killed after the rebuild, before the deployment is recorded: the rerun sees the rebuild under this
    very schema and records the deployment, without archiving and replaying a second time."""
    _reset_pending(ctx, schemas, tmp_path)
    died = run_cli("deploy", env={"LEANOPS_FAULT": "deploy-after-apply"})
    assert died.returncode == 75, died.stdout + died.stderr
    assert ctx.state.last_deployment("events")["kind"] == "NEW_TABLE"
    archives = _archives(ctx)
    assert len(archives) == 2

    [again] = deploy(ctx, schemas)
    assert again.kind == "NUCLEAR_RESET" and any(a.startswith("rebuilt from RAW already") for a in again.actions)
    assert _archives(ctx) == archives  # no second archive
    assert ctx.state.last_deployment("events")["kind"] == "NUCLEAR_RESET"
    assert ctx.state.get_topic("events").flow_control_flag == FlowControl.ENABLED
    assert len(ctx.lake.curated_table("events").scan().to_arrow()) == 20
    assert all(a.ok for a in topic_accounts(ctx.lake, "events"))


def test_deploy_killed_inside_its_rebuild_resumes_it(ctx, schemas, tmp_path):
    """Killed once the archive renamed every table away: the topic has no live table, yet the rerun
    resumes the rebuild (not a NEW_TABLE that would leave the topic PAUSED)."""
    _reset_pending(ctx, schemas, tmp_path)
    died = run_cli("deploy", env={"LEANOPS_FAULT": "rebuild-after-renames"})
    assert died.returncode == 75, died.stdout + died.stderr
    assert ctx.lake.standardized_table("events") is None and ctx.lake.curated_table("events") is None
    suffix = ctx.state.get_rebuild("events")["archive_suffix"]

    again = run_cli("deploy", "--json")
    assert again.returncode == 0, again.stdout + again.stderr
    assert f"archived old tables as *_{suffix}" in json.loads(again.stdout)[0]["actions"]
    assert ctx.state.get_topic("events").flow_control_flag == FlowControl.ENABLED
    rows = ctx.lake.curated_table("events").scan().to_arrow().to_pylist()
    assert len(rows) == 20 and all(isinstance(r["qty"], str) for r in rows)
    assert all(a.ok for a in topic_accounts(ctx.lake, "events"))


def test_table_properties_curated_auto_evolves_semantic_is_strict(ctx, schemas, tmp_path):
    """Seed 004 §3, read back from the tables: set at create, and by deploy on a table made without them."""
    doc = {**BASE, "semantic": {"columns": {"qty": {"type": "int"}}}}
    write_schema(schemas, doc)
    deploy(ctx, schemas)
    ingest(ctx, "events", [event("m1", "k1", 1)], tmp_path)
    run_once(ctx)
    curated, semantic = ctx.lake.curated_table("events"), ctx.lake.semantic_table("events")
    assert curated.metadata.properties["schema.auto-evolve"] == "true"
    assert semantic.metadata.properties["schema.auto-evolve"] == "false"
    assert deploy(ctx, schemas)[0].actions == ["unchanged: nothing to do"]

    for table in (curated, semantic):  # tables made before the property existed
        with table.transaction() as txn:
            txn.remove_properties("schema.auto-evolve")
    assert "schema.auto-evolve" not in ctx.lake.curated_table("events").metadata.properties
    [done] = deploy(ctx, schemas)
    assert done.actions == ["unchanged", "set curated.events properties schema.auto-evolve=true",
                            "set semantic.events properties schema.auto-evolve=false"]
    assert ctx.lake.curated_table("events").metadata.properties["schema.auto-evolve"] == "true"
    assert ctx.lake.semantic_table("events").metadata.properties["schema.auto-evolve"] == "false"
    assert deploy(ctx, schemas)[0].actions == ["unchanged: nothing to do"]

    with ctx.lake.curated_table("events").transaction() as txn:  # an evolving deploy sets them as well
        txn.remove_properties("schema.auto-evolve")
    evolved = json.loads(json.dumps(doc))
    evolved["curated"]["columns"]["score"] = {"type": "double"}
    write_schema(schemas, evolved)
    [done] = deploy(ctx, schemas)
    assert done.kind == "SCHEMA_EVOLVE" and "set curated.events properties schema.auto-evolve=true" in done.actions
    assert ctx.lake.curated_table("events").metadata.properties["schema.auto-evolve"] == "true"


def test_period_reference_example_of_the_docs(ctx, schemas, tmp_path):
    """docs/schema-files.md's period_reference schema deploys and runs: both zones partition by it first."""
    import re
    from pathlib import Path
    from pyiceberg.transforms import IdentityTransform
    page = (Path(__file__).parents[1] / "docs" / "schema-files.md").read_text(encoding="utf-8")
    section = page[page.index("## `period_reference`"):]
    doc = json.loads(re.search(r"```json\n(.*?)```", section, re.S).group(1))
    write_schema(schemas, doc)
    assert deploy(ctx, schemas)[0].ok
    ingest(ctx, "trades", [
        envelope("m1", {"idempotency_key": "k1", "event_timestamp": "2026-01-19T10:00:00Z", "period_reference": "2026-01"}),
        envelope("m2", {"idempotency_key": "k2", "event_timestamp": "2026-01-19T11:00:00Z", "period_reference": "2025-12"}),
        envelope("m3", {"idempotency_key": "k3", "event_timestamp": "2026-01-19T12:00:00Z"}),  # no period: a CDE error
    ], tmp_path)
    run_once(ctx)
    for table in (ctx.lake.curated_table("trades"), ctx.lake.semantic_table("trades")):
        first = table.spec().fields[0]
        assert (table.schema().find_column_name(first.source_id), type(first.transform)) == \
            ("period_reference", IdentityTransform)
        assert [f.name for f in table.spec().fields] == ["period_reference", "publish_time_day",
                                                         "idempotency_key_bucket_16"]
        rows = {r["idempotency_key"]: r["period_reference"] for r in table.scan().to_arrow().to_pylist()}
        assert rows == {"k1": "2026-01", "k2": "2025-12"}
        periods = {t.file.partition[0] for t in table.scan(row_filter="period_reference = '2026-01'").plan_files()}
        assert periods == {"2026-01"}  # one period's query plans that period's files only
    errors = ctx.lake.curated_errors_table().scan().to_arrow().to_pylist()
    assert [(e["message_id"], e["column_name"]) for e in errors] == [("m3", "period_reference")]
    assert all(a.ok for a in topic_accounts(ctx.lake, "trades"))
