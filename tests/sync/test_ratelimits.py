"""CRM call limits shared by every worker: two workers (each with its own limiter object,
as two processes would have) drawing from one real Redis never exceed HubSpot's burst or
Salesforce's concurrency together, and against a strict sandbox they get no 429."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest
import redis
from dramatiq.rate_limits.backends import RedisBackend, StubBackend

from connectors.errors import RateLimited
from connectors.retry import RetryPolicy, no_gate
from sandbox import Sandbox, SandboxServer, parse_rate, seed_hubspot
from sync.ratelimits import SharedLimits, shared_limits
from sync.settings import Settings
from tests.conftest import REDIS_URL
from tests.sync.links import HS_MAPPING, hubspot


@pytest.fixture
def backend() -> Iterator[Any]:
    client = redis.Redis.from_url(REDIS_URL)
    client.flushdb()
    yield RedisBackend(url=REDIS_URL)  # type: ignore[no-untyped-call]
    client.flushdb()


def two_workers(backend: Any, **limits: int) -> list[SharedLimits]:
    given = {"hubspot_burst": 100, "hubspot_search": 5, "salesforce_concurrent": 25, **limits}
    return [SharedLimits(backend, **given) for _ in range(2)]


def crowd(count: int, act: Any) -> None:
    threads = [threading.Thread(target=act, args=(i,)) for i in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)


def most_in_any(span: float, moments: list[float]) -> int:
    """The most moments in any rolling ``span``. A moment is taken just after its limiter
    let the call go, so a busy machine can note it a little late; the tests allow 0.1 s
    of that (a limiter that let every call go would put all of them in one instant)."""
    moments = sorted(moments)
    return max(sum(1 for m in moments[i:] if m - start < span) for i, start in
               enumerate(moments))  # fmt: skip


def test_two_workers_together_keep_hubspots_burst(backend: Any) -> None:
    workers = two_workers(backend, hubspot_burst=10, hubspot_burst_seconds=1)
    moments: list[float] = []  # list.append is atomic: no lock to wait on after the gate

    def call(index: int) -> None:
        for _ in range(5):
            with workers[index % 2]("hubspot", "call"):
                moments.append(time.monotonic())

    crowd(6, call)  # 30 calls, at most 10 in any second
    assert len(moments) == 30  # every call went, later
    assert most_in_any(0.9, moments) <= 10
    assert sum(w.waits for w in workers) > 0


def test_searches_keep_their_own_rate_within_the_burst(backend: Any) -> None:
    workers = two_workers(backend, hubspot_search=3)
    moments: list[float] = []

    def search(index: int) -> None:
        for _ in range(3):
            with workers[index % 2]("hubspot", "search"):
                moments.append(time.monotonic())

    crowd(4, search)
    assert len(moments) == 12
    assert most_in_any(0.9, moments) <= 3


def test_salesforce_calls_in_flight_stay_under_the_concurrency_limit(backend: Any) -> None:
    workers = two_workers(backend, salesforce_concurrent=3)
    in_flight = most = 0
    lock = threading.Lock()

    def call(index: int) -> None:
        nonlocal in_flight, most
        for _ in range(2):
            with workers[index % 2]("salesforce", "call"):
                with lock:
                    in_flight += 1
                    most = max(most, in_flight)
                time.sleep(0.05)
                with lock:
                    in_flight -= 1

    crowd(8, call)
    assert most <= 3
    assert in_flight == 0


@pytest.mark.parametrize("shared", ["redis", "in-process"])
def test_workers_sharing_the_gate_get_no_429_from_a_strict_crm(
    shared: str, backend: Any, sandbox: Sandbox, sandbox_server: SandboxServer
) -> None:
    """The sandbox allows 10 calls a second. Two connectors (two workers) with no retry on
    a 429: without the gate some of their 30 calls are refused; with it, none."""
    seed_hubspot(sandbox, 5)
    fields = HS_MAPPING.read_fields()

    def run(gate: Any) -> tuple[int, int]:
        connectors = [hubspot(sandbox_server, retry=RetryPolicy(attempts=1), gate=gate)
                      for _ in range(2)]  # fmt: skip
        refused = done = 0
        lock = threading.Lock()

        def read(index: int) -> None:
            nonlocal refused, done
            for _ in range(5):
                try:
                    next(iter(connectors[index % 2].changed_since(None, fields)))
                    with lock:
                        done += 1
                except RateLimited:
                    with lock:
                        refused += 1

        crowd(6, read)
        return done, refused

    sandbox.reconfigure(hubspot_rate=parse_rate("10/1s"))
    assert run(no_gate)[1] > 0  # without the gate the CRM refuses some
    store = backend if shared == "redis" else StubBackend()  # type: ignore[no-untyped-call]
    gate = SharedLimits(store, hubspot_burst=10, hubspot_burst_seconds=1, hubspot_search=5,
                        salesforce_concurrent=25)  # fmt: skip
    time.sleep(1.1)  # the sandbox's window empties
    assert run(gate) == (30, 0)


def test_one_gate_per_process_and_broker() -> None:
    memory = Settings()
    assert shared_limits(memory) is shared_limits(memory)


@pytest.mark.parametrize("shared", ["redis", "in-process"])
def test_a_slot_a_dead_worker_held_lapses(shared: str, backend: Any, monkeypatch: Any) -> None:
    """A worker killed mid-call never gives its Salesforce slot back: it lapses."""
    import sync.ratelimits as limits

    monkeypatch.setattr(limits, "SLOT_SECONDS", 0.5)
    store = backend if shared == "redis" else StubBackend()  # type: ignore[no-untyped-call]
    dead, alive = (
        two_workers(store, salesforce_concurrent=1)
        if shared == "redis"
        else [SharedLimits(store, hubspot_burst=100, hubspot_search=5, salesforce_concurrent=1)] * 2
    )
    held = dead("salesforce", "call")
    held.__enter__()  # and never __exit__: the worker is gone
    began = time.monotonic()
    with alive("salesforce", "call"):
        waited = time.monotonic() - began
    assert 0.3 <= waited < 5
