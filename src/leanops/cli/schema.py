"""`leanops schema ...`: topic schema files. `suggest` writes one from what Standardized holds."""
from __future__ import annotations

import sys
from pathlib import Path
from typing import Optional

import typer

from leanops.cli import output

HomeOpt = typer.Option(None, "--home", envvar="LEANOPS_HOME", help="deployment home (default ./.leanops)")
SchemasOpt = typer.Option(None, "--schemas", envvar="LEANOPS_SCHEMAS", help="schema directory (default ./schemas)")
JsonOpt = typer.Option(False, "--json", help="machine-readable output: the inference with its reasons, and the file")

schema_app = typer.Typer(no_args_is_help=True, help="Topic schema files: suggest one from the data.")


@schema_app.command("suggest")
def suggest(topic: str = typer.Argument(..., help="topic whose standardized.<topic> table is read"),
            output_file: Optional[str] = typer.Option(
                None, "--output", "-o", metavar="FILE",
                help="file to write (default: the topic's schema file, else <schemas>/<topic>.json); - prints it"),
            force: bool = typer.Option(False, "--force", help="replace an existing file (its sections other than "
                                                              "curated are kept)"),
            sample_rows: int = typer.Option(100_000, "--sample-rows", min=1,
                                            help="rows profiled at most (a seeded random sample)"),
            home: Optional[Path] = HomeOpt, schemas: Optional[Path] = SchemasOpt, as_json: bool = JsonOpt) -> None:
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
