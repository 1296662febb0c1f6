"""The options every command shares (--home, --schemas, --json), defined once, and the help's command list.

`--home` (or $LEANOPS_HOME) must name an existing directory: a mistyped path would otherwise open a new,
empty deployment there and answer from it, silently. Only `leanops init` creates a home it is pointed at
(`InitHomeOpt`); without --home and $LEANOPS_HOME every command still uses ./.leanops, created on first use.
The check runs while the arguments are parsed, before a command imports anything heavy.
"""
from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer
from typer.core import TyperGroup

from leanops.errors import LeanOpsError

HOME_HELP = "deployment home, an existing directory (default ./.leanops; `leanops init` creates one)"


def existing_home(ctx: typer.Context, param: typer.CallbackParam, value: Optional[Path]) -> Optional[Path]:
    """--home / $LEANOPS_HOME names a directory that exists, or the command stops with one line (exit 2)."""
    if value is None or ctx.resilient_parsing or value.is_dir():
        return value
    source = ctx.get_parameter_source(param.name)  # click's ParameterSource (typer may vendor click: by name)
    from_env = getattr(source, "name", "") == "ENVIRONMENT"
    named = f"LEANOPS_HOME={value}" if from_env else f"--home {value}"
    if value.exists():
        raise LeanOpsError(f"{named} is not a directory")
    raise LeanOpsError(f"{named} does not exist: `leanops init --home {value}` creates a deployment there")


HomeOpt = typer.Option(None, "--home", envvar="LEANOPS_HOME", callback=existing_home, help=HOME_HELP)
InitHomeOpt = typer.Option(None, "--home", envvar="LEANOPS_HOME",
                           help="deployment home to create or check (default ./.leanops)")
SchemasOpt = typer.Option(None, "--schemas", envvar="LEANOPS_SCHEMAS", help="schema directory (default ./schemas)")
JsonOpt = typer.Option(False, "--json", help="machine-readable output")


class HelpGroup(TyperGroup):
    """A command group whose help lists each sub-command with its first sentence whole, wrapped: click's
    plain help (leanops.cli.main says why it is plain) cuts it at one line ("Run the pipeline for...")."""

    def get_help_option(self, ctx):
        """The help option with the default it means (False): typer coerces a default of None through
        pydantic on every call, so a mistyped command would import pydantic to answer."""
        option = super().get_help_option(ctx)
        if option is not None and option.default is None:
            option.default = False
        return option

    def format_commands(self, ctx, formatter) -> None:
        rows = [(name, command.get_short_help_str(limit=1_000)) for name in self.list_commands(ctx)
                if (command := self.get_command(ctx, name)) is not None and not command.hidden]
        if rows:
            with formatter.section("Commands"):
                formatter.write_dl(rows)
