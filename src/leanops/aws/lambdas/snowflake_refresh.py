"""Snowflake refresh (seed 004 section 4): point Snowflake's Iceberg tables at semantic.<topic>'s new metadata.

    LEANOPS_SNOWFLAKE_SECRET_ARN        Secrets Manager secret: a JSON object of connection settings
                                        (account, user, password or private_key, role, warehouse, ...)
    LEANOPS_SNOWFLAKE_DATABASE          database of the Iceberg tables (default LAKEHOUSE)
    LEANOPS_SNOWFLAKE_SCHEMA            their schema (default SEMANTIC)
    LEANOPS_SNOWFLAKE_STORAGE_BASE_URL  the external volume's STORAGE_BASE_URL (default: each table's location)

Triggers: the drift log's DynamoDB stream (a new drift entry: Semantic has seen its upstream change), and
a refresh event (`leanops.refresh.RefreshEvent`: `LambdaRefreshHook` invokes this function after each
Semantic commit, and a webhook receiver can forward the POSTed body, raw or as a function-URL event).
Each topic is refreshed once per invocation with `leanops.ddl.snowflake_refresh_sql`, the statement
`leanops export-ddl --target snowflake` prints. Topic names come from data: a name that is not a valid
topic, or a topic without a semantic table, is reported in `skipped` with the reason and never reaches
SQL. A Snowflake error raises, so the stream retries the batch. snowflake-connector-python is needed
only here, and imported only when the function connects (docs/aws-lambdas.md).
"""
from __future__ import annotations

import base64
import dataclasses
import json
import logging
import os
from collections.abc import Callable, Iterable
from typing import Any, Protocol

from leanops.errors import ConfigError, InvalidTopicNameError
from leanops.types import validate_topic

SECRET_ENV = "LEANOPS_SNOWFLAKE_SECRET_ARN"  # nosec B105  # the name of an environment variable, not a secret
DATABASE_ENV = "LEANOPS_SNOWFLAKE_DATABASE"
SCHEMA_ENV = "LEANOPS_SNOWFLAKE_SCHEMA"
STORAGE_ENV = "LEANOPS_SNOWFLAKE_STORAGE_BASE_URL"
# what snowflake.connector.connect may receive from the secret; anything else in it is ignored
CONNECT_KEYS = ("account", "user", "password", "private_key", "private_key_file", "private_key_file_pwd",
                "authenticator", "role", "warehouse", "host", "region", "login_timeout", "network_timeout")
log = logging.getLogger("leanops.aws.snowflake_refresh")


class Cursor(Protocol):
    def execute(self, command: str) -> Any: ...


class Connection(Protocol):
    """The DB-API subset the refresh uses; snowflake.connector's connection is one."""

    def cursor(self) -> Cursor: ...

    def close(self) -> None: ...


@dataclasses.dataclass(frozen=True)
class Target:
    """Where the Snowflake Iceberg tables live (the options of `leanops export-ddl --target snowflake`)."""

    database: str = "LAKEHOUSE"
    schema: str = "SEMANTIC"
    storage_base_url: str | None = None

    @classmethod
    def from_env(cls) -> Target:
        return cls(os.environ.get(DATABASE_ENV) or cls.database, os.environ.get(SCHEMA_ENV) or cls.schema,
                   os.environ.get(STORAGE_ENV) or None)


def topics_of(event: dict) -> list[str]:
    """The topics an event asks to refresh, in order, once each (names unchecked: they come from data)."""
    if isinstance(event.get("body"), str):  # a function URL / API Gateway request carrying the webhook body
        body = base64.b64decode(event["body"]) if event.get("isBase64Encoded") else event["body"]
        event = json.loads(body)
    found: list[str] = []
    if "Records" in event:  # DynamoDB stream: new drift entries only (the log is insert-only)
        for record in event["Records"]:
            image = record.get("dynamodb", {}).get("NewImage", {})
            if record.get("eventName") == "INSERT" and "S" in image.get("topic", {}):
                found.append(image["topic"]["S"])
    elif "topic" in event:  # RefreshEvent.as_dict(), or {"topic": "..."} from an operator
        found.append(event["topic"])
    else:
        raise ValueError("not a refresh event: expected DynamoDB stream Records, a RefreshEvent or a body")
    return list(dict.fromkeys(str(t) for t in found))


def read_secret(secrets, secret_id: str) -> dict:
    """The connection settings: a JSON object in the secret's SecretString."""
    value = secrets.get_secret_value(SecretId=secret_id)
    try:
        settings = json.loads(value["SecretString"])
    except (KeyError, ValueError) as exc:
        raise ConfigError(f"secret {secret_id} must hold a JSON object of Snowflake connection settings") from exc
    if not isinstance(settings, dict) or not settings.get("account") or not settings.get("user"):
        raise ConfigError(f"secret {secret_id} must name at least the Snowflake account and user")
    return settings


def connect_snowflake(settings: dict) -> Connection:
    """snowflake.connector.connect with the secret's known keys; the connector is imported only here."""
    try:
        import snowflake.connector
    except ImportError as exc:
        raise ConfigError("the Snowflake refresh needs snowflake-connector-python in the function's layer") from exc
    return snowflake.connector.connect(**{k: v for k, v in settings.items() if k in CONNECT_KEYS})


def refresh(lake, topics: Iterable[str], open_connection: Callable[[], Connection], target: Target) -> dict:
    """One REFRESH per topic with a semantic table, the others skipped with the reason. The connection is
    opened at the first statement (none when there is nothing to refresh) and closed at the end."""
    from leanops.ddl import snowflake_refresh_sql
    refreshed, skipped = [], []
    connection, cursor = None, None
    try:
        for topic in topics:
            try:
                table = lake.load(f"semantic.{validate_topic(topic)}")
            except InvalidTopicNameError as exc:
                skipped.append({"topic": topic, "reason": str(exc)})
                continue
            if table is None:
                skipped.append({"topic": topic, "reason": f"no table semantic.{topic} yet: nothing to refresh"})
                continue
            sql = snowflake_refresh_sql(table, database=target.database, schema=target.schema,
                                        storage_base_url=target.storage_base_url)
            if cursor is None:
                connection = open_connection()
                cursor = connection.cursor()
            cursor.execute(sql)
            refreshed.append({"topic": topic, "statement": sql})
    finally:
        if connection is not None:
            connection.close()
    return {"refreshed": refreshed, "skipped": skipped}


def handler(event, context, connect: Callable[[dict], Connection] = connect_snowflake) -> dict:
    """`connect` turns the secret's settings into a connection (tests pass one that records the SQL)."""
    from leanops.aws import clients
    from leanops.context import Context
    topics = topics_of(event)
    secret_id = os.environ.get(SECRET_ENV)
    if not secret_id:
        raise ConfigError(f"{SECRET_ENV} is not set: the Secrets Manager secret with the Snowflake connection")
    ctx = Context.open()
    try:
        result = refresh(ctx.lake, topics, lambda: connect(read_secret(clients.client("secretsmanager"), secret_id)),
                         Target.from_env())
    finally:
        ctx.close()
    log.info(json.dumps(result))
    return result
