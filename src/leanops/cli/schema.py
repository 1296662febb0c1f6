"""`leanops schema ...`: topic schema files. `show` prints the schema in force, every default filled in.

A missing or broken file is answered before DuckDB, Arrow or PyIceberg are imported (docs/cli.md): the
file's form is checked first, and only a well-formed file has its defaults cast (the casting rules).
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import Optional

import typer

from leanops.cli import output
from leanops.errors import LeanOpsError

schema_app = typer.Typer(no_args_is_help=True, help="Topic schema files: show the schema in force.")


@schema_app.command("show")
def show(topic: str = typer.Argument(..., metavar="TOPIC", help="the topic, or the path of a schema file "
                                                                "(.json, .yaml, .yml)"),
         home: Optional[Path] = typer.Option(None, "--home", envvar="LEANOPS_HOME",
                                             help="deployment home (default ./.leanops)"),
         schemas: Optional[Path] = typer.Option(None, "--schemas", envvar="LEANOPS_SCHEMAS",
                                                help="schema directory (default ./schemas)"),
         as_json: bool = typer.Option(False, "--json", help="machine-readable output")) -> None:
    """The topic's effective schema: every field in force, from the file or a default, and what a default
    follows (the partitioning follows the merge key, a semantic column comes from the curated column of its
    name, ...). Exit 2 when the file is missing or invalid, with every problem it has."""
    from leanops.config import Settings
    from leanops.schema.effective import document, effective_fields
    settings = Settings.from_env(home, schemas)
    schema, label = _load(topic, settings, home, schemas)
    fields = effective_fields(schema, settings.maintenance)
    if as_json:
        output.emit_json({"topic": schema.topic, "file": label, "schema": document(fields),
                          "fields": [f.as_dict() for f in fields]})
        return
    output.emit_table(f"{schema.topic}: the schema in force ({label})", ("field", "value", "from", "why"),
                      [(f.field, _text(f.value), f.source, f.note) for f in fields])


def _load(topic: str, settings, home: Optional[Path], schemas: Optional[Path]):
    """(the schema, the file's name for people): a file's form first, then its defaults' casts."""
    from leanops.schema_file import SCHEMA_SUFFIXES, parse_topic_schema, schema_path
    from leanops.types import validate_topic
    candidate = Path(topic)
    if candidate.suffix in SCHEMA_SUFFIXES:
        if not candidate.is_file():
            raise LeanOpsError(f"no such file: {topic}")
        return _parse_twice(parse_topic_schema, candidate, None), str(candidate)
    validate_topic(topic)
    if settings.schemas_uri is None:
        path = schema_path(settings.schemas_dir, topic)
        if path is None:
            raise LeanOpsError(f"no schema file for topic {topic!r} in {settings.schemas_dir} ({topic}.json, "
                               ".yaml or .yml): its data waits in RAW")
        return _parse_twice(parse_topic_schema, path, None), str(path)
    from leanops.context import Context  # schema files on S3: read through the deployment's private copy
    ctx = Context.open(home, schemas, lake=False)
    try:
        ctx.refresh_schemas()
        path = schema_path(ctx.settings.schemas_dir, topic)
        if path is None:
            raise LeanOpsError(f"no schema file for topic {topic!r} under {settings.schemas_uri}")
        return _parse_twice(parse_topic_schema, path, settings.schemas_uri), f"{settings.schemas_uri}{path.name}"
    finally:
        ctx.close()


def _parse_twice(parse, path: Path, origin: Optional[str]):
    parse(path, origin=origin, form_only=True)  # a broken file is answered before the casting rules load
    return parse(path, origin=origin)


def _text(value) -> str:
    if value is None:
        return "(none)"
    return value if isinstance(value, str) else json.dumps(value)
