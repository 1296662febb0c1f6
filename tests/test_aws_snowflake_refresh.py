"""Snowflake refresh Lambda on moto (Secrets Manager, real Iceberg tables) and export-ddl's CLUSTER BY.

Snowflake itself is not reachable here: the handler's `connect` is replaced by one that records the SQL a
real connection would run. The event parsing, the secret, the name checks and the SQL are the real ones.
"""
from __future__ import annotations

import json

import pytest

boto3 = pytest.importorskip("boto3")
moto = pytest.importorskip("moto")

from conftest import run_cli, write_schema  # noqa: E402
from leanops.aws import clients  # noqa: E402
from leanops.aws.lambdas import snowflake_refresh  # noqa: E402
from leanops.ddl import export_ddl, relative_metadata_path  # noqa: E402
from leanops.errors import ConfigError  # noqa: E402
from leanops.refresh import FanoutRefreshHook, LambdaRefreshHook, RefreshEvent, hook_from_env  # noqa: E402
from leanops.schema_file import TopicSchema  # noqa: E402
from test_refresh_ddl import append_row, semantic_events  # noqa: E402

REGION = "us-east-1"
SECRET = {"account": "xy12345.eu-west-1", "user": "LEANOPS_REFRESH", "password": "s3cret", "role": "LEANOPS",
          "warehouse": "REFRESH_WH", "unrelated": "ignored"}


@pytest.fixture
def aws(monkeypatch):
    for name, value in {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing",
                        "AWS_DEFAULT_REGION": REGION, "AWS_REGION": REGION}.items():
        monkeypatch.setenv(name, value)
    for name in ("AWS_PROFILE", "AWS_SESSION_TOKEN", "LEANOPS_SNOWFLAKE_DATABASE", "LEANOPS_SNOWFLAKE_SCHEMA",
                 "LEANOPS_SNOWFLAKE_STORAGE_BASE_URL", "LEANOPS_REFRESH_WEBHOOK", "LEANOPS_REFRESH_LAMBDA"):
        monkeypatch.delenv(name, raising=False)
    clients.reset()
    with moto.mock_aws():
        arn = clients.client("secretsmanager").create_secret(Name="leanops/snowflake",
                                                             SecretString=json.dumps(SECRET))["ARN"]
        monkeypatch.setenv("LEANOPS_SNOWFLAKE_SECRET_ARN", arn)
        yield arn
    clients.reset()


class Recorder:
    """A DB-API connection that keeps what it was asked to run (what snowflake.connector would send)."""

    def __init__(self, settings: dict) -> None:
        self.settings, self.statements, self.closed = settings, [], False

    def cursor(self):
        return self

    def execute(self, command: str) -> None:
        self.statements.append(command)

    def close(self) -> None:
        self.closed = True


def connector(opened: list[Recorder]):
    def connect(settings: dict) -> Recorder:
        opened.append(Recorder(settings))
        return opened[-1]
    return connect


def stream_record(topic: str, event: str = "INSERT", column: str = "coupon") -> dict:
    """One record of the drift log's DynamoDB stream (NEW_IMAGE)."""
    image = {"topic": {"S": topic}, "column_kind": {"S": f"{column}#undeclared_column"},
             "column_name": {"S": column}, "kind": {"S": "undeclared_column"}}
    return {"eventID": "1", "eventName": event, "eventSource": "aws:dynamodb", "awsRegion": REGION,
            "dynamodb": {"Keys": {k: image[k] for k in ("topic", "column_kind")}, "NewImage": image,
                         "StreamViewType": "NEW_IMAGE"}}


def test_drift_stream_refreshes_each_topic_once_with_the_secrets_connection(aws, ctx, monkeypatch):
    table = semantic_events(ctx)
    append_row(table, "k1")
    table = ctx.lake.load("semantic.events")
    monkeypatch.setenv("LEANOPS_SNOWFLAKE_DATABASE", "ANALYTICS")
    opened: list[Recorder] = []
    event = {"Records": [stream_record("events"), stream_record("events", column="promo"),
                         stream_record("orders"),  # no semantic table yet
                         stream_record('x"; DROP TABLE y; --'),  # from data: never reaches SQL
                         stream_record("events", event="REMOVE")]}

    result = snowflake_refresh.handler(event, None, connect=connector(opened))

    statement = f"""ALTER ICEBERG TABLE "ANALYTICS"."SEMANTIC"."EVENTS" REFRESH '{relative_metadata_path(table)}';"""
    assert result["refreshed"] == [{"topic": "events", "statement": statement}]
    assert [s["topic"] for s in result["skipped"]] == ["orders", 'x"; DROP TABLE y; --']
    assert "no table semantic.orders" in result["skipped"][0]["reason"]
    assert "invalid topic name" in result["skipped"][1]["reason"]
    [connection] = opened
    assert connection.statements == [statement] and connection.closed
    assert connection.settings == SECRET  # read from Secrets Manager
    assert {k: v for k, v in SECRET.items() if k in snowflake_refresh.CONNECT_KEYS} == \
        {k: v for k, v in SECRET.items() if k != "unrelated"}


def test_refresh_events_and_webhook_bodies_follow_the_new_metadata(aws, ctx, monkeypatch):
    table = semantic_events(ctx)
    append_row(table, "k1")
    append_row(ctx.lake.load("semantic.events"), "k2")
    table = ctx.lake.load("semantic.events")
    root = table.location().rstrip("/").rsplit("/", 2)[0] + "/"
    monkeypatch.setenv("LEANOPS_SNOWFLAKE_STORAGE_BASE_URL", root)
    refresh_event = RefreshEvent.of("events", table, schema_changed=False, records_written=1).as_dict()
    as_body = {"body": json.dumps(refresh_event), "isBase64Encoded": False, "requestContext": {}}
    opened: list[Recorder] = []
    for event in (refresh_event, as_body):
        result = snowflake_refresh.handler(event, None, connect=connector(opened))
        assert result["skipped"] == []
        assert result["refreshed"][0]["statement"].endswith(
            f"REFRESH '{table.location()[len(root):].rstrip('/')}/{relative_metadata_path(table)}';")
    assert len(opened) == 2

    nothing: list[Recorder] = []  # only skipped topics: no connection is opened at all
    assert snowflake_refresh.handler({"topic": "orders"}, None, connect=connector(nothing))["refreshed"] == []
    assert nothing == []
    with pytest.raises(ValueError, match="not a refresh event"):
        snowflake_refresh.topics_of({"hello": "world"})


def test_a_failing_statement_raises_so_the_stream_retries(aws, ctx):
    semantic_events(ctx)

    class Down(Recorder):
        def execute(self, command: str) -> None:
            raise RuntimeError("Snowflake unavailable")

    opened: list[Recorder] = []

    def connect(settings: dict) -> Recorder:
        opened.append(Down(settings))
        return opened[-1]

    with pytest.raises(RuntimeError, match="unavailable"):
        snowflake_refresh.handler({"Records": [stream_record("events")]}, None, connect=connect)
    assert opened[0].closed


def test_secret_and_settings_are_checked(aws, ctx, monkeypatch):
    sm = clients.client("secretsmanager")
    sm.create_secret(Name="not-json", SecretString="account=x")
    sm.create_secret(Name="no-user", SecretString=json.dumps({"account": "x"}))
    for name in ("not-json", "no-user"):
        with pytest.raises(ConfigError, match="secret"):
            snowflake_refresh.read_secret(sm, name)
    monkeypatch.delenv("LEANOPS_SNOWFLAKE_SECRET_ARN")
    with pytest.raises(ConfigError, match="LEANOPS_SNOWFLAKE_SECRET_ARN"):
        snowflake_refresh.handler({"topic": "events"}, None, connect=connector([]))
    monkeypatch.setenv("LEANOPS_SNOWFLAKE_SCHEMA", 'S"; DROP SCHEMA x; --')
    semantic_events(ctx)
    with pytest.raises(ValueError, match="schema"):
        snowflake_refresh.refresh(ctx.lake, ["events"], lambda: Recorder({}),
                                  snowflake_refresh.Target.from_env())


def test_the_lambda_hook_invokes_the_refresh_function(aws, ctx, monkeypatch):
    table = semantic_events(ctx)
    event = RefreshEvent.of("events", table, schema_changed=True, records_written=0)
    calls = []
    monkeypatch.setattr(clients.client("lambda"), "invoke", lambda **kwargs: calls.append(kwargs))
    monkeypatch.setenv("LEANOPS_REFRESH_LAMBDA", "leanops-snowflake-refresh")
    hook = hook_from_env()
    assert isinstance(hook, FanoutRefreshHook) and isinstance(hook.hooks[-1], LambdaRefreshHook)
    hook.refreshed(event)
    [call] = calls
    assert call["FunctionName"] == "leanops-snowflake-refresh" and call["InvocationType"] == "Event"
    assert snowflake_refresh.topics_of(json.loads(call["Payload"])) == ["events"]


# -- export-ddl: CLUSTER BY ------------------------------------------------------------------------------
SEMANTIC_DOC = {"topic": "events", "standardized": {},
                "curated": {"merge_key": "idempotency_key", "order_by": "publish_time",
                            "columns": {"idempotency_key": {"type": "string", "cde": True}}},
                "semantic": {"columns": {"quantity": {"type": "long"}, "score": {"type": "double"}},
                             "cluster_by": ["quantity", "idempotency_key"]}}


def test_cluster_by_is_validated_against_the_semantic_columns():
    assert TopicSchema.model_validate(SEMANTIC_DOC).semantic.cluster_by == ["quantity", "idempotency_key"]
    for bad, message in ((["device_id"], "'device_id' is not a semantic column"), ([], "one or more"),
                         (["quantity", "quantity"], "distinct")):
        doc = json.loads(json.dumps(SEMANTIC_DOC))
        doc["semantic"]["cluster_by"] = bad
        with pytest.raises(ValueError, match=message):
            TopicSchema.model_validate(doc)


def test_export_ddl_clusters_the_snowflake_table(ctx, schemas, tmp_path):
    table = semantic_events(ctx)
    append_row(table, "k1")
    ddl = export_ddl(ctx.lake, ["events"], "snowflake", cluster_by={"events": ["quantity", "idempotency_key"]})
    create = ddl.index("CREATE ICEBERG TABLE")
    cluster = ddl.index('ALTER ICEBERG TABLE "LAKEHOUSE"."SEMANTIC"."EVENTS" '
                        'CLUSTER BY ("quantity", "idempotency_key");')
    assert create < cluster < ddl.index("REFRESH")
    assert "CLUSTER BY" not in export_ddl(ctx.lake, ["events"], "snowflake")
    with pytest.raises(ValueError, match="not in semantic.events"):
        export_ddl(ctx.lake, ["events"], "snowflake", cluster_by={"events": ["device_id"]})
    with pytest.raises(ValueError, match="column"):
        export_ddl(ctx.lake, ["events"], "snowflake", cluster_by={"events": ['score"); DROP TABLE x; --']})

    write_schema(schemas, SEMANTIC_DOC)  # the CLI reads semantic.cluster_by from the schema file
    done = run_cli("export-ddl", "--target", "snowflake", "--topic", "events")
    assert done.returncode == 0, done.stderr
    assert 'CLUSTER BY ("quantity", "idempotency_key");' in done.stdout
    assert "CLUSTER BY" not in run_cli("export-ddl", "--target", "athena").stdout
