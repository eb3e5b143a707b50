"""``partnersync run`` and the daemon's other faces, as their issue lands."""

from __future__ import annotations

from sync.cli.app import app
from sync.cli.common import not_built

__all__: list[str] = []


@app.command()
def run() -> None:
    """The daemon: scheduler + workers (+ HTTP API)."""
    not_built("run", "the queue-driven daemon")


@app.command()
def scheduler() -> None:
    """The periodic triggers alone (multi-machine set-ups)."""
    not_built("scheduler", "the scheduler")


@app.command()
def status() -> None:
    """Last pull and push per CRM, backlog, quarantine, quota, locks."""
    not_built("status", "the daemon's status")
