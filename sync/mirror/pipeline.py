"""Running a stream of work alongside its consumer: the mirror's read-ahead.

:func:`read_ahead` maps a stream in a thread of its own, a few items ahead of the
consumer: the CRM's next page is read and mapped while the one before it is stored, whose
database work releases the GIL. :func:`until_failure` ends a stream at its first error
and keeps the error, so the consumer can finish (commit) what it holds before raising it.
:func:`garbage_collector_spares_existing` keeps the collector's full passes to the objects
a long run creates.
"""

from __future__ import annotations

import gc
import queue
import threading
from collections.abc import Callable, Generator, Iterator
from contextlib import contextmanager
from typing import Any, TypeVar

__all__ = ["garbage_collector_spares_existing", "read_ahead", "until_failure"]

T = TypeVar("T")
R = TypeVar("R")


def read_ahead(items: Iterator[T], work: Callable[[T], R], ahead: int) -> Generator[R, None, None]:
    """``work(item)`` for each of ``items``, done in a thread up to ``ahead`` results ahead.

    An error in the thread (reading or working) is raised in the consumer, in order;
    closing the generator (or leaving a loop over it) stops the thread.
    """
    handoff: queue.Queue[tuple[str, Any]] = queue.Queue(maxsize=ahead)
    stop = threading.Event()

    def offer(item: tuple[str, Any]) -> bool:
        """Hand one result over unless the consumer has gone; False once it has."""
        while not stop.is_set():
            try:
                handoff.put(item, timeout=0.1)
                return True
            except queue.Full:
                continue
        return False

    def produce() -> None:
        try:
            for item in items:
                if not offer(("item", work(item))):
                    return
            offer(("end", None))
        except BaseException as exc:  # re-raised in the consumer
            offer(("error", exc))

    worker = threading.Thread(target=produce, name="read-ahead", daemon=True)
    worker.start()
    try:
        while True:
            kind, result = handoff.get()
            if kind == "end":
                return
            if kind == "error":
                raise result
            yield result
    finally:
        stop.set()
        worker.join(timeout=30)


def until_failure(items: Iterator[T], failures: list[Exception]) -> Generator[T, None, None]:
    """``items`` until producing one fails; the error goes to ``failures`` instead."""
    try:
        yield from items
    except Exception as exc:
        failures.append(exc)


@contextmanager
def garbage_collector_spares_existing() -> Iterator[None]:
    """Inside, the collector's full passes skip every object that existed on entry.

    A full pass walks every tracked object; after start-up that is hundreds of thousands
    (the client libraries' models, SQLAlchemy's metadata), walked again a dozen times in a
    100,000-record mirror: a fifth of its time. Freezing them (``gc.freeze``) for the
    duration and unfreezing them after changes nothing but when garbage is found: a cycle
    among the frozen objects waits until the end. Concurrent users are harmless: one
    leaving early only unfreezes sooner.
    """
    gc.freeze()
    try:
        yield
    finally:
        gc.unfreeze()
