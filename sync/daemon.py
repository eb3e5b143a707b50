"""The daemon's jobs as services: what a queue message, the scheduler or a webhook asks for.

The actors (:mod:`sync.actors`) are thin: each decodes its message and calls one method
of :class:`Daemon`, which runs the job under its lock in the store (:mod:`sync.jobs`)::

    daemon = Daemon(settings, factory, send=...)   # send(job, *args): queue a message
    daemon.trigger("pull", "hubspot")              # at most one waiting message per job
    daemon.pull("hubspot")                         # the pull, then a push triggered
    daemon.push("hubspot")
    daemon.expire_registrations()                  # protection ended: expired, won, lost
    daemon.schedule_payouts()                      # approved payouts scheduled on due dates

The jobs are the CLI's own services (:class:`~sync.cycle.Cycle`,
:class:`~sync.registrations.RegistrationService`, :class:`~sync.payouts.PayoutService`):
running one twice, or on two workers at once, changes nothing the first did not.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from connectors.errors import AuthExpired, ConfigurationError
from sync.crm import CrmLink
from sync.cycle import Cycle
from sync.jobs import Interrupted, JobRun, Jobs
from sync.log import get_logger
from sync.mapping import MappingError
from sync.mirror.pull import PullReport
from sync.settings import ConfigError, Settings
from sync.status import ENDPOINT_CALLS

__all__ = ["JOBS", "NOT_RETRIED", "Daemon", "job_name"]

log = get_logger("sync.daemon")

#: The jobs and the numbers of arguments each takes (a push: the CRM, and the share of
#: the outbox it writes when ``[queue] push_shards`` splits it; share 0 is ``push:crm``).
JOBS = {"pull": (1,), "push": (1, 2), "expire_registrations": (0,), "schedule_payouts": (0,)}

#: Errors no retry can mend: a bad setting or mapping, credentials the CRM refuses. The
#: job is recorded ``refused`` and the message dropped; the next trigger tries again.
NOT_RETRIED: tuple[type[BaseException], ...] = (
    ConfigError,
    MappingError,
    ConfigurationError,
    AuthExpired,
)

#: The actor that runs the sweeps, as the audit log names it.
SWEEPER = "daemon"

Send = Callable[..., None]


def job_name(job: str, *args: str) -> str:
    """The lock's name of ``job`` with ``args``: ``pull:hubspot``, ``schedule_payouts``."""
    if job not in JOBS:
        raise ValueError(f"unknown job {job!r}: one of {', '.join(JOBS)}")
    if len(args) not in JOBS[job]:
        takes = " or ".join(map(str, JOBS[job]))
        raise ValueError(f"{job} takes {takes} argument(s), got {len(args)}")
    if job == "push" and args[1:] == ("0",):
        args = args[:1]  # share 0 is the whole outbox's name: push:hubspot
    return ":".join((job, *args))


class Daemon:
    """The jobs over the store of ``factory`` and the CRMs of ``settings`` (or
    ``configured`` links); ``send(job, *args)`` puts a trigger on the queue."""

    def __init__(
        self,
        settings: Settings,
        factory: sessionmaker[Session],
        *,
        send: Send,
        configured: Sequence[CrmLink] | None = None,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
        stopping: Callable[[], bool] = lambda: False,
        jobs: Jobs | None = None,
    ) -> None:
        self.settings = settings
        self.factory = factory
        self.send = send
        self.clock = clock
        self.stopping = stopping
        self.cycle = Cycle(settings, factory, configured=configured)
        lease = timedelta(seconds=settings.queue.lease_seconds)
        # A trigger whose message has not started within a lease is sent again: the queue
        # lost it (a flushed Redis) or a dead worker held it; a spare one costs nothing.
        self.jobs = jobs or Jobs(factory, clock=clock, lease=lease, stale=lease)

    @property
    def crms(self) -> list[str]:
        """The configured CRMs, in pull order."""
        return [link.connector.crm for link in self.cycle]

    @property
    def push_shards(self) -> int:
        return self.settings.queue.push_shards

    def trigger(self, job: str, *args: str) -> bool:
        """Ask for ``job``: a message is sent unless one already waits for it (or a run in
        progress will run again for it). True when a message was sent. A push of a CRM
        whose outbox ``[queue] push_shards`` splits asks for a push of each share."""
        if job == "push" and len(args) == 1 and self.push_shards > 1:
            sent = [self._trigger(job, args[0], str(k)) for k in range(self.push_shards)]
            return any(sent)
        return self._trigger(job, *args)

    def _trigger(self, job: str, *args: str) -> bool:
        name = job_name(job, *args)
        if not self.jobs.request(name):
            log.debug("job.coalesced", job=name)
            return False
        self.send(job, *name.split(":")[1:])
        return True

    def pull(self, crm: str) -> JobRun:
        """Mirror ``crm``'s changes (handlers: links, registrations, accruals); a push is
        triggered after each committed transaction of pages and at the end."""
        link = self.cycle.link(crm)

        def between_pages(_: PullReport) -> None:
            if self.stopping():
                raise Interrupted("stopping: the pages read so far are committed")
            # What the committed pages staged can go out while the pull reads on (another
            # worker pushes; the trigger is folded into a waiting push).
            self.trigger("push", crm)

        def work() -> dict[str, Any]:
            self._within_budget(link)
            report = self.cycle.pull(link, on_page=between_pages).as_dict()
            return {**report, **_quota(getattr(link.connector, "quota", lambda: None)())}

        outcome = self._run(job_name("pull", crm), _counting(link, work))
        if outcome.ran and not outcome.interrupted:
            self.trigger("push", crm)
        return outcome

    def _within_budget(self, link: CrmLink) -> None:
        """Pause a Salesforce pull at ``[salesforce] daily_budget_percent`` of the org's
        daily API allocation (as its last answer said, asked again once over it): the rest
        stays for the org's other users and for our pushes. Raises :class:`Interrupted`
        (``paused``)."""
        from connectors.salesforce import SalesforceConnector

        connector = link.connector
        if not isinstance(connector, SalesforceConnector):
            return
        budget = self.settings.salesforce.daily_budget_percent
        seen = connector.quota() or self._last_quota(link)
        if seen is None or seen[0] * 100 < budget * seen[1]:
            return
        now = connector.refresh_quota()  # one call: the allocation may have freed up
        if now is None or now[0] * 100 < budget * now[1]:
            return
        used, allocation = now
        log.warning("pull.paused", crm="salesforce", quota_used=used, quota_limit=allocation,
                    budget_percent=budget)  # fmt: skip
        raise Interrupted(
            f"paused: {used:,} of the daily {allocation:,} API calls used, at or over the "
            f"{budget} % budget ([salesforce] daily_budget_percent)",
            outcome="paused", report=_quota(now),
        )  # fmt: skip

    def _last_quota(self, link: CrmLink) -> tuple[int, int] | None:
        """The allocation as the CRM's last pull (by any worker) saw it."""
        from sync.store import Job

        with self.factory() as session:
            report = session.scalar(
                select(Job.report).where(Job.name == job_name("pull", link.connector.crm))
            )
        used, limit = (report or {}).get("quota_used"), (report or {}).get("quota_limit")
        return (used, limit) if isinstance(used, int) and isinstance(limit, int) else None

    def changed(self, crm: str, crm_ids: Sequence[str]) -> bool:
        """Records the CRM says changed (a webhook): a pull triggered, which reads them by
        id first where the CRM's incremental read may lag (HubSpot's search index). True
        when a message was sent (False: folded into a waiting pull)."""
        from connectors.base import ReadsById
        from sync.mirror.pull import note_hints
        from sync.store import Crm

        reads_by_id = any(isinstance(link.connector, ReadsById) for link in self.cycle
                          if link.connector.crm == crm)  # fmt: skip
        if crm_ids and reads_by_id:
            note_hints(self.factory, Crm(crm), crm_ids, self.clock())
        return self.trigger("pull", crm)

    def own_writes(self, crm: str, changes: Sequence[tuple[str, str, Any]]) -> list[bool]:
        """For each ``(crm_id, CRM field, value)`` a webhook says changed: whether it is
        partnersync's own write coming back (an outbound field now holding what the push
        last wrote there), which needs no pull."""
        link = next((link for link in self.cycle if link.connector.crm == crm), None)
        outbound = link.mapping.outbound if link is not None else {}
        wanted = sorted({crm_id for crm_id, field, _ in changes if field in outbound})
        if not wanted:
            return [False] * len(changes)
        from sync.store import Crm, Opportunity

        with self.factory() as session:
            held = dict(session.execute(
                select(Opportunity.crm_id, Opportunity.crm_values).where(
                    Opportunity.crm == Crm(crm), Opportunity.crm_id.in_(wanted))
            ).tuples().all())  # fmt: skip
        out = []
        for crm_id, field, value in changes:
            values = held.get(crm_id) or {}
            spec = outbound.get(field)
            out.append(spec is not None and field in values and _same(spec, value, values[field]))
        return out

    def deleted(self, crm: str, crm_ids: Sequence[str]) -> list[str]:
        """Records the CRM says were deleted (a webhook): marked deleted now, without
        waiting for the deletes listing, and a push triggered for what that changes."""
        marked = self.cycle.mark_deleted(self.cycle.link(crm), crm_ids, self.clock())
        if marked:
            log.info("deals.deleted", crm=crm, count=len(marked))
            self.trigger("push", crm)
        return marked

    def push(self, crm: str, shard: str = "0") -> JobRun:
        """Write ``crm``'s open outbox rows (of share ``shard`` of ``[queue] push_shards``:
        the rows of the deals whose id leaves that remainder; pushes of other shares run
        at the same time on other workers, never on the same rows)."""
        link = self.cycle.link(crm)
        if not shard.isdigit() or not 0 <= int(shard) < self.push_shards:
            raise ConfigError(  # a message from a process set otherwise: not retried
                f"push share {shard!r} of {crm}: [queue] push_shards is {self.push_shards}"
            )
        split = (int(shard), self.push_shards)
        return self._run(
            job_name("push", crm, shard),
            _counting(link, lambda: self.cycle.push(link, shard=split).as_dict()),
        )

    def expire_registrations(self) -> JobRun:
        """Approved registrations past protection end expired (or won / lost)."""
        from sync.registrations import RegistrationService

        service = RegistrationService(self.factory, self.settings.program, self.clock)

        def sweep() -> dict[str, Any]:
            changed = service.expire_due(actor=SWEEPER)
            counts: dict[str, Any] = {"changed": len(changed)}
            for row in changed:
                counts[row["becomes"]] = counts.get(row["becomes"], 0) + 1
            return counts

        return self._run(job_name("expire_registrations"), sweep)

    def schedule_payouts(self) -> JobRun:
        """Approved payouts scheduled for their due date (today when it is past)."""
        from sync.payouts import PayoutService

        service = PayoutService(self.factory, clock=self.clock)
        return self._run(
            job_name("schedule_payouts"),
            lambda: {"scheduled": len(service.schedule_approved(actor=SWEEPER))},
        )

    def _run(self, name: str, work: Callable[[], dict[str, Any]]) -> JobRun:
        outcome = self.jobs.run(name, work, stopping=self.stopping, refused=NOT_RETRIED)
        if outcome.waiting and not self.stopping():
            job, *args = name.split(":")
            self._trigger(job, *args)  # back to the queue, for any worker
        if outcome.ran:
            log.info("job.done", job=name, runs=outcome.runs, **_counts(outcome.report))
        else:
            log.info("job.busy", job=name)
        return outcome


def _counting(link: CrmLink, work: Callable[[], dict[str, Any]]) -> Callable[[], dict[str, Any]]:
    """``work``'s report with the calls its connector retried (rate limits, transient
    errors) added as ``retries``, and its calls by endpoint as ``calls:<endpoint>``."""

    def counted() -> dict[str, Any]:
        before = getattr(link.connector, "retries", 0)
        by_endpoint = Counter(getattr(link.connector, "endpoint_calls", {}))
        report = work()
        report["retries"] = getattr(link.connector, "retries", 0) - before
        made = Counter(getattr(link.connector, "endpoint_calls", {})) - by_endpoint
        report.update((ENDPOINT_CALLS + name, count) for name, count in sorted(made.items()))
        return report

    return counted


def _same(spec: Any, value: Any, held: Any) -> bool:
    """Whether the CRM's ``value`` of an outbound field is the ``held`` canonical one
    (a value the field's type cannot read is not: the pull will tell)."""
    try:
        return bool(spec.canonical(value) == held)
    except (ArithmeticError, TypeError, ValueError):
        return False


def _quota(seen: tuple[int, int] | None) -> dict[str, int]:
    return {"quota_used": seen[0], "quota_limit": seen[1]} if seen else {}


def _counts(report: dict[str, Any] | None) -> dict[str, Any]:
    """The numbers of a report, for one log line."""
    return {
        k: v
        for k, v in (report or {}).items()
        if isinstance(v, int | str) and k != "crm" and not k.startswith(ENDPOINT_CALLS)
    }
