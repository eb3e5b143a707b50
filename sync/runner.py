"""``partnersync run``: the daemon in one process, and ``partnersync scheduler`` alone.

With ``[queue] broker = "memory"`` (the embedded default) one process holds everything:
the in-process broker and its worker threads, the scheduler and the HTTP API. With a
``redis://`` broker the workers are separate ``dramatiq worker`` processes (on as many
machines as wanted) and ``partnersync run`` keeps the scheduler and the API::

    with Runner(settings, factory) as runner:     # started
        runner.wait()                             # until runner.stop() (SIGTERM, SIGINT)

Stopping is graceful: the scheduler stops ticking, a pull under way stops after the page
it is on is committed, the workers finish their current message, the API its requests.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from contextlib import ExitStack
from types import TracebackType
from typing import Self

from sqlalchemy.orm import Session, sessionmaker

from sync.actors import Actors, declare, in_process, make_broker
from sync.crm import CrmLink
from sync.daemon import Daemon
from sync.log import get_logger
from sync.scheduler import Scheduler
from sync.settings import Settings

__all__ = ["Runner"]

log = get_logger("sync.runner")


class Runner:
    """The daemon of ``settings`` over the store of ``factory``: workers (in-process
    broker only), scheduler and, with ``api``, the HTTP API on ``[api] host:port``
    (``api_port`` overrides the port; 0: a free one)."""

    def __init__(
        self,
        settings: Settings,
        factory: sessionmaker[Session],
        *,
        api: bool = True,
        api_port: int | None = None,
        configured: Sequence[CrmLink] | None = None,
    ) -> None:
        self.settings = settings
        self.factory = factory
        self.embedded = settings.queue.broker == "memory"
        self._stop = threading.Event()
        broker = make_broker(settings)
        self.actors: Actors = declare(broker, lambda: self.daemon)
        self.daemon = Daemon(
            settings,
            factory,
            send=self.actors.send,
            configured=configured,
            stopping=self._stop.is_set,
        )
        self.scheduler = Scheduler(self.daemon)
        self.api = api
        self.api_port = settings.api.port if api_port is None else api_port
        self.api_url: str | None = None
        self._stack = ExitStack()

    def __enter__(self) -> Self:
        try:
            self._start()
        except BaseException:
            self._stack.close()
            raise
        return self

    def _start(self) -> None:
        if self.embedded:
            # The in-process queue starts empty: no message waits for a trigger a
            # previous process left waiting, so none of them is left waiting either.
            self.daemon.jobs.forget_waiting()
            self._stack.enter_context(in_process(self.actors, threads=self.settings.queue.threads))
        if self.api:
            from sync.api.app import create_app
            from sync.api.serve import serving

            app = create_app(self.settings, factory=self.factory, hooks=lambda: self.daemon)
            host = self.settings.api.host
            self.api_url = self._stack.enter_context(serving(app, host, self.api_port))
        self.scheduler.start()
        self._stack.callback(self.scheduler.shutdown)
        log.info("daemon.started", crms=self.daemon.crms, api=self.api_url,
                 broker="memory" if self.embedded else "redis")  # fmt: skip

    def stop(self) -> None:
        """Ask the daemon to stop (from a signal handler or another thread)."""
        self._stop.set()

    def wait(self, timeout: float | None = None) -> bool:
        """Block until :meth:`stop` (True) or ``timeout`` seconds (False)."""
        return self._stop.wait(timeout)

    def __exit__(
        self,
        kind: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self._stop.set()
        log.info("daemon.stopping")
        # Callbacks run last in, first out: the scheduler stops, the API, then the workers.
        self._stack.close()
        log.info("daemon.stopped")
