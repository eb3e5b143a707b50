"""One run of a job at a time, across every worker; triggers folded into one waiting run.

The daemon's jobs (pull a CRM, push a CRM, the sweeps) are triggered by the scheduler,
webhooks and each other, on one or many machines. :class:`Jobs` keeps, in the store's
``jobs`` table (:class:`~sync.store.Job`):

- **one run at a time**: a run holds the job's lease (``holder``, ``lease_until``),
  renewed while it lasts; a worker killed mid-run stops renewing, and its lease lapses
  after ``lease`` so another worker takes the job over;
- **coalesced triggers**: :meth:`Jobs.request` marks the job wanted and asks for one
  message for it (none while a live run holds the job: the run looks for a waiting trigger
  when it ends and runs again). A hundred webhooks during a pull leave one more run, not a
  hundred messages;
- **nothing lost with the queue or a worker**: a trigger that waited on a run whose worker
  died gets its message once the lease lapses; a message that never ran (the broker was
  flushed) is asked for again after ``stale``;
- **one scheduler slot**: :meth:`Jobs.claim_tick` lets one of several schedulers trigger
  a job per period;
- **the last outcome**: started, finished, ``ok`` / ``error`` / ``refused``, the error and
  the run's report, for ``partnersync status``.

Every step is one short statement of its own: the lock is never held by an open
transaction, so it works alike on SQLite and PostgreSQL.
"""

from __future__ import annotations

import os
import socket
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import and_, func, or_, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session, sessionmaker

from sync.log import get_logger
from sync.plain import plain
from sync.store import Job, transaction

__all__ = ["Interrupted", "JobRun", "Jobs", "worker_name"]

log = get_logger("sync.jobs")

#: How long a run's lease lasts without renewal; the run renews it every third of that.
LEASE = timedelta(seconds=60)
#: A waiting trigger older than this whose run never started is asked for again.
STALE = timedelta(minutes=5)


def _changed(session: Session, statement: Any) -> int:
    """Rows ``statement`` (an UPDATE) changed."""
    return int(session.execute(statement).rowcount)  # type: ignore[attr-defined]


def _summed(totals: dict[str, Any], report: dict[str, Any]) -> dict[str, int]:
    """``totals`` plus the whole-number counts of ``report``."""
    out = {k: v for k, v in totals.items() if isinstance(v, int)}
    for key, value in report.items():
        if isinstance(value, int) and not isinstance(value, bool):
            out[key] = out.get(key, 0) + value
    return out


def worker_name() -> str:
    """This thread's name as a lease holder: ``host:pid:thread``."""
    return f"{socket.gethostname()}:{os.getpid()}:{threading.get_ident()}"


class Interrupted(Exception):
    """Raised by a job's work to end its run quietly: between two committed steps when the
    process is stopping (``interrupted``; the next run resumes), or before starting when
    it must wait (``paused``: a daily API budget reached). The run is recorded with that
    outcome and ``report``, and ends without error."""

    def __init__(
        self, message: str, *, outcome: str = "interrupted", report: dict[str, Any] | None = None
    ) -> None:
        super().__init__(message)
        self.outcome = outcome
        self.report = report


@dataclass
class JobRun:
    """What :meth:`Jobs.run` did: ``ran`` False when another worker held the job (this
    trigger is then folded into that run); ``runs``: how many times the work ran (more
    than 1 when triggers arrived meanwhile); ``report``: the last run's."""

    name: str
    ran: bool
    runs: int = 0
    report: dict[str, Any] | None = None
    interrupted: bool = False
    #: A trigger still waits (the run stopped after its rounds, or the process is
    #: stopping): the caller asks for a message for it.
    waiting: bool = False


class Jobs:
    """The jobs of the store of ``factory``."""

    def __init__(
        self,
        factory: sessionmaker[Session],
        *,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
        lease: timedelta = LEASE,
        stale: timedelta = STALE,
    ) -> None:
        self.factory = factory
        self.clock = clock
        self.lease = lease
        self.stale = stale
        self._known: set[str] = set()

    # --- triggers -------------------------------------------------------------------------

    def request(self, name: str) -> bool:
        """Mark ``name`` wanted; True when the caller should send its message: no live run
        holds the job (a live one runs again for it) and no message was sent for the
        waiting trigger yet (or the one sent went stale: the queue lost it)."""
        self._ensure(name)
        now = self.clock()
        with transaction(self.factory) as session:
            # The UPDATE first: it locks the row (PostgreSQL) or the database (SQLite), so
            # two triggers at once send one message.
            holder, until, queued = session.execute(
                update(Job)
                .where(Job.name == name)
                .values(requested_at=func.coalesce(Job.requested_at, now))
                .returning(Job.holder, Job.lease_until, Job.queued_at)
            ).one()
            if holder is not None and until is not None and until >= now:
                return False
            if queued is not None and queued >= now - self.stale:
                return False
            session.execute(update(Job).where(Job.name == name).values(queued_at=now))
        return True

    def claim_tick(self, name: str, slot: datetime) -> bool:
        """True for the first scheduler to claim ``slot`` (the start of a period) for
        ``name``; False for any other."""
        self._ensure(name)
        with transaction(self.factory) as session:
            claimed = _changed(
                session,
                update(Job)
                .where(Job.name == name, or_(Job.tick_at.is_(None), Job.tick_at < slot))
                .values(tick_at=slot),
            )
        return bool(claimed)

    # --- runs -----------------------------------------------------------------------------

    def run(
        self,
        name: str,
        work: Callable[[], dict[str, Any]],
        *,
        holder: str | None = None,
        stopping: Callable[[], bool] = lambda: False,
        refused: tuple[type[BaseException], ...] = (),
        rounds: int = 3,
    ) -> JobRun:
        """Run ``work`` under ``name``'s lease, again while triggers arrived meanwhile (up to
        ``rounds`` times in all, until ``stopping()``); its report is kept as the job's
        last. When another worker holds the job, the trigger is left waiting for that run
        and nothing runs here.

        An exception from ``work`` is recorded (``refused`` for one of ``refused``, the
        errors no retry can mend; ``error`` otherwise), the lease is released and the
        exception raised.
        """
        me = holder or worker_name()
        if not self._acquire(name, me):
            self._leave_waiting(name)
            return JobRun(name, ran=False)
        outcome = JobRun(name, ran=True)
        try:
            while True:
                started = self.clock()
                with self._renewing(name, me):
                    try:
                        report = work()
                    except Interrupted as exc:
                        self._finish(name, me, started, exc.outcome, exc.report, str(exc) or None)
                        outcome.interrupted = True
                        outcome.report = exc.report
                        break
                    except BaseException as exc:
                        kind = "refused" if isinstance(exc, refused) else "error"
                        self._finish(name, me, started, kind, None, f"{type(exc).__name__}: {exc}")
                        raise
                outcome.runs += 1
                outcome.report = report
                self._finish(name, me, started, "ok", report, None)
                if self._release(name, me):
                    break
                if stopping() or outcome.runs >= rounds:
                    # A trigger waits: after ``rounds`` in a row the job is handed back to
                    # the queue (the caller sends it), so a job triggered faster than it
                    # runs moves between workers instead of holding one for ever.
                    outcome.waiting = True
                    break
                self._restart(name, me)
        finally:
            self._release(name, me, force=True)
        return outcome

    def _acquire(self, name: str, me: str) -> bool:
        self._ensure(name)
        now = self.clock()
        with transaction(self.factory) as session:
            taken = _changed(
                session,
                update(Job)
                .where(
                    Job.name == name,
                    or_(Job.holder.is_(None), Job.lease_until < now, Job.holder == me),
                )
                .values(holder=me, lease_until=now + self.lease, requested_at=None, queued_at=None),
            )
        return bool(taken)

    def _restart(self, name: str, me: str) -> None:
        """A trigger came during the run: consume it and keep the lease for one more."""
        now = self.clock()
        with transaction(self.factory) as session:
            session.execute(
                update(Job)
                .where(Job.name == name, Job.holder == me)
                .values(requested_at=None, queued_at=None, lease_until=now + self.lease)
            )

    def _leave_waiting(self, name: str) -> None:
        """A message found the job held: its holder runs once more for it (the message is
        spent: should the holder die, the next trigger sends another)."""
        with transaction(self.factory) as session:
            session.execute(
                update(Job)
                .where(Job.name == name)
                .values(requested_at=func.coalesce(Job.requested_at, self.clock()), queued_at=None)
            )

    def _release(self, name: str, me: str, *, force: bool = False) -> bool:
        """Give the lease up; unless ``force``, only when no trigger waits (False then:
        the holder runs again)."""
        condition = and_(Job.name == name, Job.holder == me)
        if not force:
            condition = and_(condition, Job.requested_at.is_(None))
        with transaction(self.factory) as session:
            released = _changed(
                session, update(Job).where(condition).values(holder=None, lease_until=None)
            )
        return bool(released)

    def _finish(self, name: str, me: str, started: datetime, outcome: str,
                report: dict[str, Any] | None, error: str | None) -> None:  # fmt: skip
        with transaction(self.factory) as session:
            # Locked: the holder writes its outcome while others may request or tick.
            totals = session.scalar(select(Job.totals).where(Job.name == name).with_for_update())
            session.execute(
                update(Job)
                .where(Job.name == name)
                .values(
                    started_at=started,
                    finished_at=self.clock(),
                    outcome=outcome,
                    error=error[:4000] if error else None,
                    report=plain(report, raw=True) if report is not None else None,
                    totals=_summed(totals or {}, report or {}),
                    runs=Job.runs + 1,
                    **({"succeeded_at": self.clock()} if outcome == "ok" else {}),
                )
            )

    @contextmanager
    def _renewing(self, name: str, me: str) -> Iterator[None]:
        """Renew ``me``'s lease every third of its length while the block runs."""
        done = threading.Event()

        def renew() -> None:
            while not done.wait(self.lease.total_seconds() / 3):
                with transaction(self.factory) as session:
                    kept = _changed(
                        session,
                        update(Job)
                        .where(Job.name == name, Job.holder == me)
                        .values(lease_until=self.clock() + self.lease),
                    )
                if not kept:
                    log.error("job.lease_lost", job=name, holder=me)
                    return

        renewer = threading.Thread(target=renew, name=f"lease:{name}", daemon=True)
        renewer.start()
        try:
            yield
        finally:
            done.set()
            renewer.join()

    def forget_waiting(self) -> int:
        """Clear every waiting trigger: for an in-process queue at start, which holds no
        message for them (they would otherwise wait ``stale`` before being asked again)."""
        with transaction(self.factory) as session:
            return _changed(
                session,
                update(Job)
                .where(Job.requested_at.is_not(None))
                .values(requested_at=None, queued_at=None),
            )

    # --- reading --------------------------------------------------------------------------

    def all(self) -> list[Job]:
        """Every job's row, by name (detached: read-only)."""
        with self.factory() as session:
            rows = list(session.scalars(select(Job).order_by(Job.name)))
            session.expunge_all()
        return rows

    def _ensure(self, name: str) -> None:
        """Create ``name``'s row once (a no-op when another worker did)."""
        if name in self._known:
            return
        with transaction(self.factory) as session:
            dialect = session.get_bind().dialect.name
            insert = pg_insert if dialect == "postgresql" else sqlite_insert
            session.execute(
                insert(Job)
                .values(name=name, runs=0)
                .on_conflict_do_nothing(index_elements=["name"])
            )
        self._known.add(name)
