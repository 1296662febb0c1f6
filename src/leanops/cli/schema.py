"""`leanops schema ...`: topic schema files. `show` prints the schema in force, every default filled in;
`suggest` writes one from what Standardized holds.

A missing or broken file is answered before DuckDB, Arrow or PyIceberg are imported (docs/cli.md): the
file's form is checked first, and only a well-formed file has its defaults cast (the casting rules).
"""
from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Optional

import typer

from leanops.cli import output
from leanops.cli.options import HelpGroup, HomeOpt, SchemasOpt
from leanops.errors import LeanOpsError

schema_app = typer.Typer(no_args_is_help=True, cls=HelpGroup,
                         help="Topic schema files: show the schema in force, or suggest one from the data.")


@schema_app.command("show")
def show(topic: str = typer.Argument(..., metavar="TOPIC", help="the topic, or the path of a schema file "
                                                                "(.json, .yaml, .yml)"),
         home: Optional[Path] = HomeOpt, schemas: Optional[Path] = SchemasOpt,
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


@schema_app.command("suggest")
def suggest(topic: str = typer.Argument(..., help="topic whose standardized.<topic> table is read"),
            output_file: Optional[str] = typer.Option(
                None, "--output", "-o", metavar="FILE",
                help="file to write (default: the topic's schema file, else <schemas>/<topic>.json); - prints it"),
            force: bool = typer.Option(False, "--force", help="replace an existing file (its sections other than "
                                                              "curated are kept)"),
            sample_rows: int = typer.Option(100_000, "--sample-rows", min=1,
                                            help="rows profiled at most (a seeded random sample)"),
            home: Optional[Path] = HomeOpt, schemas: Optional[Path] = SchemasOpt, as_json: bool = typer.Option(
                False, "--json", help="machine-readable output: the inference with its reasons, and the file")) -> None:
    """Suggest a schema file for a topic from the values in standardized.<topic>: a type per column (one every
    sampled value casts to, by Curated's own rules), the merge key, the order-by column and the CDEs."""
    from leanops.config import Settings
    from leanops.schema.suggest_file import check_free, render_document, target_path, write_text
    from leanops.types import validate_topic
    validate_topic(topic)  # usage errors and a refused overwrite answer before DuckDB, Arrow and PyIceberg load
    path = target_path(Settings.from_env(home, schemas), topic, output_file)
    if path is not None:
        check_free(path, force)
    from leanops.context import Context
    from leanops.schema.suggest import suggest_curated
    ctx = Context.open(home, schemas)
    try:
        suggestion = suggest_curated(ctx.lake, ctx.settings, topic, sample_rows)
        ctx.schema(topic)  # on S3: brings the topic's current file into the local copy read below
        text = render_document(ctx.settings.schemas_dir, topic, suggestion.curated_section(),
                               path.suffix if path else ".json")
    finally:
        ctx.close()
    if path is not None:
        write_text(path, text, force)
    if as_json:
        output.emit_json({**suggestion.as_dict(), "file": str(path) if path else None, "text": text})
    elif path is None:
        sys.stdout.write(text)
        output.note(f"standardized.{topic}: sampled {suggestion.sampling}")
    else:
        _print(suggestion, path)


def _print(suggestion, path: Path) -> None:
    output.console.print(f"standardized.{suggestion.topic}: sampled {suggestion.sampling}", highlight=False,
                         markup=False)
    output.emit_table("suggested columns", ("column", "type", "cde", "values", "missing", "distinct", "why"),
                      [(c.name, c.type, "yes" if c.cde else "", c.values, c.missing, c.distinct, c.reason)
                       for c in suggestion.columns])
    for label, choice in (("merge key", suggestion.merge_key), ("order by", suggestion.order_by)):
        output.console.print(f"{label}: {choice.column} ({choice.reason})", highlight=False, markup=False)
    cdes = suggestion.cde_candidates
    output.console.print(f"CDE candidates, never missing in the sample (\"cde\": true): {', '.join(cdes) or 'none'}",
                         highlight=False, markup=False, soft_wrap=True)
    for skipped in suggestion.skipped:
        output.console.print(f"not declared: {skipped.column} ({skipped.reason})", highlight=False, markup=False)
    output.console.print(f"wrote {path}: review it, then `leanops deploy` and `leanops run --once`",
                         highlight=False, markup=False)
