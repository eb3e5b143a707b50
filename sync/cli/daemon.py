"""``partnersync run`` (the daemon), ``partnersync scheduler`` (its triggers alone) and
``partnersync status`` (what it is doing)."""

from __future__ import annotations

import signal
import threading
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Annotated, Any

import typer

from sync.cli.app import app
from sync.cli.common import FormatOption, check_format, echo_sections, load, open_store
from sync.settings import ConfigError

__all__: list[str] = []


def _on_signals(stop: Callable[[], None]) -> None:
    """SIGTERM and SIGINT stop gracefully (a second SIGINT is Python's KeyboardInterrupt)."""

    def handler(signum: int, _: Any) -> None:
        typer.echo(f"{signal.Signals(signum).name}: stopping after the current page "
                   "or batch", err=True)  # fmt: skip
        stop()
        signal.signal(signal.SIGINT, signal.default_int_handler)

    signal.signal(signal.SIGTERM, handler)
    signal.signal(signal.SIGINT, handler)


@app.command()
def run(
    api: Annotated[
        bool, typer.Option("--api/--no-api", help="Serve the HTTP API on [api] host:port.")
    ] = True,
    port: Annotated[int | None, typer.Option(help="The API's port instead of [api] port.")] = None,
) -> None:
    """The daemon: scheduler + workers (+ HTTP API) until SIGTERM or Ctrl-C.

    With the in-process queue (``[queue] broker = "memory"``) its worker threads run here;
    with Redis, run ``dramatiq worker worker`` processes beside it."""
    from sync.runner import Runner

    settings = load(default_level="info")
    runner = Runner(settings, open_store(settings), api=api, api_port=port)
    _on_signals(runner.stop)
    with runner:
        where = f", API on {runner.api_url}" if runner.api_url else ""
        workers = (f"{settings.queue.threads} worker threads" if runner.embedded
                   else "workers: dramatiq worker processes on Redis")  # fmt: skip
        typer.echo(f"partnersync running: {', '.join(runner.daemon.crms) or 'no CRM'}, "
                   f"{workers}{where} (Ctrl-C stops)", err=True)  # fmt: skip
        runner.wait()


@app.command()
def scheduler() -> None:
    """The periodic triggers alone (multi-machine set-ups, with a Redis broker)."""
    from sync.actors import declare, make_broker
    from sync.daemon import Daemon
    from sync.scheduler import Scheduler

    settings = load(default_level="info")
    if settings.queue.broker == "memory":
        raise ConfigError(
            "partnersync scheduler sends triggers to workers in other processes: it needs "
            '[queue] broker = "redis://..." (with the in-process queue, partnersync run '
            "includes the scheduler)"
        )
    factory = open_store(settings)
    holder: dict[str, Daemon] = {}
    actors = declare(make_broker(settings), lambda: holder["daemon"])
    holder["daemon"] = daemon = Daemon(settings, factory, send=actors.send)
    ticking = Scheduler(daemon)
    stopped = threading.Event()
    _on_signals(stopped.set)
    ticking.start()
    typer.echo(f"partnersync scheduler: {', '.join(daemon.crms) or 'no CRM'} every "
               f"{settings.sync.interval_seconds} s (Ctrl-C stops)", err=True)  # fmt: skip
    try:
        stopped.wait()
    finally:
        ticking.shutdown()


@app.command()
def status(fmt: FormatOption = "table") -> None:
    """Last pull and push per CRM, backlog, quarantine, locks held."""
    from sync.status import daemon_status

    settings = load()
    fmt = check_format(fmt)
    facts = daemon_status(open_store(settings), now=datetime.now(UTC))
    titles = {"jobs": "jobs (last run, lock, waiting trigger)",
              "crms": "per CRM: write-back backlog, quarantine, watermark"}  # fmt: skip
    echo_sections([(name, rows) for name, rows in facts.items()], fmt, titles=titles)
