"""Jobs: one run at a time across workers, triggers folded into one waiting run, leases
that lapse when their worker dies, one scheduler slot per period (SQLite and PostgreSQL)."""

from __future__ import annotations

import threading
import time
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy.orm import Session, sessionmaker

from sync.jobs import Interrupted, Jobs
from sync.store import Job

T0 = datetime(2026, 12, 4, 9, 0, tzinfo=UTC)


class Clock:
    def __init__(self, now: datetime = T0) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **delta: float) -> None:
        self.now += timedelta(**delta)


def row(store: sessionmaker[Session], name: str) -> Job:
    with store() as session:
        job = session.get(Job, name)
        assert job is not None
        session.expunge(job)
        return job


def test_the_first_trigger_asks_for_a_message_the_next_ones_are_folded_in(
    store: sessionmaker[Session],
) -> None:
    clock = Clock()
    jobs = Jobs(store, clock=clock)
    assert jobs.request("pull:hubspot") is True
    clock.advance(seconds=1)
    assert [jobs.request("pull:hubspot") for _ in range(100)] == [False] * 100
    assert row(store, "pull:hubspot").requested_at == T0
    assert jobs.request("pull:salesforce") is True  # another job: its own trigger


def test_a_run_consumes_the_trigger_and_runs_again_for_one_that_came_meanwhile(
    store: sessionmaker[Session],
) -> None:
    jobs = Jobs(store)
    assert jobs.request("push:hubspot")
    calls: list[int] = []

    def work() -> dict[str, Any]:
        calls.append(1)
        if len(calls) == 1:
            # Triggers during the run: no message (the run is live), one more run.
            assert [jobs.request("push:hubspot") for _ in range(5)] == [False] * 5
        return {"sent": len(calls)}

    outcome = jobs.run("push:hubspot", work)
    assert (outcome.ran, outcome.runs, outcome.report) == (True, 2, {"sent": 2})
    job = row(store, "push:hubspot")
    assert (job.holder, job.requested_at, job.outcome, job.runs) == (None, None, "ok", 2)
    assert job.report == {"sent": 2}
    assert jobs.request("push:hubspot") is True  # idle again: the next trigger sends


def test_two_workers_one_run_the_other_leaves_its_trigger_to_it(
    store: sessionmaker[Session],
) -> None:
    """Worker B's message finds A's run: B runs nothing and A runs once more for it."""
    a, b = Jobs(store), Jobs(store)
    inside = threading.Event()
    release = threading.Event()
    runs: list[str] = []

    def work_a() -> dict[str, Any]:
        runs.append("a")
        inside.set()
        release.wait(10)
        return {}

    thread = threading.Thread(target=lambda: a.run("pull:salesforce", work_a, holder="A"))
    thread.start()
    assert inside.wait(10)
    other = b.run("pull:salesforce", lambda: runs.append("b") or {}, holder="B")
    release.set()
    thread.join(10)
    assert other.ran is False
    assert runs == ["a", "a"]
    assert row(store, "pull:salesforce").holder is None


def test_never_two_runs_at_once_under_a_crowd_of_workers(store: sessionmaker[Session]) -> None:
    """Eight workers, each running the job 10 times: at no moment do two runs overlap,
    and every trigger is either run or folded into a run."""
    running = 0
    most = 0
    total = 0
    lock = threading.Lock()

    def work() -> dict[str, Any]:
        nonlocal running, most, total
        with lock:
            running += 1
            most = max(most, running)
            total += 1
        time.sleep(0.002)
        with lock:
            running -= 1
        return {}

    def worker(index: int) -> None:
        jobs = Jobs(store)
        for _ in range(10):
            jobs.request("pull:hubspot")
            jobs.run("pull:hubspot", work, holder=f"w{index}")

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert most == 1
    assert total >= 10
    # A run that met triggers for three rounds back to back ends ``waiting`` (the daemon
    # sends it back to the queue): run what waits, as that message would.
    for _ in range(10):
        if not Jobs(store).run("pull:hubspot", work).waiting:
            break
    job = row(store, "pull:hubspot")
    assert (job.holder, job.requested_at) == (None, None)


def test_a_dead_workers_lease_lapses_and_another_takes_the_job_over(
    store: sessionmaker[Session],
) -> None:
    clock = Clock()
    jobs = Jobs(store, clock=clock, lease=timedelta(seconds=60))
    assert jobs._acquire("pull:hubspot", "dead-worker")  # then killed -9: never released
    clock.advance(seconds=30)
    assert jobs.run("pull:hubspot", dict, holder="B").ran is False
    assert jobs.request("pull:hubspot") is False  # the (seemingly) live run will do it
    clock.advance(seconds=31)
    # The lease lapsed: the trigger that waited on the dead run gets its message now.
    assert jobs.request("pull:hubspot") is True
    assert jobs.request("pull:hubspot") is False  # and only one
    outcome = jobs.run("pull:hubspot", lambda: {"fetched": 3}, holder="B")
    assert (outcome.ran, outcome.runs) == (True, 1)
    assert row(store, "pull:hubspot").holder is None


def test_a_trigger_whose_message_was_lost_is_asked_for_again_once_stale(
    store: sessionmaker[Session],
) -> None:
    """The broker was flushed after the first trigger: its message never runs. The wait
    goes stale and a later trigger sends again."""
    clock = Clock()
    jobs = Jobs(store, clock=clock, stale=timedelta(minutes=5))
    assert jobs.request("pull:salesforce") is True
    clock.advance(minutes=4)
    assert jobs.request("pull:salesforce") is False
    clock.advance(minutes=2)
    assert jobs.request("pull:salesforce") is True


def test_forget_waiting_clears_the_triggers_of_a_lost_in_process_queue(
    store: sessionmaker[Session],
) -> None:
    jobs = Jobs(store)
    assert jobs.request("pull:salesforce")
    assert jobs.request("push:salesforce")
    assert jobs.forget_waiting() == 2
    assert Jobs(store).request("pull:salesforce") is True


def test_the_lease_is_renewed_while_a_long_run_lasts(store: sessionmaker[Session]) -> None:
    jobs = Jobs(store, lease=timedelta(seconds=0.3))
    other = Jobs(store, lease=timedelta(seconds=0.3))
    tried: list[bool] = []

    def long_work() -> dict[str, Any]:
        while len(tried) < 4:  # B's messages each ask for one more run: the first does all
            time.sleep(0.25)  # past one lease: only renewal keeps it
            tried.append(other.run("pull:hubspot", dict, holder="B").ran)
        return {}

    assert jobs.run("pull:hubspot", long_work, holder="A").runs == 2
    assert tried == [False] * 4


def test_a_failed_run_is_recorded_released_and_raised(store: sessionmaker[Session]) -> None:
    jobs = Jobs(store)

    def broken() -> dict[str, Any]:
        raise ConnectionError("CRM away")

    with pytest.raises(ConnectionError):
        jobs.run("push:salesforce", broken)
    job = row(store, "push:salesforce")
    assert (job.holder, job.outcome, job.error) == (None, "error", "ConnectionError: CRM away")

    def misconfigured() -> dict[str, Any]:
        raise ValueError("no such field")

    with pytest.raises(ValueError):
        jobs.run("push:salesforce", misconfigured, refused=(ValueError,))
    assert row(store, "push:salesforce").outcome == "refused"
    assert jobs.run("push:salesforce", lambda: {"sent": 1}).ran  # nothing stuck


def test_an_interrupted_run_ends_quietly_and_leaves_its_trigger(
    store: sessionmaker[Session],
) -> None:
    jobs = Jobs(store)

    def stopped() -> dict[str, Any]:
        jobs.request("pull:hubspot")
        raise Interrupted("stopping")

    outcome = jobs.run("pull:hubspot", stopped)
    assert (outcome.ran, outcome.interrupted, outcome.runs) == (True, True, 0)
    job = row(store, "pull:hubspot")
    assert (job.holder, job.outcome) == (None, "interrupted")
    assert job.requested_at is not None  # the next start's run picks it up


def test_a_stopping_worker_does_not_start_another_round(store: sessionmaker[Session]) -> None:
    jobs = Jobs(store)
    rounds: list[int] = []

    def work() -> dict[str, Any]:
        rounds.append(1)
        jobs.request("pull:hubspot")  # always a trigger waiting
        return {}

    outcome = jobs.run("pull:hubspot", work, stopping=lambda: len(rounds) >= 2)
    assert (outcome.runs, outcome.waiting) == (2, True)
    assert row(store, "pull:hubspot").holder is None


def test_a_job_triggered_faster_than_it_runs_goes_back_to_the_queue(
    store: sessionmaker[Session],
) -> None:
    """After ``rounds`` runs in a row with a trigger waiting, the lease is released and
    the waiting trigger gets a message (any worker may take it)."""
    jobs = Jobs(store)

    def work() -> dict[str, Any]:
        jobs.request("pull:hubspot")  # always a trigger waiting
        return {}

    outcome = jobs.run("pull:hubspot", work, rounds=3)
    assert (outcome.runs, outcome.waiting) == (3, True)
    assert row(store, "pull:hubspot").holder is None
    assert jobs.request("pull:hubspot") is True  # its message is sent now


def test_one_scheduler_claims_each_period(store: sessionmaker[Session]) -> None:
    first, second = Jobs(store), Jobs(store)
    assert first.claim_tick("pull:hubspot", T0) is True
    assert second.claim_tick("pull:hubspot", T0) is False
    assert first.claim_tick("pull:hubspot", T0) is False
    assert second.claim_tick("pull:hubspot", T0 + timedelta(minutes=1)) is True
    assert first.claim_tick("pull:hubspot", T0) is False  # a late tick of a past period
    assert first.claim_tick("expire_registrations", T0) is True
