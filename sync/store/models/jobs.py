"""The daemon's jobs: who runs each one now, whether a trigger waits, how the last run went.

One row per job (``pull:salesforce``, ``push:hubspot``, ``expire_registrations``,
``schedule_payouts``). The row is the lock that keeps one run of a job at a time across
every worker (``holder`` until ``lease_until``, renewed while the run lasts, so a crashed
worker's lock lapses on its own), the coalescing point of its triggers (``requested_at``:
one waiting trigger, however many arrive) and what ``partnersync status`` reports. The
queue carries only triggers: everything a run needs to resume is here and in
``sync_state``, so losing the queue loses nothing.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from sync.store.models.base import Base
from sync.store.types import JSONDocument, UTCDateTime

__all__ = ["Job", "PullHint", "WebhookReceipt"]


class Job(Base):
    """A job's lock, waiting trigger, scheduler slot and last outcome."""

    __tablename__ = "jobs"

    name: Mapped[str] = mapped_column(String(64), primary_key=True)
    #: The worker running it (``host:pid:thread``) until ``lease_until``; NULL when idle.
    holder: Mapped[str | None] = mapped_column(String(200))
    lease_until: Mapped[datetime | None] = mapped_column(UTCDateTime)
    #: A trigger waiting for a run (NULL: none). Set by the first trigger, cleared when a
    #: run starts; triggers meanwhile are folded into it.
    requested_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    #: When a message was put on the queue for the waiting trigger (NULL: none yet, e.g.
    #: the trigger came while a run held the job, whose worker may since have died).
    queued_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    #: The last scheduler slot that triggered the job: two schedulers trigger it once.
    tick_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    started_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    #: When a run last ended ``ok``: a pull's is how far behind the CRM the store may be.
    succeeded_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    #: ``ok``, ``error`` (retried), ``refused`` (a configuration error: not retried),
    #: ``interrupted`` (the process stopped between two committed steps), ``paused`` (a
    #: daily API budget reached: the run waits for the allocation to free up).
    outcome: Mapped[str | None] = mapped_column(String(16))
    error: Mapped[str | None] = mapped_column(Text)
    #: The last run's report (counts), as ``partnersync status`` shows it.
    report: Mapped[dict[str, Any] | None] = mapped_column(JSONDocument)
    #: The counts of every run's report summed (records pulled, sent, API calls...): the
    #: counters ``GET /metrics`` shows, the same whichever worker ran.
    totals: Mapped[dict[str, Any] | None] = mapped_column(JSONDocument)
    runs: Mapped[int] = mapped_column(Integer, default=0)


class WebhookReceipt(Base):
    """A signed webhook request accepted in the last minutes, by the digest of its
    signature: the same signed request again is a replay and is refused. Rows older than
    the signature's validity (5 minutes) are removed as new ones arrive."""

    __tablename__ = "webhook_receipts"
    __table_args__ = (Index("ix_webhook_receipts_received_at", "received_at"),)

    digest: Mapped[str] = mapped_column(String(64), primary_key=True)
    source: Mapped[str] = mapped_column(String(16))
    received_at: Mapped[datetime] = mapped_column(UTCDateTime)


class PullHint(Base):
    """A record a webhook said changed, read by id at the start of its CRM's next pull
    (HubSpot's search index lags writes; a read by id does not). A hint is only a
    shortcut: one lost is read by the incremental pull all the same."""

    __tablename__ = "pull_hints"

    crm: Mapped[str] = mapped_column(String(16), primary_key=True)
    crm_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    noted_at: Mapped[datetime] = mapped_column(UTCDateTime)
