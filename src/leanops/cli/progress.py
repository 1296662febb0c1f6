"""A progress bar on a terminal, silence elsewhere (pipes, CI, --json)."""
from __future__ import annotations

import contextlib
import sys
from typing import Callable, Iterator

from rich.progress import BarColumn, DownloadColumn, Progress, TextColumn, TimeRemainingColumn, TransferSpeedColumn


@contextlib.contextmanager
def byte_progress(label: str, total: int | None, enabled: bool = True) -> Iterator[Callable[[int], None]]:
    if not (enabled and sys.stderr.isatty()):
        yield lambda n: None
        return
    columns = [TextColumn(label), BarColumn(), DownloadColumn(), TransferSpeedColumn(), TimeRemainingColumn()]
    with Progress(*columns, transient=True) as progress:
        task = progress.add_task(label, total=total)
        pending = [0]

        def advance(n: int) -> None:
            pending[0] += n
            if pending[0] >= 1 << 20:  # redraw per MiB, not per line
                progress.advance(task, pending[0])
                pending[0] = 0

        yield advance


@contextlib.contextmanager
def row_progress(label: str, total: int | None, enabled: bool = True) -> Iterator[Callable[[int], None]]:
    """A bar of rows processed (rebuilds), shown only on a terminal."""
    if not (enabled and sys.stderr.isatty()):
        yield lambda n: None
        return
    with Progress(TextColumn(label), BarColumn(), TextColumn("{task.completed:,}/{task.total:,} rows"),
                  TimeRemainingColumn(), transient=True) as progress:
        task = progress.add_task(label, total=total)
        yield lambda n: progress.advance(task, n)
