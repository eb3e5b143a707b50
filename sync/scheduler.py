"""Periodic triggers: a pull of each CRM every ``[sync] interval_seconds`` (each pull
triggers its push), and the sweeps (registration expiry, payout scheduling) every
``[sync] sweep_seconds``. APScheduler keeps the time; the scheduler only triggers, the
workers run.

Two schedulers started by mistake (or one per machine) do not double the work: each
period of a job is claimed once in the store (:meth:`~sync.jobs.Jobs.claim_tick`), and a
trigger for a job that already waits is folded into it anyway.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from apscheduler.schedulers.background import BackgroundScheduler
from apscheduler.schedulers.base import BaseScheduler
from apscheduler.schedulers.blocking import BlockingScheduler
from apscheduler.triggers.interval import IntervalTrigger

from sync.daemon import Daemon, job_name
from sync.log import get_logger

__all__ = ["Scheduler", "slot_of"]

log = get_logger("sync.scheduler")


def slot_of(now: datetime, period: int) -> datetime:
    """The period ``now`` falls in, rounded to the nearest boundary: a tick a little early
    or late still claims its own period, not its neighbour's."""
    seconds = round(now.timestamp() / period) * period
    return datetime.fromtimestamp(seconds, UTC)


class Scheduler:
    """The periodic triggers of ``daemon``'s jobs; ``blocking`` runs them in the calling
    thread (``partnersync scheduler``), otherwise in a thread of their own."""

    def __init__(
        self,
        daemon: Daemon,
        *,
        blocking: bool = False,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self.daemon = daemon
        self.clock = clock
        options: dict[str, Any] = {"timezone": UTC, "job_defaults": {"coalesce": True,
                                   "max_instances": 1, "misfire_grace_time": None}}  # fmt: skip
        self._scheduler: BaseScheduler = (
            BlockingScheduler(**options) if blocking else BackgroundScheduler(**options)
        )
        sync = daemon.settings.sync
        for crm in daemon.crms:
            self._every(sync.interval_seconds, "pull", crm)
        self._every(sync.sweep_seconds, "expire_registrations")
        self._every(sync.sweep_seconds, "schedule_payouts")

    def _every(self, seconds: int, job: str, *args: str) -> None:
        self._scheduler.add_job(
            self.tick,
            IntervalTrigger(seconds=seconds, timezone=UTC),
            args=(seconds, job, *args),
            id=job_name(job, *args),
            next_run_time=datetime.now(UTC),
        )

    def tick(self, period: int, job: str, *args: str) -> bool:
        """Trigger ``job`` for this period unless another scheduler did; True if sent."""
        name = job_name(job, *args)
        try:
            if not self.daemon.jobs.claim_tick(name, slot_of(self.clock(), period)):
                log.debug("scheduler.taken", job=name)
                return False
            sent = self.daemon.trigger(job, *args)
        except Exception as exc:  # the store or broker away: the next tick tries again
            log.error("scheduler.failed", job=name, error=f"{type(exc).__name__}: {exc}")
            return False
        log.info("scheduler.tick", job=name, sent=sent)
        return sent

    def start(self) -> None:
        """Start ticking (blocks until :meth:`shutdown` when ``blocking``)."""
        self._scheduler.start()

    def shutdown(self) -> None:
        """Stop ticking; a tick under way finishes first."""
        if self._scheduler.running:
            self._scheduler.shutdown(wait=True)
