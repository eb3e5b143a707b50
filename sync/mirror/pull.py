"""The mirror: CRM pages -> mapped rows -> the store, a few pages to a transaction.

Each page is mapped through the inbound mapping and upserted in bulk (one statement per
page, not a query per record); a transaction holds pages up to 10,000 records (five
Salesforce pages, a hundred HubSpot pages) or 2 seconds, and commits them together with the
watermark (or full-read cursor) that follows the last of them. An interruption at any
point therefore resumes exactly after the last committed page: no gap, and re-reading a
page is harmless because the upsert is idempotent. A read that fails (the CRM refusing,
an expired session) first commits the pages stored before it.

A record that cannot be mapped goes to quarantine with the reason and the raw payload; the
rest of the page proceeds, and a later good version of the record leaves quarantine.
Deleted (Salesforce) and archived (HubSpot) records are marked deleted, never dropped.

Handlers passed to :func:`pull` (:mod:`sync.mirror.handlers`) see each page's changes in
the page's transaction, before the watermark moves past it.
"""

from __future__ import annotations

import functools
import time
from collections import Counter
from collections.abc import Callable, Sequence
from contextlib import closing
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from itertools import chain
from typing import Any

from sqlalchemy import delete, exists, select, tuple_
from sqlalchemy.orm import Session, sessionmaker

from connectors.base import CrmConnector, ReadsById, RecordPage, Watermark
from sync.log import get_logger
from sync.mapping import CompiledMapping
from sync.mirror.handlers import MirrorHandler
from sync.mirror.pages import PageWriter, PartnerIndex, prepare
from sync.mirror.pipeline import garbage_collector_spares_existing, read_ahead, until_failure
from sync.store import Crm, Opportunity, PullHint, QuarantinedRecord, SyncState, transaction

__all__ = ["COMMIT_RECORDS", "COMMIT_SECONDS", "HINTS_PER_PULL", "PullReport", "note_hints", "pull"]

log = get_logger("sync.mirror.pull")

#: A transaction commits once its pages hold this many records ... (a commit waits for the
#: disk: on SQLite, one per 2,000-record page cost a twentieth of a full mirror's time)
COMMIT_RECORDS = 10_000
#: ... or once it has been open this long (seconds), whichever comes first.
COMMIT_SECONDS = 2.0
#: Pages read and mapped ahead of the one being stored.
_AHEAD = 2
#: The most webhook-named records a pull reads by id before its incremental read, the
#: newest first (more wait for the next pull; the incremental read brings them all the
#: same once the CRM's index has them).
HINTS_PER_PULL = 1_000
#: Hints are read only while the incremental read may not show their change yet: those
#: older than the lookback (at least this) are dropped unread, the read covers them.
HINT_WINDOW_MIN = timedelta(seconds=10)
#: How often (seconds) a long incremental read looks for hints noted meanwhile: when one
#: waits, the read commits early and reads it, rather than at its transaction's end.
_HINT_CHECK = 0.25


@dataclass
class PullReport:
    """What one pull did; ``quarantine_reasons`` counts the first problem of each record."""

    crm: str
    object: str
    full: bool
    pages: int = 0
    read: int = 0
    upserted: int = 0
    unchanged: int = 0
    deleted: int = 0
    #: Records read by id because a webhook named them, ahead of the incremental read.
    hinted: int = 0
    quarantined: int = 0
    released: int = 0
    api_calls: int = 0
    seconds: float = 0.0
    #: Records the CRM said the read would bring (None: it did not say).
    total: int | None = None
    quarantine_reasons: Counter[str] = field(default_factory=Counter)
    #: What the handlers counted, e.g. ``drifted``.
    handled: Counter[str] = field(default_factory=Counter)

    @property
    def drifted(self) -> int:
        """Records whose synced fields were edited in the CRM (drift correction's count)."""
        return self.handled["drifted"]

    def as_dict(self) -> dict[str, Any]:
        data = {
            k: v
            for k, v in self.__dict__.items()
            if k not in ("quarantine_reasons", "handled", "total")
        }
        data["seconds"] = round(self.seconds, 2)
        data["drifted"] = self.drifted
        data.update((k, v) for k, v in self.handled.items() if k != "drifted")
        data["quarantine_reasons"] = dict(self.quarantine_reasons)
        return data


def _state(session: Session, crm: Crm, obj: str) -> SyncState:
    state = session.get(SyncState, (crm, obj))
    if state is None:
        state = SyncState(crm=crm, object=obj, details={})
        session.add(state)
        session.flush()
    return state


def _advance(state: SyncState, page: RecordPage, full_read: bool, now: datetime) -> None:
    """Move the resume point past ``page``, in the transaction that stores it."""
    if page.watermark is not None:
        state.watermark = page.watermark.modified_at
        state.watermark_id = page.watermark.record_id
    if full_read:
        state.cursor = page.cursor
        if page.cursor is None:
            state.last_full_at = now


def pull(
    factory: sessionmaker[Session],
    connector: CrmConnector,
    mapping: CompiledMapping,
    *,
    full: bool = False,
    clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    on_page: Callable[[PullReport], None] | None = None,
    on_progress: Callable[[PullReport], None] | None = None,
    commit_records: int = COMMIT_RECORDS,
    commit_seconds: float = COMMIT_SECONDS,
    deletes_every: timedelta = timedelta(0),
    handlers: Sequence[MirrorHandler] = (),
    lookback: timedelta = timedelta(0),
) -> PullReport:
    """Mirror changed (or, with ``full``, all) records of ``connector`` into the store.

    Pages are committed once they hold ``commit_records`` records or ``commit_seconds``
    have passed since their transaction began; ``on_page`` is called after each commit,
    ``on_progress`` after each page stored (``report.total``: the records the CRM said the
    read would bring, when it did).
    ``handlers`` run on each page's changes in its transaction; one that raises rolls the
    page back with its watermark, and the pull stops with the error.
    A CRM whose deletes do not arrive with the changes (HubSpot's archived listing, which
    cannot be filtered by date) is asked for them on full reads and when ``deletes_every``
    has passed since the last check, which starts where that check started: none is missed.
    A connector that reads by id (:class:`~connectors.base.ReadsById`) first reads the
    records webhooks named in the last ``lookback`` (at least 10 s), newest first.
    """
    crm = Crm(connector.crm)
    obj = connector.object_name
    started = time.perf_counter()
    calls_before = connector.calls
    run_started = clock()
    with transaction(factory) as session:
        state = _state(session, crm, obj)
        # An interrupted full read resumes from its cursor; a first run is a full read.
        cursor = state.cursor
        if cursor is not None or full or state.watermark is None:
            watermark = None
        else:
            watermark = Watermark(state.watermark, state.watermark_id or "")
        deletes_from = state.deletes_checked_at
        fresh = not session.scalar(select(exists().where(Opportunity.crm == crm)))
        quarantined = bool(session.scalar(select(exists().where(QuarantinedRecord.crm == crm))))
    full_read = watermark is None
    report = PullReport(crm=crm.value, object=obj, full=full_read)
    fields = mapping.read_fields()
    with transaction(factory) as session:
        partners = PartnerIndex(session, crm, connector.id_aliases)
    new_in_quarantine: set[str] = set()
    by_id = connector if isinstance(connector, ReadsById) and not full_read else None

    def read_hinted() -> int:
        """The records webhooks named, read by id: before the incremental read and after
        each of its commits (a transaction commits early when a hint waits), so a change
        named while a long read runs waits for a page of it, not the whole read."""
        if by_id is None:
            return 0
        return _read_hinted(
            factory, by_id, mapping, crm, partners, clock, report,
            {"quarantined": quarantined, "new_in_quarantine": new_in_quarantine,
             "handlers": handlers}, max(lookback, HINT_WINDOW_MIN),
        )  # fmt: skip

    if read_hinted() and on_page is not None:
        on_page(report)

    # Pages are read and mapped in a thread while the ones before them are stored. The
    # watermark is still committed only with the pages before it: an interruption loses
    # at most the pages read since the last commit, which the next run reads again.
    pages = read_ahead(
        connector.changed_since(watermark, fields, cursor),
        functools.partial(prepare, crm=crm, mapping=mapping, partners=partners, clock=clock),
        ahead=_AHEAD,
    )
    failures: list[Exception] = []
    hints_checked = time.monotonic()
    # closing(): stops the read-ahead thread however the loop ends.
    with closing(pages), garbage_collector_spares_existing():
        for first in (readable := until_failure(pages, failures)):
            # Pages share a transaction up to commit_records records or commit_seconds, and
            # it commits them with the watermark and cursor that follow the last of them.
            deadline = time.monotonic() + commit_seconds
            written = 0
            with transaction(factory) as session:
                writer = PageWriter(
                    session, crm, mapping, fresh=fresh, quarantined=quarantined,
                    new_in_quarantine=new_in_quarantine, handlers=handlers,
                )  # fmt: skip
                for prepared in chain((first,), readable):
                    writer.write(prepared, report)
                    _advance(_state(session, crm, obj), prepared.page, full_read, prepared.now)
                    report.pages += 1
                    if report.total is None:
                        report.total = prepared.page.total
                    report.api_calls = connector.calls - calls_before
                    if on_progress is not None:
                        on_progress(report)
                    written += len(prepared.page.records)
                    if written >= commit_records or time.monotonic() >= deadline:
                        break
                    if by_id is not None and time.monotonic() >= hints_checked + _HINT_CHECK:
                        hints_checked = time.monotonic()
                        if _hints_waiting(session, crm):
                            break  # commit now: the named deal is read right after
            read_hinted()
            if on_page is not None:
                on_page(report)
    if failures:  # a failed read, raised once the pages read before it are committed
        raise failures[0]

    deletes_due = deletes_from is None or full_read or run_started - deletes_from >= deletes_every
    if not connector.deletes_in_stream and deletes_due:
        since = deletes_from or datetime(1970, 1, 1, tzinfo=UTC)
        gone = [(d.id, d.deleted_at) for d in connector.deleted_since(since)]
        with transaction(factory) as session:
            if gone:
                writer = PageWriter(session, crm, mapping, handlers=handlers)
                report.deleted += len(writer.write_deleted(gone, clock()))
            _state(session, crm, obj).deletes_checked_at = run_started

    report.api_calls = connector.calls - calls_before
    report.seconds = time.perf_counter() - started
    log.info("pull.done", **{k: v for k, v in report.as_dict().items() if k != "seconds"},
             seconds=round(report.seconds, 3))  # fmt: skip
    return report


def note_hints(factory: sessionmaker[Session], crm: Crm, crm_ids: Sequence[str],
               now: datetime) -> int:  # fmt: skip
    """Note records a webhook said changed, for the next pull of ``crm`` to read by id
    (one noted again gets the new time: a pull reading it meanwhile keeps it); the
    number of ids noted."""
    from sync.mirror.pages import _insert

    wanted = sorted({crm_id for crm_id in crm_ids if crm_id})
    if not wanted:
        return 0
    with transaction(factory) as session:
        statement = _insert(session, PullHint.__table__)  # type: ignore[arg-type]
        session.execute(
            statement.on_conflict_do_update(
                index_elements=["crm", "crm_id"], set_={"noted_at": statement.excluded.noted_at}
            ),
            [{"crm": crm.value, "crm_id": crm_id, "noted_at": now} for crm_id in wanted],
        )
    return len(wanted)


def _hints_waiting(session: Session, crm: Crm) -> bool:
    """Whether a hint waits, asked in the page's own transaction: PostgreSQL shows each
    statement what others committed; SQLite's writers wait for this transaction anyway."""
    return bool(session.scalar(select(exists().where(PullHint.crm == crm.value))))


def _read_hinted(
    factory: sessionmaker[Session],
    connector: ReadsById,
    mapping: CompiledMapping,
    crm: Crm,
    partners: PartnerIndex,
    clock: Callable[[], datetime],
    report: PullReport,
    options: dict[str, Any],
    window: timedelta,
) -> int:
    """Read the records webhooks named within ``window`` by id, newest first, and store
    them like a page, in one transaction that also removes their hints; older hints are
    dropped unread (the incremental read shows their changes by now). The watermark stays
    where it is: the incremental read after this covers the same span. The records read."""
    with transaction(factory) as session:
        session.execute(
            delete(PullHint).where(PullHint.crm == crm.value, PullHint.noted_at < clock() - window)
        )
        hints = [
            (crm_id, noted_at)
            for crm_id, noted_at in session.execute(
                select(PullHint.crm_id, PullHint.noted_at)
                .where(PullHint.crm == crm.value)
                .order_by(PullHint.noted_at.desc(), PullHint.crm_id)
                .limit(HINTS_PER_PULL)
            )
        ]
    if not hints:
        return 0
    ids = [crm_id for crm_id, _ in hints]
    page = connector.read_ids(ids, mapping.read_fields())
    prepared = prepare(page, crm=crm, mapping=mapping, partners=partners, clock=clock)
    with transaction(factory) as session:
        PageWriter(session, crm, mapping, **options).write(prepared, report)
        # A hint noted again while the read ran (a newer time) stays for the next pull.
        session.execute(
            delete(PullHint).where(
                PullHint.crm == crm.value,
                tuple_(PullHint.crm_id, PullHint.noted_at).in_(hints),
            )
        )
    report.hinted += len(page.records)
    return len(page.records)
