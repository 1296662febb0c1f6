"""Text or JSON output for every command: commands build data, this module prints it."""
from __future__ import annotations

import csv
import json
import sys
from typing import Any, Iterable, Sequence

from rich.console import Console
from rich.markup import escape
from rich.table import Table
from rich.text import Text

# Piped output (CI logs, files) is not wrapped at 80 columns.
console = Console() if sys.stdout.isatty() else Console(width=160)
err_console = Console(stderr=True) if sys.stderr.isatty() else Console(stderr=True, width=160)


def emit_json(data: Any) -> None:
    sys.stdout.write(json.dumps(data, indent=2, default=str, ensure_ascii=False) + "\n")


def emit_table(title: str, columns: Sequence[str], rows: Iterable[Sequence[Any]]) -> None:
    table = Table(title=title, title_justify="left")
    for column in columns:
        table.add_column(Text(str(column)), overflow="fold")
    for row in rows:  # cells are data, never rich markup: "[/x]" must print as it is
        table.add_row(*[Text("" if v is None else str(v)) for v in row])
    console.print(table)


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
        console.print(message, highlight=False, markup=False, soft_wrap=True)


def note(message: str) -> None:
    """A remark about the output (e.g. truncation) on stderr, so piped stdout stays clean."""
    err_console.print(message, highlight=False, markup=False, soft_wrap=True)


def fail(message: str) -> None:
    """An error on stderr; each line of one with several (a schema file's problems) reads `error: ...`."""
    for line in message.splitlines() or [""]:
        err_console.print(f"[red]error:[/red] {escape(line)}", highlight=False, markup=True, soft_wrap=True)
