"""`leanops aws ...`: artifacts for the AWS runtime (Step Functions definitions)."""
from __future__ import annotations

import json
from pathlib import Path
from typing import Optional

import typer

from leanops.cli import output
from leanops.cli.options import HelpGroup
from leanops.errors import ConfigError

aws_app = typer.Typer(no_args_is_help=True, cls=HelpGroup,
                      help="AWS runtime artifacts: Step Functions definitions (ASL).")


@aws_app.command()
def render(out: Path = typer.Option(..., "--out", help="directory for the *.asl.json files (created when missing)"),
           values: Optional[Path] = typer.Option(
               None, "--values", help="JSON file {placeholder: value} to write concrete definitions instead of "
                                      "Terraform templates (e.g. for `aws stepfunctions create-state-machine`)"),
           job_retry_interval: int = typer.Option(60, "--job-retry-interval",
                                                  help="seconds before the first retry of a failed Glue run"),
           as_json: bool = typer.Option(False, "--json", help="machine-readable output")) -> None:
    """Write the Step Functions definitions generated from the orchestrator's flow.

    Without --values the files are Terraform templates (`${alerts_topic_arn}` ...), listed per file in
    placeholders.json; infra/terraform reads them with templatefile().
    """
    substitutions = None
    if values is not None:
        try:
            substitutions = json.loads(values.read_text())
        except (OSError, json.JSONDecodeError) as exc:
            raise ConfigError(f"--values {values}: {exc}") from exc
        if not isinstance(substitutions, dict) or not all(isinstance(v, str) for v in substitutions.values()):
            raise ConfigError(f"--values {values}: expected a JSON object of strings")
    from leanops.aws.stepfunctions import RenderOptions, placeholders, render_all, write_all
    options = RenderOptions(job_retry_interval_seconds=job_retry_interval)
    written = write_all(out, options, substitutions)
    templates = render_all(options)
    rows = [(p.name, ", ".join(placeholders(templates[p.name])) if p.name in templates else "")
            for p in written]
    if as_json:
        output.emit_json({"out": str(out.absolute()), "files": [{"file": f, "placeholders": v.split(", ") if v else []}
                                                                for f, v in rows]})
    else:
        output.emit_table(f"Step Functions definitions in {out}", ("file", "placeholders"), rows)
