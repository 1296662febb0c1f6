"""What a user meets before any data: help texts, every option described, --home checked, counts in English.

In-process through typer's runner (the help and the option checks need no deployment); the exit code and
the one error line of a missing home through a fresh interpreter, as the user runs it.
"""
from __future__ import annotations

import re

import pytest
import typer.main
from typer.testing import CliRunner

from conftest import cli_imports
from leanops.cli.main import app
from leanops.cli.output import counted
from leanops.errors import LeanOpsError

CREATES_ITS_HOME = {("init",), ("demo",)}  # every other command wants an existing --home


def _walk(command, path: tuple[str, ...] = ()):
    yield path, command
    for name, sub in sorted(getattr(command, "commands", {}).items()):
        yield from _walk(sub, (*path, name))


COMMANDS = list(_walk(typer.main.get_command(app)))


def test_the_walk_sees_every_command():
    paths = {" ".join(path) for path, _ in COMMANDS}
    assert {"", "ingest", "run", "status", "topics", "topics deactivate", "errors", "errors replay", "files stats",
            "aws render", "watch", "serve", "maintain", "demo"} <= paths


def test_every_option_and_argument_has_a_description():
    undescribed = [f"leanops {' '.join(path)} {param.name}".replace("  ", " ")
                   for path, command in COMMANDS for param in command.params
                   if not (getattr(param, "help", "") or "").strip()]
    assert undescribed == []


@pytest.mark.parametrize("path", [path for path, _ in COMMANDS], ids=lambda p: " ".join(p) or "leanops")
def test_help_shows_no_bool_metavar(path):
    shown = CliRunner().invoke(app, [*path, "--help"])
    assert shown.exit_code == 0, shown.output
    assert "<bool>" not in shown.output and "Usage:" in shown.output


def test_help_keeps_square_brackets():
    for command in ("run", "rebuild"):
        shown = CliRunner().invoke(app, [command, "--help"])
        unwrapped = re.sub(r"-\s+", "-", " ".join(shown.output.split()))  # click wraps lines, also after a hyphen
        assert "lean-ops[spark]" in unwrapped, shown.output


def test_every_command_but_init_and_demo_refuses_a_home_that_does_not_exist(tmp_path):
    typo = tmp_path / "typo"
    checked = []
    for path, command in COMMANDS:
        if path in CREATES_ITS_HOME or not any(p.name == "home" for p in command.params):
            continue
        done = CliRunner().invoke(app, [*path, "--home", str(typo)])
        assert isinstance(done.exception, LeanOpsError), (path, done.output, done.exception)
        assert str(done.exception) == (f"--home {typo} does not exist: `leanops init --home {typo}` creates a "
                                       "deployment there"), path
        checked.append(" ".join(path))
    assert {"status", "ingest", "run", "errors", "errors replay", "files stats", "watch", "serve", "maintain",
            "topics", "topics activate", "sql", "deploy"} <= set(checked)
    assert not typo.exists()


def test_init_creates_the_home_it_is_pointed_at(tmp_path):
    fresh = tmp_path / "new-home"
    done = CliRunner().invoke(app, ["init", "--home", str(fresh), "--json"])
    assert done.exit_code == 0, done.output
    assert (fresh / "state.db").is_file() and (fresh / "catalog.db").is_file()


@pytest.mark.parametrize("args, env, message", [
    (["status", "--home", "{typo}"], {}, "error: --home {typo} does not exist: `leanops init --home {typo}` creates"),
    (["errors"], {"LEANOPS_HOME": "{typo}"}, "error: LEANOPS_HOME={typo} does not exist"),
    (["accountability", "--home", "{file}"], {}, "error: --home {file} is not a directory"),
])
def test_a_missing_home_is_one_line_exit_2_before_the_heavy_imports(tmp_path, args, env, message):
    typo, file = tmp_path / "typo", tmp_path / "a-file"
    file.write_text("not a home")

    def fill(text: str) -> str:
        return text.format(typo=typo, file=file)

    done = cli_imports([fill(a) for a in args], cwd=tmp_path, env={k: fill(v) for k, v in env.items()})
    assert done.exit_code == 2 and done.heavy == [], done.output
    stdout, _, rest = done.output.partition("\nEXIT 2")  # cli_imports: stdout, the exit line, then stderr
    assert stdout.strip() == "" and rest.count("\n") <= 1, done.output  # one line, on stderr
    assert rest.startswith(fill(message)), done.output
    assert not typo.exists()


@pytest.mark.parametrize("count, noun, plural, text", [
    (0, "line", None, "0 lines"), (1, "line", None, "1 line"), (2, "line", None, "2 lines"),
    (1, "DLQ row", None, "1 DLQ row"), (3, "dlq error", None, "3 dlq errors"),
    (1, "entry", "entries", "1 entry"), (2, "entry", "entries", "2 entries"),
])
def test_counts_are_in_english(count, noun, plural, text):
    assert counted(count, noun, plural) == text
