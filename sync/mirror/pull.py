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
from collections.abc import Callable, Iterable, Mapping, Sequence
from contextlib import closing
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from itertools import chain
from typing import Any, cast

from sqlalchemy import Row, Table, delete, exists, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session, sessionmaker

from connectors.base import CrmConnector, CrmRecord, RecordPage, Watermark
from sync.log import get_logger
from sync.mapping import CompiledMapping, RecordMappingError
from sync.mirror.handlers import MirrorHandler, PageChanges, run_handlers
from sync.mirror.pipeline import garbage_collector_spares_existing, read_ahead, until_failure
from sync.store import Crm, Opportunity, Partner, QuarantinedRecord, SyncState, transaction
from sync.store.bulk import upsert

__all__ = ["COMMIT_RECORDS", "COMMIT_SECONDS", "PullReport", "pull"]

log = get_logger("sync.mirror.pull")

_MIRRORED = (
    "name", "account_name", "account_domain", "amount", "currency", "stage", "is_closed",
    "is_won", "close_date", "practice", "direction", "partner_ref", "paid_amount",
    "paid_date", "cost",
)  # fmt: skip

#: A transaction commits once its pages hold this many records ... (a commit waits for the
#: disk: on SQLite, one per 2,000-record page cost a twentieth of a full mirror's time)
COMMIT_RECORDS = 10_000
#: ... or once it has been open this long (seconds), whichever comes first.
COMMIT_SECONDS = 2.0
#: Pages read and mapped ahead of the one being stored.
_AHEAD = 2


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


def _insert(session: Session, table: Table) -> Any:
    dialect = session.get_bind().dialect.name
    if dialect == "postgresql":
        return postgresql.insert(table)
    if dialect == "sqlite":
        return sqlite.insert(table)
    raise NotImplementedError(f"no upsert for the {dialect} dialect")


class _PartnerIndex:
    """Resolves a CRM partner reference to a partner id: by the partner's own id, or by its
    account id in this CRM in any form the CRM writes it (``aliases``)."""

    def __init__(self, session: Session, crm: Crm, aliases: Callable[[str], Iterable[str]]) -> None:
        self.by_ref: dict[str, str] = {}
        rows = session.execute(select(Partner.id, Partner.account_id_column(crm)))
        for partner_id, crm_ref in rows:
            self.by_ref[partner_id] = partner_id
            for alias in aliases(crm_ref) if crm_ref else ():
                self.by_ref[alias] = partner_id

    def resolve(self, ref: str | None) -> str | None:
        return self.by_ref.get(ref) if ref else None


def _check_complete(values: Mapping[str, Any]) -> None:
    """What a record needs before it can be stored (the columns' own checks on each value,
    exact money, ISO currency, text length, run in the upsert, which refuses the row)."""
    if values.get("name") and (
        values.get("currency")
        or (values.get("amount") is None and values.get("paid_amount") is None
            and values.get("cost") is None)
    ):  # fmt: skip
        return  # the common case, without building anything
    problems = []
    if not values.get("name"):
        problems.append("name: the record has no name")
    money = [k for k in ("amount", "paid_amount", "cost") if values.get(k) is not None]
    if money and not values.get("currency"):
        problems.append(
            f"currency: {money[0]} has no currency (map currency, or give it a default)"
        )
    if problems:
        raise RecordMappingError(problems)


def _raw_payload(record: CrmRecord) -> dict[str, Any]:
    return {"id": record.id, "modified_at": record.modified_at.isoformat(), **record.values}


@dataclass
class _Prepared:
    """One page mapped, nothing stored yet: what :func:`_prepare` hands the writer."""

    page: RecordPage
    crm: Crm
    now: datetime
    rows: list[dict[str, Any]] = field(default_factory=list)  # mirrored rows, mapped
    inbound: dict[str, dict[str, Any]] = field(default_factory=dict)  # crm_id -> mapped values
    bad: list[dict[str, Any]] = field(default_factory=list)  # quarantine rows
    reasons: Counter[str] = field(default_factory=Counter)  # first problem of each bad one
    gone: list[tuple[str, datetime]] = field(default_factory=list)  # deleted: id, when

    def quarantine(self, record: CrmRecord, problems: Sequence[str]) -> None:
        self.reasons[problems[0].split(":")[0]] += 1
        self.bad.append(
            {
                "crm": self.crm,
                "crm_id": record.id,
                "reason": "; ".join(problems),
                "payload": _raw_payload(record),
                "first_seen_at": self.now,
                "last_seen_at": self.now,
                "attempts": 1,
            }
        )


def _prepare(
    page: RecordPage,
    crm: Crm,
    mapping: CompiledMapping,
    partners: _PartnerIndex,
    clock: Callable[[], datetime],
) -> _Prepared:
    """Map one page (pure: no store access), so it can run while the last page is stored."""
    now = clock()
    out = _Prepared(page, crm, now)
    outbound = [(spec.crm_field, spec.canonical) for spec in mapping.outbound.values()]
    for record in page.records:
        if record.deleted:
            out.gone.append((record.id, record.modified_at))
            continue
        try:
            values = mapping.apply_inbound(record.values)
            _check_complete(values)
        except RecordMappingError as exc:
            out.quarantine(record, exc.problems)
            continue
        raw = record.values
        row = {name: values.get(name) for name in _MIRRORED}
        row.update(
            crm=crm,
            crm_id=record.id,
            partner_id=partners.resolve(values.get("partner_ref")),
            crm_modified_at=record.modified_at,
            deleted=False,
            deleted_at=None,
            crm_values={name: canonical(raw.get(name)) for name, canonical in outbound},
            first_seen_at=now,
            updated_at=now,
        )
        out.rows.append(row)
        out.inbound[record.id] = values
    return out


class _PageWriter:
    """Stores prepared pages in the current transaction and runs the handlers on each.

    ``fresh``: the store held no record of this CRM when the pull began, so there is
    nothing to compare pages with (stored versions, values before) and the look-ups are
    skipped; ``quarantined``: whether it held any of this CRM's records in quarantine.
    Both only save queries: the upsert settles a record written twice either way.
    """

    def __init__(
        self, session: Session, crm: Crm, mapping: CompiledMapping, *, fresh: bool = False,
        quarantined: bool = True, new_in_quarantine: set[str] | None = None,
        handlers: Sequence[MirrorHandler] = (),
    ) -> None:  # fmt: skip
        self.session = session
        self.crm = crm
        self.mapping = mapping
        self.fresh = fresh
        self.quarantined = quarantined
        # Records quarantined by this pull so far (a later page may bring a good version).
        self.new_in_quarantine = new_in_quarantine if new_in_quarantine is not None else set()
        self.handlers = handlers
        # The columns whose values before a page some handler reads.
        self.before_columns = sorted(set().union(*(h.before for h in handlers)) - {"id"})

    def write(self, prepared: _Prepared, report: PullReport) -> None:
        now = prepared.now
        ids = [row["crm_id"] for row in prepared.rows]
        stored = {} if self.fresh else self._stored(ids)
        rows = prepared.rows
        if stored:  # re-read through the lookback: nothing new
            rows = [
                row
                for row in rows
                if (held := stored.get(row["crm_id"])) is None
                or (held.crm_modified_at, held.deleted) != (row["crm_modified_at"], False)
            ]
            report.unchanged += len(prepared.rows) - len(rows)
        if rows:
            refused = upsert(
                self.session,
                Opportunity.__table__,  # type: ignore[arg-type]
                rows,
                ("crm", "crm_id"),
                [c for c in rows[0] if c not in ("crm", "crm_id", "first_seen_at")],
                existing={(self.crm, crm_id) for crm_id in stored},
                refuse_rows=True,
            )
            if refused:  # values the store cannot hold: quarantined like unmappable ones
                by_id = {record.id: record for record in prepared.page.records}
                for item in refused:
                    prepared.quarantine(by_id[item.row["crm_id"]], item.problems)
                refused_ids = {item.row["crm_id"] for item in refused}
                rows = [row for row in rows if row["crm_id"] not in refused_ids]
            self._release([row["crm_id"] for row in rows], report)
        if prepared.bad:
            self._quarantine(prepared.bad)
            self.new_in_quarantine.update(row["crm_id"] for row in prepared.bad)
        report.quarantine_reasons.update(prepared.reasons)
        deleted = self.mark_deleted(prepared.gone) if prepared.gone else []
        report.deleted += len(deleted)
        report.read += len(prepared.page.records)
        report.upserted += len(rows)
        report.quarantined += len(prepared.bad)
        if self.handlers and (rows or deleted):
            before: dict[str, Mapping[str, Any]] = {}
            for row in rows:
                if (held := stored.get(row["crm_id"])) is not None:
                    before[row["crm_id"]] = cast(Mapping[str, Any], held._mapping)
            changes = PageChanges(
                self.crm, self.mapping, now, rows=rows, inbound=prepared.inbound, before=before,
                deleted=deleted,
            )  # fmt: skip
            report.handled.update(run_handlers(self.session, self.handlers, changes))

    def write_deleted(self, gone: Sequence[tuple[str, datetime]], now: datetime) -> list[str]:
        """Mark records deleted that were read apart from the pages (HubSpot's archived
        listing), and run the handlers on them; returns the CRM ids newly marked."""
        deleted = self.mark_deleted(gone)
        if self.handlers and deleted:
            changes = PageChanges(self.crm, self.mapping, now, deleted=deleted)
            run_handlers(self.session, self.handlers, changes)
        return deleted

    def _release(self, crm_ids: list[str], report: PullReport) -> None:
        """A good version of a quarantined record takes it out of quarantine."""
        if not self.quarantined:
            crm_ids = [i for i in crm_ids if i in self.new_in_quarantine]
            if not crm_ids:
                return
            self.new_in_quarantine.difference_update(crm_ids)
        released = self.session.execute(
            delete(QuarantinedRecord).where(
                QuarantinedRecord.crm == self.crm, QuarantinedRecord.crm_id.in_(crm_ids)
            )
        )
        report.released += released.rowcount or 0  # type: ignore[attr-defined]

    def _stored(self, crm_ids: Sequence[str]) -> dict[str, Row[Any]]:
        """The page's records already mirrored: their id, modified time and deleted flag,
        and the columns the handlers read, as stored before this page: one query."""
        if not crm_ids:
            return {}
        columns = [
            Opportunity.crm_id, Opportunity.id, Opportunity.crm_modified_at, Opportunity.deleted,
            *(getattr(Opportunity, name) for name in self.before_columns),
        ]  # fmt: skip
        rows = self.session.execute(
            select(*columns).where(Opportunity.crm == self.crm, Opportunity.crm_id.in_(crm_ids))
        )
        return {row.crm_id: row for row in rows}

    def _quarantine(self, rows: list[dict[str, Any]]) -> None:
        table = QuarantinedRecord.__table__
        statement = _insert(self.session, table)  # type: ignore[arg-type]
        statement = statement.on_conflict_do_update(
            index_elements=["crm", "crm_id"],
            set_={
                "reason": statement.excluded.reason,
                "payload": statement.excluded.payload,
                "last_seen_at": statement.excluded.last_seen_at,
                "attempts": table.c.attempts + 1,
            },
        )
        self.session.execute(statement, rows)

    def mark_deleted(self, records: Sequence[tuple[str, datetime]]) -> list[str]:
        """Mark records deleted (keeping their rows); returns the CRM ids that changed."""
        changed: list[str] = []
        by_time: dict[datetime, list[str]] = {}
        for crm_id, when in records:
            by_time.setdefault(when, []).append(crm_id)
        for when, ids in by_time.items():
            result = self.session.execute(
                update(Opportunity)
                .where(
                    Opportunity.crm == self.crm,
                    Opportunity.crm_id.in_(ids),
                    Opportunity.deleted.is_(False),
                )
                .values(deleted=True, deleted_at=when, updated_at=when)
                .returning(Opportunity.crm_id)
            )
            changed.extend(result.scalars())
        return changed


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
        partners = _PartnerIndex(session, crm, connector.id_aliases)

    # Pages are read and mapped in a thread while the ones before them are stored. The
    # watermark is still committed only with the pages before it: an interruption loses
    # at most the pages read since the last commit, which the next run reads again.
    pages = read_ahead(
        connector.changed_since(watermark, fields, cursor),
        functools.partial(_prepare, crm=crm, mapping=mapping, partners=partners, clock=clock),
        ahead=_AHEAD,
    )
    new_in_quarantine: set[str] = set()
    failures: list[Exception] = []
    # closing(): stops the read-ahead thread however the loop ends.
    with closing(pages), garbage_collector_spares_existing():
        for first in (readable := until_failure(pages, failures)):
            # Pages share a transaction up to commit_records records or commit_seconds, and
            # it commits them with the watermark and cursor that follow the last of them.
            deadline = time.monotonic() + commit_seconds
            written = 0
            with transaction(factory) as session:
                writer = _PageWriter(
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
                writer = _PageWriter(session, crm, mapping, handlers=handlers)
                report.deleted += len(writer.write_deleted(gone, clock()))
            _state(session, crm, obj).deletes_checked_at = run_started

    report.api_calls = connector.calls - calls_before
    report.seconds = time.perf_counter() - started
    log.info("pull.done", **{k: v for k, v in report.as_dict().items() if k != "seconds"},
             seconds=round(report.seconds, 3))  # fmt: skip
    return report
