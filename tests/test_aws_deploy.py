"""Schema files on S3 and `leanops deploy` against AWS (--publish, --rebuilder-arn).

moto's in-process AWS: S3 for the schema files, DynamoDB for the state store (LEANOPS_STATE), Step
Functions only to record executions (moto does not run them). The lake is the default local SQL catalog:
a mixed deployment, as the deployer on a CI runner may be.
"""
from __future__ import annotations

import json
from pathlib import Path

import pytest

moto = pytest.importorskip("moto")
boto3 = pytest.importorskip("boto3")

from conftest import envelope, ingest, write_schema

from leanops.config import Settings, s3_prefix_uri, split_s3_uri
from leanops.context import Context
from leanops.errors import ConfigError, LeanOpsError, SchemaFileError
from leanops.runner import run_once
from leanops.schema import deploy as deploy_module
from leanops.schema.deploy import deploy, execution_name
from leanops.schema_file import parse_topic_schema
from leanops.types import FlowControl

pytestmark = pytest.mark.slow

REGION = "us-east-1"
BUCKET = "leanops-config"
PREFIX = f"s3://{BUCKET}/schemas/"
ROLE = "arn:aws:iam::123456789012:role/leanops-sfn"
BASE = {"topic": "events", "standardized": {"column_map": {"_metadata_idempotencykeyresource": "idempotency_key"}},
        "curated": {"columns": {"idempotency_key": {"type": "string", "cde": True},
                                "event_timestamp": {"type": "timestamp", "cde": True},
                                "qty": {"type": "int"}}}}


def changed(doc: dict, **columns) -> dict:
    new = json.loads(json.dumps(doc))
    new["curated"]["columns"].update(columns)
    return new


def event(mid: str, key: str, qty: int) -> str:
    return envelope(mid, {"_metadata": {"idempotencyKeyResource": key},
                          "event": {"timestamp": "2026-01-19T10:00:00Z"}, "qty": qty})


@pytest.fixture
def aws(monkeypatch):
    """moto's AWS with test credentials, the state store in DynamoDB, a bucket for the schema files."""
    for name, value in {"AWS_ACCESS_KEY_ID": "test", "AWS_SECRET_ACCESS_KEY": "test", "AWS_DEFAULT_REGION": REGION,
                        "AWS_REGION": REGION, "LEANOPS_STATE": f"dynamodb://leanops_?region={REGION}"}.items():
        monkeypatch.setenv(name, value)
    for name in ("AWS_PROFILE", "AWS_SESSION_TOKEN", "AWS_ENDPOINT_URL", "LEANOPS_SCHEMA_PUBLISH",
                 "LEANOPS_REBUILDER_ARN"):
        monkeypatch.delenv(name, raising=False)
    with moto.mock_aws():
        s3 = boto3.client("s3", region_name=REGION)
        s3.create_bucket(Bucket=BUCKET)
        s3.put_bucket_versioning(Bucket=BUCKET, VersioningConfiguration={"Status": "Enabled"})
        yield s3


@pytest.fixture
def s3_schemas(aws, monkeypatch):
    """The deployment reads its schema files from S3, as the Lambdas and Glue jobs do."""
    monkeypatch.setenv("LEANOPS_SCHEMAS", PREFIX.rstrip("/"))  # no trailing slash: the same prefix
    return aws


def put(s3, name: str, body: str | dict) -> None:
    s3.put_object(Bucket=BUCKET, Key=f"schemas/{name}", Body=body if isinstance(body, str) else json.dumps(body))


def published(s3, name: str = "events.json") -> dict | None:
    try:
        return json.loads(s3.get_object(Bucket=BUCKET, Key=f"schemas/{name}")["Body"].read())
    except s3.exceptions.NoSuchKey:
        return None


def versions(s3, name: str = "events.json") -> int:
    return len([v for v in s3.list_object_versions(Bucket=BUCKET, Prefix=f"schemas/{name}").get("Versions", [])
                if v["Key"] == f"schemas/{name}"])


@pytest.fixture
def rebuilder(aws):
    sfn = boto3.client("stepfunctions", region_name=REGION)
    arn = sfn.create_state_machine(name="leanops-historical-rebuilder", roleArn=ROLE, definition=json.dumps(
        {"StartAt": "Done", "States": {"Done": {"Type": "Succeed"}}}))["stateMachineArn"]
    return sfn, arn


# -- settings ----------------------------------------------------------------------------------------------
@pytest.mark.parametrize("value, uri", [
    ("s3://b/schemas/", "s3://b/schemas/"), ("s3://b/schemas", "s3://b/schemas/"), ("s3://b", "s3://b/"),
    ("s3://b/", "s3://b/"), ("s3://b/a/b//", "s3://b/a/b/"), (Path("s3://b/schemas/"), "s3://b/schemas/"),
    ("schemas", None), (Path("/srv/schemas"), None), (None, None)])
def test_s3_locations_are_normalised(value, uri):
    assert s3_prefix_uri(value) == uri


@pytest.mark.parametrize("value", ["s3://", "s3:///prefix", "s3:"])
def test_bad_s3_locations_are_config_errors(value):
    with pytest.raises(ConfigError, match="s3://bucket/prefix/"):
        s3_prefix_uri(value)


def test_settings_keep_local_schemas_and_take_s3_ones(tmp_path, monkeypatch):
    local = Settings.from_env(tmp_path / "home")
    assert local.schemas_uri is None and local.schemas_dir == tmp_path / "schemas"
    assert local.schemas_location == str(tmp_path / "schemas")
    # `--schemas s3://...` reaches Settings as a typer Path, which folds "//"
    for given in (Path("s3://my-config/schemas/"), "s3://my-config/schemas"):
        settings = Settings.from_env(tmp_path / "home", given)
        assert settings.schemas_uri == settings.schemas_location == "s3://my-config/schemas/"
        assert split_s3_uri(settings.schemas_uri) == ("my-config", "schemas/")
    monkeypatch.setenv("LEANOPS_SCHEMAS", "s3://my-config")
    assert Settings.from_env(tmp_path / "home").schemas_uri == "s3://my-config/"


# -- reading schemas from S3 ---------------------------------------------------------------------------------
def test_schemas_are_read_from_s3(s3_schemas, tmp_path):
    put(s3_schemas, "events.json", BASE)
    put(s3_schemas, "orders.yaml", "topic: orders\nstandardized: {}\n")
    put(s3_schemas, "old/clicks.json", {"topic": "clicks", "standardized": {}})  # not directly in the prefix
    put(s3_schemas, "README.md", "not a schema")
    ctx = Context.open()
    try:
        assert ctx.settings.schemas_uri == PREFIX
        assert ctx.schema("events") == parse_topic_schema(Path("events.json"), json.dumps(BASE))
        assert ctx.schema("orders").standardized is not None
        assert ctx.schema("clicks") is None and ctx.schema("nothing") is None  # the gate is closed: data waits
        copy = ctx.settings.schemas_dir
        assert copy.is_dir() and copy.parent == ctx.settings.home / "tmp"
        assert sorted(p.name for p in copy.iterdir()) == ["events.json", "orders.yaml"]
    finally:
        ctx.close()
    assert not copy.exists()  # the private copy goes with the context


def test_schema_show_reads_the_file_on_s3(s3_schemas):
    """`leanops schema show` reads an S3 prefix through the deployment's private copy, and names the S3 object
    (in the output and in its errors)."""
    from typer.testing import CliRunner

    from leanops.cli.main import app
    put(s3_schemas, "events.json", BASE)
    shown = CliRunner().invoke(app, ["schema", "show", "events", "--json"])
    assert shown.exit_code == 0, shown.output
    doc = json.loads(shown.stdout)
    assert doc["file"] == f"{PREFIX}events.json"
    assert doc["schema"]["curated"]["partition_by"] == ["day(publish_time)", "bucket(16, idempotency_key)"]
    put(s3_schemas, "events.json", changed(BASE, qty={"type": "integer"}))
    broken = CliRunner().invoke(app, ["schema", "show", "events"])
    assert isinstance(broken.exception, SchemaFileError)  # main() prints it, one `error:` line per problem, exit 2
    assert str(broken.exception).startswith(f"{PREFIX}events.json: field 'curated.columns.qty.type': unknown type "
                                            "'integer' (did you mean 'int'?)")


def test_an_invalid_s3_schema_is_the_same_clear_error(s3_schemas, tmp_path, schemas):
    bad = changed(BASE, qty={"type": "integer"})
    put(s3_schemas, "events.json", bad)
    write_schema(schemas, bad)
    local = Context.open(tmp_path / "local-home", schemas)
    with pytest.raises(SchemaFileError) as at_home:
        local.schema("events")
    local.close()
    ctx = Context.open()
    try:
        with pytest.raises(SchemaFileError) as on_s3:
            ctx.schema("events")
    finally:
        ctx.close()
    assert (on_s3.value.field, on_s3.value.problem) == (at_home.value.field, at_home.value.problem)
    assert on_s3.value.path == f"{PREFIX}events.json"  # names the object to fix, not the private copy
    assert str(on_s3.value).startswith(f"{PREFIX}events.json: field 'curated.columns.qty.type': ")
    put(s3_schemas, "events.json", "{not json")
    ctx = Context.open()
    try:
        with pytest.raises(SchemaFileError, match=rf"^{PREFIX}events.json: field '<file>': not valid JSON"):
            ctx.schema("events")
    finally:
        ctx.close()


def test_a_schema_published_later_is_seen(s3_schemas, tmp_path):
    first = Context.open()
    assert first.schema("events") is None
    put(s3_schemas, "events.json", {"topic": "events", "standardized": {}})
    second = Context.open()  # the next Lambda / Glue run
    try:
        assert second.schema("events").curated is None
        assert second.settings.schemas_dir != first.settings.schemas_dir  # one private copy per context
        put(s3_schemas, "events.json", BASE)
        third = Context.open()
        assert third.schema("events").curated is not None
        third.close()
        assert second.schema("events").curated is not None  # a long-running process too, like a local dir
        s3_schemas.delete_object(Bucket=BUCKET, Key="schemas/events.json")
        assert second.schema("events") is None and first.schema("events") is None
        put(s3_schemas, "events.yml", "topic: events\nstandardized: {}\n")
        assert first.schema("events").standardized is not None
        first.refresh_schemas()
        assert [p.name for p in first.settings.schemas_dir.iterdir()] == ["events.yml"]
    finally:
        first.close()
        second.close()


def test_the_pipeline_waits_in_raw_until_the_schema_is_on_s3(s3_schemas, tmp_path):
    ctx = Context.open()
    try:
        ingest(ctx, "events", [event("m1", "k1", 1), event("m2", "k2", 2)], tmp_path)
        [waiting] = run_once(ctx)
        assert waiting.trace[-1] == "MissingSchema" and ctx.lake.standardized_table("events") is None
        put(s3_schemas, "events.json", BASE)
        [done] = run_once(ctx)
        assert done.status.value == "SUCCEEDED", done.message
        rows = ctx.lake.curated_table("events").scan().to_arrow().to_pylist()
        assert sorted((r["idempotency_key"], r["qty"]) for r in rows) == [("k1", 1), ("k2", 2)]
    finally:
        ctx.close()


def test_an_unreadable_bucket_is_a_config_error(aws, monkeypatch):
    monkeypatch.setenv("LEANOPS_SCHEMAS", "s3://no-such-bucket/schemas/")
    with pytest.raises(ConfigError, match="s3://no-such-bucket/schemas/"):
        Context.open()


# -- deploy --publish -----------------------------------------------------------------------------------------
def test_publish_uploads_only_accepted_schemas(aws, ctx, schemas):
    assert type(ctx.state).__name__ == "DynamoStateStore"
    write_schema(schemas, BASE)
    orders = {"topic": "orders", "standardized": {}, "curated": {"merge_key": "id", "order_by": "ts", "partition_by": ["bucket(4, id)"], "columns": {
        "id": {"type": "string", "cde": True}, "ts": {"type": "timestamp"}, "amount": {"type": "decimal(18,2)"}}}}
    write_schema(schemas, orders)
    results = deploy(ctx, schemas, publish=PREFIX)
    assert [(r.topic, r.kind, r.actions[-1]) for r in results] == [
        ("events", "NEW_TABLE", f"published {PREFIX}events.json"),
        ("orders", "NEW_TABLE", f"published {PREFIX}orders.json")]
    assert published(aws) == BASE and published(aws, "orders.json") == orders
    # events evolves (accepted), orders narrows a type without declaring it (refused): only events goes up
    write_schema(schemas, changed(BASE, qty={"type": "long"}))
    narrowed = json.loads(json.dumps(orders))
    narrowed["curated"]["columns"]["amount"] = {"type": "int"}
    write_schema(schemas, narrowed)
    events, refused = deploy(ctx, schemas, publish=PREFIX)
    assert events.kind == "SCHEMA_EVOLVE" and events.actions == ["widened qty to long",
                                                                 f"published {PREFIX}events.json"]
    assert not refused.ok and "NUCLEAR_RESET" in refused.problem
    assert published(aws)["curated"]["columns"]["qty"] == {"type": "long"}
    assert published(aws, "orders.json") == orders and versions(aws, "orders.json") == 1


def test_unchanged_schemas_do_nothing(aws, ctx, schemas):
    write_schema(schemas, BASE)
    deploy(ctx, schemas, publish=PREFIX)
    (schemas / "events.json").write_text(json.dumps(BASE, indent=4))  # formatting is no change
    [again] = deploy(ctx, schemas, publish=PREFIX)
    assert (again.kind, again.actions) == (None, ["unchanged: nothing to do"])
    assert versions(aws) == 1 and len(ctx.state.list_deployments("events")) == 1


def test_an_unchanged_schema_missing_on_s3_is_published_again(aws, ctx, schemas):
    write_schema(schemas, BASE)
    deploy(ctx, schemas)  # deployed before the pipeline read S3
    [repaired] = deploy(ctx, schemas, publish=PREFIX)
    assert repaired.actions == ["unchanged", f"published {PREFIX}events.json (the published copy was missing)"]
    put(aws, "events.json", changed(BASE, qty={"type": "string"}))  # edited by hand on S3
    [repaired] = deploy(ctx, schemas, publish=PREFIX)
    assert repaired.actions[-1].endswith("(the published copy was different)") and published(aws) == BASE
    assert len(ctx.state.list_deployments("events")) == 1


def test_publishing_another_spelling_removes_the_old_one(aws, ctx, schemas):
    put(aws, "events.yaml", "topic: events\nstandardized: {}\n")
    write_schema(schemas, BASE)
    deploy(ctx, schemas, publish=PREFIX)
    names = [o["Key"] for o in aws.list_objects_v2(Bucket=BUCKET, Prefix="schemas/")["Contents"]]
    assert names == ["schemas/events.json"]  # else events.json and events.yaml: the pipeline reads .json first


def test_deploy_reads_an_s3_schema_directory(aws, ctx):
    put(aws, "events.json", BASE)
    [done] = deploy(ctx, PREFIX)
    assert done.kind == "NEW_TABLE" and ctx.lake.curated_table("events") is not None
    put(aws, "orders.json", "[]")
    with pytest.raises(SchemaFileError, match=rf"^{PREFIX}orders.json: field '<file>': must hold an object"):
        deploy(ctx, PREFIX)


def test_in_process_rebuild_pauses_before_publishing(aws, ctx, schemas, tmp_path, monkeypatch):
    write_schema(schemas, BASE)
    deploy(ctx, schemas, publish=PREFIX)
    ingest(ctx, "events", [event(f"m{i}", f"k{i}", i) for i in range(5)], tmp_path)
    run_once(ctx)
    reset = changed(BASE, qty={"type": "string"})
    reset["change"] = {"kind": "NUCLEAR_RESET", "reason": "qty is free text now"}
    write_schema(schemas, reset)
    seen = []
    upload = deploy_module.publish_schema_file
    monkeypatch.setattr(deploy_module, "publish_schema_file", lambda client, uri, path: (
        seen.append((ctx.state.get_topic("events").flow_control_flag, ctx.state.lease_holder("events"),
                     ctx.lake.curated_table("events").schema().find_field("qty").field_type.__class__.__name__)),
        upload(client, uri, path))[1])
    # an orchestrator inside the topic (it read the old schema): nothing is published, the topic stays PAUSED
    assert ctx.state.acquire_lease("events", "orchestrator-1", 60)
    with pytest.raises(LeanOpsError, match="orchestrator is processing the topic"):
        deploy(ctx, schemas, publish=PREFIX)
    assert ctx.state.get_topic("events").flow_control_flag == FlowControl.PAUSED
    assert published(aws) == BASE and seen == [] and ctx.state.last_deployment("events")["kind"] == "NEW_TABLE"
    ctx.state.release_lease("events", "orchestrator-1")
    [done] = deploy(ctx, schemas, publish=PREFIX)
    assert done.kind == "NUCLEAR_RESET" and done.actions[:2] == ["paused", f"published {PREFIX}events.json"]
    assert done.actions[2].startswith("archived old tables") and done.actions[-1] == "enabled"
    [(flag, holder, qty_type)] = seen  # published while PAUSED, under the deployer's lease, before the rebuild
    assert flag == FlowControl.PAUSED and holder and qty_type == "IntegerType"
    assert published(aws) == reset and ctx.state.get_topic("events").flow_control_flag == FlowControl.ENABLED
    rows = ctx.lake.curated_table("events").scan().to_arrow().to_pylist()
    assert len(rows) == 5 and all(isinstance(r["qty"], str) for r in rows)


# -- deploy --rebuilder-arn -------------------------------------------------------------------------------------
@pytest.mark.parametrize("kind, new", [
    ("NUCLEAR_RESET", changed(BASE, qty={"type": "string"})),
    ("PURE_REMAP", changed(BASE, qty={"type": "int", "default": "5"}))])
def test_rebuilder_arn_pauses_and_starts_one_execution(aws, rebuilder, ctx, schemas, tmp_path, monkeypatch,
                                                       kind, new):
    sfn, machine = rebuilder
    write_schema(schemas, BASE)
    deploy(ctx, schemas, publish=PREFIX, rebuilder_arn=machine)  # NEW_TABLE: nothing to rebuild
    assert sfn.list_executions(stateMachineArn=machine)["executions"] == []
    ingest(ctx, "events", [event("m1", "k1", 1)], tmp_path)
    run_once(ctx)
    new = {**new, "change": {"kind": kind, "reason": "test"}}
    write_schema(schemas, new)
    monkeypatch.setattr(deploy_module, "rebuild", lambda *a, **k: pytest.fail("rebuilt in-process"))
    at_start = []
    start = deploy_module.AwsTargets.start_rebuild
    monkeypatch.setattr(deploy_module.AwsTargets, "start_rebuild", lambda self, topic, name: (
        at_start.append((ctx.state.get_topic(topic).flow_control_flag, published(aws))), start(self, topic, name))[1])
    [done] = deploy(ctx, schemas, publish=PREFIX, rebuilder_arn=machine)
    [execution] = sfn.list_executions(stateMachineArn=machine)["executions"]
    assert done.kind == kind and done.actions == ["paused", f"published {PREFIX}events.json",
                                                  f"rebuild started: {execution['executionArn']}"]
    assert at_start == [(FlowControl.PAUSED, new)]  # paused and published before the rebuilder starts
    described = sfn.describe_execution(executionArn=execution["executionArn"])
    assert json.loads(described["input"]) == {"topic": "events"} and described["status"] == "RUNNING"
    first = ctx.state.list_deployments("events")[0]["deployment_id"]
    assert execution["name"] == execution_name("events", deploy_module.fingerprint(
        parse_topic_schema(schemas / "events.json"))[1], first)
    # the state machine rebuilds and resumes; until then the old tables and the pause stay
    assert ctx.state.get_topic("events").flow_control_flag == FlowControl.PAUSED
    assert ctx.state.get_rebuild("events") is None
    assert ctx.lake.curated_table("events").scan().to_arrow().num_rows == 1
    assert ctx.state.last_deployment("events")["kind"] == kind
    assert json.loads(ctx.state.last_deployment("events")["actions"])[-1] == done.actions[-1]
    [again] = deploy(ctx, schemas, publish=PREFIX, rebuilder_arn=machine)
    assert again.actions == ["unchanged: nothing to do"]
    assert len(sfn.list_executions(stateMachineArn=machine)["executions"]) == 1


def test_a_deploy_run_again_after_a_crash_starts_no_second_rebuild(aws, rebuilder, ctx, schemas, monkeypatch):
    sfn, machine = rebuilder
    write_schema(schemas, BASE)
    deploy(ctx, schemas, publish=PREFIX)
    reset = {**changed(BASE, qty={"type": "string"}), "change": {"kind": "NUCLEAR_RESET", "reason": "text"}}
    write_schema(schemas, reset)
    record = ctx.state.record_deployment
    monkeypatch.setattr(ctx.state, "record_deployment", lambda *a: (_ for _ in ()).throw(RuntimeError("crash")))
    with pytest.raises(RuntimeError):
        deploy(ctx, schemas, publish=PREFIX, rebuilder_arn=machine)
    monkeypatch.setattr(ctx.state, "record_deployment", record)
    [done] = deploy(ctx, schemas, publish=PREFIX, rebuilder_arn=machine)
    [execution] = sfn.list_executions(stateMachineArn=machine)["executions"]
    assert done.actions[-1] == f"rebuild started: {execution['executionArn']}"


def test_the_cli_takes_publish_and_rebuilder_arn_from_the_environment(aws, rebuilder, schemas, monkeypatch):
    from typer.testing import CliRunner

    from leanops.cli.main import app
    sfn, machine = rebuilder
    write_schema(schemas, BASE)
    monkeypatch.setenv("LEANOPS_SCHEMA_PUBLISH", PREFIX)
    monkeypatch.setenv("LEANOPS_REBUILDER_ARN", machine)
    runner = CliRunner()
    first = runner.invoke(app, ["deploy", "--json"])
    assert first.exit_code == 0, first.output
    assert json.loads(first.stdout)[0]["actions"][-1] == f"published {PREFIX}events.json"
    write_schema(schemas, {**changed(BASE, qty={"type": "string"}), "change": {"kind": "NUCLEAR_RESET",
                                                                               "reason": "text"}})
    second = runner.invoke(app, ["deploy", "--json", "--publish", f"s3://{BUCKET}/elsewhere"])
    assert second.exit_code == 0, second.output
    [arn] = [e["executionArn"] for e in sfn.list_executions(stateMachineArn=machine)["executions"]]
    assert json.loads(second.stdout)[0]["actions"] == ["paused", f"published s3://{BUCKET}/elsewhere/events.json",
                                                       f"rebuild started: {arn}"]


def test_bad_targets_are_refused_before_anything_changes(aws, rebuilder, ctx, schemas):
    _, machine = rebuilder
    write_schema(schemas, BASE)
    with pytest.raises(ConfigError, match="--publish"):
        deploy(ctx, schemas, publish="/srv/schemas")
    with pytest.raises(ConfigError, match="state machine ARN"):
        deploy(ctx, schemas, publish=PREFIX, rebuilder_arn="arn:aws:lambda:us-east-1:123456789012:function:x")
    with pytest.raises(ConfigError, match="add --publish"):
        deploy(ctx, schemas, rebuilder_arn=machine)
    assert ctx.state.get_topic("events") is None and published(aws) is None


def test_execution_names_are_valid_for_step_functions():
    name = execution_name("t" * 100, "ab" * 32, 12345678901234567890)
    assert len(name) == 80 and name.endswith("-after-12345678901234567890-abababababab")
    assert execution_name("events", "0" * 64, None) == "events-after-0-000000000000"


# -- the command line against an AWS endpoint (moto's server): the settings a CI job would have -------------------
def test_cli_deploys_and_runs_against_an_endpoint(tmp_path, schemas, monkeypatch):
    from conftest import run_cli, write_lines
    from moto.server import ThreadedMotoServer
    server = ThreadedMotoServer(port=0, verbose=False)
    server.start()
    try:
        host, port = server.get_host_and_port()
        url = f"http://{host}:{port}"
        env = {"AWS_ACCESS_KEY_ID": "test", "AWS_SECRET_ACCESS_KEY": "test", "AWS_DEFAULT_REGION": REGION,
               "AWS_REGION": REGION, "LEANOPS_AWS_ENDPOINT": url,
               "LEANOPS_STATE": f"dynamodb://leanops_?region={REGION}&endpoint={url}"}
        for name in ("AWS_PROFILE", "AWS_SESSION_TOKEN", "AWS_ENDPOINT_URL"):
            monkeypatch.delenv(name, raising=False)
        boto3.client("s3", endpoint_url=url, region_name=REGION, aws_access_key_id="test",
                     aws_secret_access_key="test").create_bucket(Bucket=BUCKET)
        write_schema(schemas, BASE)
        deployed = run_cli("deploy", str(schemas), "--publish", PREFIX, "--json", env=env)
        assert deployed.returncode == 0, deployed.stderr
        assert json.loads(deployed.stdout)[0]["actions"][-1] == f"published {PREFIX}events.json"
        events = write_lines(tmp_path / "events.ndjson", [event("m1", "k1", 7)])
        (tmp_path / "runner-home").mkdir()
        on_aws = {**env, "LEANOPS_HOME": str(tmp_path / "runner-home")}  # another host: only S3 has the schema
        assert run_cli("ingest", "--topic", "events", str(events), "--json", env=on_aws).returncode == 0
        ran = run_cli("run", "--once", "--json", "--schemas", PREFIX, env=on_aws)
        assert ran.returncode == 0, ran.stderr
        rows = run_cli("sql", "SELECT idempotency_key, qty FROM curated.events", "--json",
                       "--schemas", PREFIX, env=on_aws)
        assert rows.returncode == 0, rows.stderr
        assert json.loads(rows.stdout) == [{"idempotency_key": "k1", "qty": 7}]
    finally:
        server.stop()
