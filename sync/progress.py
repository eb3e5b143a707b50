"""A progress bar for pulls on a terminal (records and rate); silent otherwise."""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING

from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

if TYPE_CHECKING:
    from sync.pull import PullReport

__all__ = ["pull_progress"]


@contextmanager
def pull_progress(label: str) -> Iterator[Callable[[PullReport], None] | None]:
    """Yields an ``on_page`` callback that updates a rich progress line, or None off a TTY."""
    if not sys.stderr.isatty():
        yield None
        return
    columns = (
        SpinnerColumn(),
        TextColumn("[bold]{task.description}"),
        TextColumn("{task.completed:,} records"),
        TextColumn("{task.fields[rate]:,.0f}/s"),
        TextColumn("{task.fields[calls]} calls"),
        TimeElapsedColumn(),
    )
    with Progress(*columns, transient=False) as progress:
        task = progress.add_task(label, total=None, rate=0.0, calls=0)

        def on_page(report: PullReport) -> None:
            elapsed = progress.tasks[task].elapsed or 0.0
            rate = report.read / elapsed if elapsed else 0.0
            progress.update(task, completed=report.read, rate=rate, calls=report.api_calls)

        yield on_page
