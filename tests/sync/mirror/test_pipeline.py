"""The read-ahead: work done in a thread, in order, errors and early exits handled."""

from __future__ import annotations

import gc
import threading
from collections.abc import Iterator
from contextlib import closing

import pytest

from sync.mirror.pipeline import garbage_collector_spares_existing, read_ahead, until_failure


def test_results_arrive_in_order_worked_in_another_thread() -> None:
    workers: set[str] = set()

    def square(n: int) -> int:
        workers.add(threading.current_thread().name)
        return n * n

    assert list(read_ahead(iter(range(50)), square, ahead=2)) == [n * n for n in range(50)]
    assert workers == {"read-ahead"}


def test_an_error_while_reading_or_working_reaches_the_consumer_after_what_came_before() -> None:
    def items() -> Iterator[int]:
        yield 1
        yield 2
        raise ConnectionError("the CRM went away")

    results = read_ahead(items(), lambda n: n, ahead=1)
    assert [next(results), next(results)] == [1, 2]
    with pytest.raises(ConnectionError, match="went away"):
        next(results)

    def refuse(n: int) -> int:
        if n == 3:
            raise ValueError("cannot map 3")
        return n

    with pytest.raises(ValueError, match="cannot map 3"):
        list(read_ahead(iter(range(10)), refuse, ahead=2))


def test_leaving_early_stops_the_thread_and_reads_no_further() -> None:
    read: list[int] = []

    def endless() -> Iterator[int]:
        n = 0
        while True:
            read.append(n)
            yield n
            n += 1

    with closing(read_ahead(endless(), lambda n: n, ahead=2)) as results:
        assert next(results) == 0
    assert not [t for t in threading.enumerate() if t.name == "read-ahead"]
    assert len(read) <= 4  # the one consumed, at most two waiting, one being offered


def test_until_failure_keeps_the_error_for_later() -> None:
    def items() -> Iterator[int]:
        yield 1
        raise TimeoutError("page 2")

    failures: list[Exception] = []
    assert list(until_failure(items(), failures)) == [1]
    assert [str(f) for f in failures] == ["page 2"]


def test_until_failure_lets_a_dying_process_through() -> None:
    def items() -> Iterator[int]:
        yield 1
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        list(until_failure(items(), []))


def test_the_collector_spares_existing_objects_only_inside() -> None:
    before = gc.get_freeze_count()
    with garbage_collector_spares_existing():
        assert gc.get_freeze_count() > before
    assert gc.get_freeze_count() == 0
