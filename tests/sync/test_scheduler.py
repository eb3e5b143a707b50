"""The scheduler: periods claimed once across schedulers, ticks that really tick."""

from __future__ import annotations

import time
from datetime import UTC, datetime

import pytest
from sqlalchemy.orm import Session, sessionmaker

from sync.daemon import Daemon
from sync.scheduler import Scheduler, slot_of
from sync.settings import Settings

T = datetime(2026, 12, 4, 9, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("now", "period", "slot"),
    [
        (T, 60, T),
        (T.replace(second=29), 60, T),
        (T.replace(second=31), 60, T.replace(minute=1)),
        (T.replace(minute=59, second=59, microsecond=999_000), 60, T.replace(hour=10)),
        (T.replace(minute=20), 3600, T),
        (T.replace(minute=40), 3600, T.replace(hour=10)),
        (T.replace(second=1), 1, T.replace(second=1)),
    ],
)
def test_a_tick_a_little_early_or_late_claims_its_own_period(
    now: datetime, period: int, slot: datetime
) -> None:
    assert slot_of(now, period) == slot


def daemon_with(store: sessionmaker[Session], sent: list[tuple[str, ...]], **sync: int) -> Daemon:
    settings = Settings()
    settings = settings.model_copy(update={"sync": settings.sync.model_copy(update=sync)})
    return Daemon(settings, store, send=lambda job, *args: sent.append((job, *args)))


def test_two_schedulers_trigger_each_period_once(store: sessionmaker[Session]) -> None:
    sent: list[tuple[str, ...]] = []
    now = [T]
    first = Scheduler(daemon_with(store, sent), clock=lambda: now[0])
    second = Scheduler(daemon_with(store, sent), clock=lambda: now[0])
    assert first.tick(60, "pull", "hubspot") is True
    assert second.tick(60, "pull", "hubspot") is False
    assert sent == [("pull", "hubspot")]
    first.daemon.jobs.run("pull:hubspot", dict)  # the worker ran it
    now[0] = T.replace(minute=1)
    assert second.tick(60, "pull", "hubspot") is True
    assert first.tick(60, "pull", "hubspot") is False
    assert second.tick(3600, "schedule_payouts") is True
    assert sent == [("pull", "hubspot"), ("pull", "hubspot"), ("schedule_payouts",)]


def test_a_tick_for_a_job_still_waiting_sends_nothing_more(store: sessionmaker[Session]) -> None:
    """The worker has not run the last period's trigger yet: this period's folds into it."""
    sent: list[tuple[str, ...]] = []
    now = [T]
    ticking = Scheduler(daemon_with(store, sent), clock=lambda: now[0])
    assert ticking.tick(60, "pull", "salesforce") is True
    now[0] = T.replace(minute=1)
    assert ticking.tick(60, "pull", "salesforce") is False
    assert sent == [("pull", "salesforce")]


def test_the_scheduler_ticks_every_job_on_its_own_period(store: sessionmaker[Session]) -> None:
    """Started for real (APScheduler, 1-second pulls): each CRM's pull is triggered at
    start and again each period once its run is done; the sweeps at start."""
    sent: list[tuple[str, ...]] = []
    daemon = daemon_with(store, sent, interval_seconds=1, sweep_seconds=3600)
    ticking = Scheduler(daemon)
    ticking.start()
    try:
        deadline = time.monotonic() + 15
        while (
            time.monotonic() < deadline
            and min(sent.count(("pull", "hubspot")), sent.count(("pull", "salesforce"))) < 2
        ):
            for crm in ("salesforce", "hubspot"):
                daemon.jobs.run(f"pull:{crm}", dict)  # a worker consuming the trigger
            time.sleep(0.1)
    finally:
        ticking.shutdown()
    assert sent.count(("pull", "hubspot")) >= 2
    assert sent.count(("pull", "salesforce")) >= 2
    assert sent.count(("expire_registrations",)) == 1
    assert sent.count(("schedule_payouts",)) == 1
