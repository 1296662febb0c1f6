"""Text or JSON output for every command: commands build data, this module prints it.

Rich is imported on the first table or console line (`console`, `err_console` are made on first use), so a
command that prints JSON, or a usage error, does not load it.
"""
from __future__ import annotations

import csv
import json
import sys
from typing import TYPE_CHECKING, Any, Iterable, Sequence

if TYPE_CHECKING:
    from rich.console import Console

    console: Console
    err_console: Console


def __getattr__(name: str) -> Any:
    """`console` and `err_console`, made on first use. Piped output (CI logs, files) is not wrapped at 80
    columns."""
    if name not in ("console", "err_console"):
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    from rich.console import Console
    stream = sys.stderr if name == "err_console" else sys.stdout
    made = Console(stderr=name == "err_console") if stream.isatty() else \
        Console(stderr=name == "err_console", width=160)
    globals()[name] = made
    return made


def emit_json(data: Any) -> None:
    sys.stdout.write(json.dumps(data, indent=2, default=str, ensure_ascii=False) + "\n")


def emit_table(title: str, columns: Sequence[str], rows: Iterable[Sequence[Any]]) -> None:
    from rich.table import Table
    from rich.text import Text
    table = Table(title=title, title_justify="left")
    for column in columns:
        table.add_column(Text(str(column)), overflow="fold")
    for row in rows:  # cells are data, never rich markup: "[/x]" must print as it is
        table.add_row(*[Text("" if v is None else str(v)) for v in row])
    _console("console").print(table)


def emit_csv(columns: Sequence[str], rows: Iterable[Sequence[Any]]) -> None:
    """RFC 4180 CSV with a header row; None is an empty field."""
    writer = csv.writer(sys.stdout, lineterminator="\n")
    writer.writerow(columns)
    writer.writerows(["" if v is None else v for v in row] for row in rows)


def counted(count: int, noun: str, plural: str | None = None) -> str:
    """"1 line", "2 lines", "0 lines": a count with its noun in the right number (`plural` when not noun + s)."""
    return f"{count} {noun if count == 1 else plural or noun + 's'}"


def empty_home_hint(home: str, schemas: str, as_json: bool) -> None:
    """What to do in a home that has no topic yet, instead of empty tables: on stdout, or on stderr beside
    --json (whose output stays an empty list)."""
    message = (f"no topics yet in {home}. To start:\n"
               f"  leanops init --home {home}\n"
               f"  write {schemas}/<topic>.json, the topic's schema file (docs/schema-files.md)\n"
               f"  leanops ingest --home {home} --topic <topic> FILE.ndjson")
    if as_json:
        note(message)
    else:
        _console("console").print(message, highlight=False, markup=False, soft_wrap=True)


def note(message: str) -> None:
    """A remark about the output (e.g. truncation) on stderr, so piped stdout stays clean."""
    _console("err_console").print(message, highlight=False, markup=False, soft_wrap=True)


def fail(message: str) -> None:
    """An error on stderr; each line of one with several (a schema file's problems) reads `error: ...`."""
    from rich.markup import escape
    for line in message.splitlines() or [""]:
        _console("err_console").print(f"[red]error:[/red] {escape(line)}", highlight=False, markup=True,
                                      soft_wrap=True)


def _console(name: str) -> Console:
    """`console` or `err_console`, made when this is its first use."""
    return globals()[name] if name in globals() else __getattr__(name)
