"""A progress line for pulls on a terminal: records, total and percentage when the CRM
says how many are coming, rate, API calls; silent off a terminal.

The line redraws itself ten times a second (rate and elapsed time move even while one
page is being read); the pull updates the counts after each stored page.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING

from rich.progress import (
    BarColumn,
    Progress,
    ProgressColumn,
    SpinnerColumn,
    Task,
    TaskProgressColumn,
    TextColumn,
    TimeElapsedColumn,
)
from rich.text import Text

if TYPE_CHECKING:
    from sync.mirror.pull import PullReport

__all__ = ["pull_progress"]


class _Records(ProgressColumn):
    """``12,000 / 100,000 records`` (or ``12,000 records`` while the total is unknown)."""

    def render(self, task: Task) -> Text:
        done = int(task.completed)
        if task.total is None:
            return Text(f"{done:,} records")
        return Text(f"{done:,} / {int(task.total):,} records")


class _Rate(ProgressColumn):
    """Records per second since the pull began, recomputed at every redraw."""

    def render(self, task: Task) -> Text:
        elapsed = task.elapsed or 0.0
        return Text(f"{task.completed / elapsed:,.0f}/s" if elapsed > 0 else "-/s")


@contextmanager
def pull_progress(label: str) -> Iterator[Callable[[PullReport], None] | None]:
    """Yields an ``on_progress`` callback that updates a progress line, or None off a TTY."""
    if not sys.stderr.isatty():
        yield None
        return
    columns = (
        SpinnerColumn(),
        TextColumn("[bold]{task.description}"),
        BarColumn(bar_width=20),
        TaskProgressColumn(),
        _Records(),
        _Rate(),
        TextColumn("{task.fields[calls]} calls"),
        TimeElapsedColumn(),
    )
    with Progress(*columns, transient=False, refresh_per_second=10) as progress:
        task = progress.add_task(label, total=None, calls=0)

        def on_progress(report: PullReport) -> None:
            total = report.total if report.total and report.total >= report.read else None
            progress.update(task, completed=report.read, total=total, calls=report.api_calls)

        yield on_progress
