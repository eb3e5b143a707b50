"""dramatiq actors and the broker they run on.

``[queue] broker = "memory"`` is an in-process broker whose worker threads run inside
``partnersync run``; a ``redis://`` URL is dramatiq's Redis broker, served by separate
``dramatiq worker`` processes (``worker.py`` calls :func:`setup` on import)::

    broker = make_broker(settings)
    actors = declare(broker, lambda: daemon)     # the Daemon is made on first use
    actors.trigger("pull", "salesforce")        # or daemon.trigger(...): coalesced

The queue carries triggers only (``pull salesforce``): each actor decodes its message,
calls one :class:`~sync.daemon.Daemon` job and logs one line. The job's state is in the
store, so a flushed queue loses nothing. dramatiq retries failures with backoff; errors
no retry can mend (:data:`~sync.daemon.NOT_RETRIED`) are not retried, and a CRM's rate
limit retries the message after the wait the CRM asked for.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import dramatiq
import dramatiq.middleware
import structlog
from dramatiq.brokers.stub import StubBroker

from connectors.errors import QuotaExhausted, RateLimited
from sync.daemon import JOBS, NOT_RETRIED, Daemon
from sync.log import get_logger
from sync.settings import Settings

__all__ = ["Actors", "declare", "in_process", "make_broker", "setup"]

log = get_logger("sync.actors")

QUEUE = "partnersync"
#: A run may take long (a first full pull of a large org): dramatiq's default limit of
#: 10 minutes would interrupt it between two statements.
TIME_LIMIT_MS = 6 * 3600 * 1000


def make_broker(settings: Settings) -> dramatiq.Broker:
    """The broker ``[queue] broker`` names: in-process (``memory``) or Redis."""
    url = settings.queue.broker
    broker: dramatiq.Broker
    if url == "memory":
        broker = StubBroker()
    else:
        from dramatiq.brokers.redis import RedisBroker

        broker = RedisBroker(url=url)  # type: ignore[no-untyped-call]
    broker.add_middleware(dramatiq.middleware.CurrentMessage())  # its id in the log lines
    return broker


@dataclass
class Actors:
    """The daemon's actors on one broker; :meth:`trigger` is :meth:`Daemon.trigger`."""

    broker: dramatiq.Broker
    pull: dramatiq.Actor[..., None]
    push: dramatiq.Actor[..., None]
    expire_registrations: dramatiq.Actor[..., None]
    schedule_payouts: dramatiq.Actor[..., None]
    daemon: Callable[[], Daemon]

    def send(self, job: str, *args: str) -> None:
        """Queue ``job``'s message, unconditionally (see :meth:`trigger`)."""
        getattr(self, job).send(*args)

    def trigger(self, job: str, *args: str) -> bool:
        return self.daemon().trigger(job, *args)


def declare(broker: dramatiq.Broker, daemon: Callable[[], Daemon]) -> Actors:
    """The actors on ``broker``, each calling a job of ``daemon()``."""
    made: dict[str, dramatiq.Actor[..., None]] = {}
    for job in JOBS:
        decorate = dramatiq.actor(
            actor_name=f"partnersync.{job}",
            queue_name=QUEUE,
            broker=broker,
            throws=NOT_RETRIED,
            time_limit=TIME_LIMIT_MS,
            max_retries=8,
            min_backoff=2_000,
            max_backoff=300_000,
        )
        made[job] = decorate(_body(job, daemon))
    return Actors(broker=broker, daemon=daemon, **made)


def _body(job: str, daemon: Callable[[], Daemon]) -> Callable[..., None]:
    def body(*args: str) -> None:
        message = dramatiq.middleware.CurrentMessage.get_current_message()
        bound = {"job": ":".join((job, *args)), "crm": args[0] if args else None,
                 "message_id": message.message_id if message else None}  # fmt: skip
        with structlog.contextvars.bound_contextvars(**bound):
            _run(job, args, daemon)

    body.__name__ = job
    body.__qualname__ = job
    return body


def _run(job: str, args: tuple[str, ...], daemon: Callable[[], Daemon]) -> None:
    """One job, every log line of it bound to the job, its CRM and its message."""
    try:
        getattr(daemon(), job)(*args)
    except (RateLimited, QuotaExhausted) as exc:
        delay = max(1, round(exc.retry_after * 1000))
        log.warning("job.rate_limited", retry_in_ms=delay)
        raise dramatiq.Retry(str(exc), delay=delay) from exc


class _Lazy:
    """The process's :class:`Daemon`, made on first use (importing ``worker.py`` must not
    reach the store)."""

    def __init__(self, make: Callable[[], Daemon]) -> None:
        self._make = make
        self._daemon: Daemon | None = None
        self._lock = threading.Lock()

    def __call__(self) -> Daemon:
        with self._lock:
            if self._daemon is None:
                self._daemon = self._make()
            return self._daemon


def setup(settings: Settings | None = None) -> Actors:
    """For ``dramatiq worker``: the settings (``PARTNERSYNC_SETTINGS`` or
    ``./settings.toml``), their broker as dramatiq's global one, and the actors."""
    from sync.log import configure_logging
    from sync.settings import load_settings

    settings = settings or load_settings()
    configure_logging("info", secrets=settings.secrets())
    broker = make_broker(settings)
    dramatiq.set_broker(broker)
    holder: dict[str, Actors] = {}

    def make() -> Daemon:
        from sync.store import ensure_schema, make_engine, session_factory

        ensure_schema(settings.store.url)
        factory = session_factory(make_engine(settings.store.url))
        return Daemon(settings, factory, send=lambda job, *args: holder["actors"].send(job, *args))

    holder["actors"] = declare(broker, _Lazy(make))
    return holder["actors"]


@contextmanager
def in_process(actors: Actors, *, threads: int = 4) -> Iterator[dramatiq.Worker]:
    """Worker threads consuming ``actors``' broker in this process (the embedded
    daemon, tests); stopped at the end of the block, after their current messages."""
    worker = dramatiq.Worker(actors.broker, worker_threads=threads, worker_timeout=100)
    worker.start()
    try:
        yield worker
    finally:
        worker.stop()
