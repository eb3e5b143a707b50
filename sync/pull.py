"""The mirror: CRM pages -> mapped rows -> the store, a few pages to a transaction.

Each page is mapped through the inbound mapping and upserted in bulk (one statement per
page, not a query per record); a transaction holds pages up to ~2,000 records (one
Salesforce page, twenty HubSpot pages) and commits them together with the watermark (or
full-read cursor) that follows the last of them. An interruption at any point therefore
resumes exactly after the last committed page: no gap, and re-reading a page is harmless
because the upsert is idempotent.

A record that cannot be mapped goes to quarantine with the reason and the raw payload; the
rest of the page proceeds, and a later good version of the record leaves quarantine.
Deleted (Salesforce) and archived (HubSpot) records are marked deleted, never dropped.
"""

from __future__ import annotations

import functools
import queue
import threading
import time
from collections import Counter
from collections.abc import Callable, Generator, Iterator, Mapping, Sequence
from contextlib import closing
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from itertools import chain
from typing import Any

from sqlalchemy import String, Table, delete, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session, sessionmaker

from connectors.base import CrmConnector, CrmRecord, RecordPage, Watermark
from sync.drift import Pulled, correct_drift, load_synced
from sync.log import get_logger
from sync.mapping import CompiledMapping, RecordMappingError
from sync.store import Crm, Opportunity, Partner, QuarantinedRecord, SyncState, transaction
from sync.store.bulk import upsert
from sync.store.types import CurrencyCode, ExactDecimal

__all__ = ["COMMIT_RECORDS", "COMMIT_SECONDS", "PullReport", "pull"]

log = get_logger("sync.pull")

_MIRRORED = (
    "name", "account_name", "account_domain", "amount", "currency", "stage", "is_closed",
    "is_won", "close_date", "practice", "direction", "partner_ref", "paid_amount",
    "paid_date", "cost",
)  # fmt: skip

#: A transaction commits once its pages hold this many records (one Salesforce page,
#: twenty HubSpot pages) ...
COMMIT_RECORDS = 2_000
#: ... or once it has been open this long (seconds), whichever comes first.
COMMIT_SECONDS = 2.0


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
    drifted: int = 0
    api_calls: int = 0
    seconds: float = 0.0
    quarantine_reasons: Counter[str] = field(default_factory=Counter)

    def as_dict(self) -> dict[str, Any]:
        data = {k: v for k, v in self.__dict__.items() if k != "quarantine_reasons"}
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
    """Resolves a CRM partner reference to a partner id (by id or by CRM account id)."""

    def __init__(self, session: Session, crm: Crm) -> None:
        self.by_ref: dict[str, str] = {}
        for partner in session.scalars(select(Partner)):
            self.by_ref[partner.id] = partner.id
            crm_ref = (
                partner.salesforce_account_id
                if crm is Crm.SALESFORCE
                else partner.hubspot_company_id
            )
            if crm_ref:
                self.by_ref[crm_ref] = partner.id
                if crm is Crm.SALESFORCE and len(crm_ref) == 18:
                    self.by_ref[crm_ref[:15]] = partner.id

    def resolve(self, ref: str | None) -> str | None:
        return self.by_ref.get(ref) if ref else None


def _deleted_flag(record: CrmRecord) -> bool:
    return record.values.get("IsDeleted") is True


def _column_checks() -> list[tuple[str, Callable[[Any], Any]]]:
    """For each mirrored column, what refuses a value it cannot hold (money that does not
    fit exactly, a currency that is not an ISO code, text longer than the column)."""
    checks: list[tuple[str, Callable[[Any], Any]]] = []
    for column in Opportunity.__table__.columns:
        kind = column.type
        if column.name not in _MIRRORED:
            continue
        if isinstance(kind, ExactDecimal):
            checks.append((column.name, kind.exact))
        elif isinstance(kind, CurrencyCode):
            checks.append((column.name, functools.partial(_iso_currency, kind)))
        elif isinstance(kind, String) and kind.length:
            checks.append((column.name, functools.partial(_fits_length, kind.length)))
    return checks


def _iso_currency(kind: CurrencyCode, value: Any) -> None:
    kind.process_bind_param(value, None)  # type: ignore[arg-type]  # no dialect needed


def _fits_length(length: int, value: Any) -> None:
    if isinstance(value, str) and len(value) > length:
        raise ValueError(f"{len(value)} characters, at most {length} are kept")


_COLUMN_CHECKS = _column_checks()


def _check_complete(values: Mapping[str, Any]) -> None:
    """Values the store cannot hold are a mapping problem, named like one."""
    problems = []
    if not values.get("name"):
        problems.append("name: the record has no name")
    money = [k for k in ("amount", "paid_amount", "cost") if values.get(k) is not None]
    if money and not values.get("currency"):
        problems.append(
            f"currency: {money[0]} has no currency (map currency, or give it a default)"
        )
    for name, check in _COLUMN_CHECKS:
        value = values.get(name)
        if value is None:
            continue
        try:
            check(value)
        except (ValueError, TypeError) as exc:
            problems.append(f"{name}: {exc}")
    if problems:
        raise RecordMappingError(problems)


def _raw_payload(record: CrmRecord) -> dict[str, Any]:
    return {"id": record.id, "modified_at": record.modified_at.isoformat(), **record.values}


class _PageWriter:
    """Stores one page in the current transaction."""

    def __init__(
        self, session: Session, crm: Crm, mapping: CompiledMapping, partners: _PartnerIndex
    ) -> None:
        self.session = session
        self.crm = crm
        self.mapping = mapping
        self.partners = partners

    def write(self, page: RecordPage, report: PullReport, now: datetime) -> None:
        rows: list[dict[str, Any]] = []
        bad: list[dict[str, Any]] = []
        gone: list[CrmRecord] = []
        outbound = list(self.mapping.outbound.values())
        stored = self._stored_versions([r.id for r in page.records])
        synced = load_synced(self.session, self.crm, [r.id for r in page.records])
        pulled: dict[str, Pulled] = {}
        for record in page.records:
            if _deleted_flag(record):
                gone.append(record)
                continue
            if stored.get(record.id) == (record.modified_at, False):
                report.unchanged += 1  # re-read through the lookback: nothing new
                continue
            try:
                values = self.mapping.apply_inbound(record.values)
                _check_complete(values)
            except RecordMappingError as exc:
                report.quarantine_reasons[exc.problems[0].split(":")[0]] += 1
                bad.append(
                    {
                        "crm": self.crm,
                        "crm_id": record.id,
                        "reason": str(exc),
                        "payload": _raw_payload(record),
                        "first_seen_at": now,
                        "last_seen_at": now,
                        "attempts": 1,
                    }
                )
                continue
            crm_values = {
                spec.crm_field: spec.canonical(record.values.get(spec.crm_field))
                for spec in outbound
            }
            row = {name: values.get(name) for name in _MIRRORED}
            row.update(
                crm=self.crm,
                crm_id=record.id,
                partner_id=self.partners.resolve(values.get("partner_ref")),
                crm_modified_at=record.modified_at,
                deleted=False,
                deleted_at=None,
                crm_values=crm_values,
                first_seen_at=now,
                updated_at=now,
            )
            rows.append(row)
            if record.id in synced:
                pulled[record.id] = Pulled(
                    crm_values, record.modified_at, values.get("modified_by")
                )
        table = Opportunity.__table__
        if rows:
            update_columns = [c for c in rows[0] if c not in ("crm", "crm_id", "first_seen_at")]
            upsert(self.session, table, rows, ("crm", "crm_id"), update_columns)  # type: ignore[arg-type]
            released = self.session.execute(
                delete(QuarantinedRecord).where(
                    QuarantinedRecord.crm == self.crm,
                    QuarantinedRecord.crm_id.in_([r["crm_id"] for r in rows]),
                )
            )
            report.released += released.rowcount or 0  # type: ignore[attr-defined]
        if pulled:  # after the upsert: crm_values now hold what the CRM shows
            report.drifted += correct_drift(
                self.session, self.crm, self.mapping, synced, pulled, now
            )
        if bad:
            self._quarantine(bad)
        if gone:
            report.deleted += self.mark_deleted([(r.id, r.modified_at) for r in gone])
        report.read += len(page.records)
        report.upserted += len(rows)
        report.quarantined += len(bad)

    def _stored_versions(self, crm_ids: Sequence[str]) -> dict[str, tuple[datetime, bool]]:
        """(modified time, deleted) of the page's records already mirrored: one query."""
        if not crm_ids:
            return {}
        rows = self.session.execute(
            select(Opportunity.crm_id, Opportunity.crm_modified_at, Opportunity.deleted).where(
                Opportunity.crm == self.crm, Opportunity.crm_id.in_(crm_ids)
            )
        )
        return {crm_id: (modified, deleted) for crm_id, modified, deleted in rows}

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

    def mark_deleted(self, records: Sequence[tuple[str, datetime]]) -> int:
        """Mark records deleted (keeping their rows); returns how many changed."""
        changed = 0
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
            )
            changed += result.rowcount or 0  # type: ignore[attr-defined]
        return changed


def _read_ahead(pages: Iterator[RecordPage]) -> Generator[RecordPage, None, None]:
    """Fetch the next page in a thread while the current one is stored (one page ahead).

    The watermark is still committed only with the pages before it, so an interruption
    loses at most the pages read since the last commit, which the next run reads again.
    """
    handoff: queue.Queue[tuple[str, Any]] = queue.Queue(maxsize=1)
    stop = threading.Event()

    def offer(item: tuple[str, Any]) -> bool:
        """Hand one item over unless the consumer has gone; False once it has."""
        while not stop.is_set():
            try:
                handoff.put(item, timeout=0.1)
                return True
            except queue.Full:
                continue
        return False

    def produce() -> None:
        try:
            for page in pages:
                if not offer(("page", page)):
                    return
            offer(("end", None))
        except BaseException as exc:  # re-raised in the consumer
            offer(("error", exc))

    worker = threading.Thread(target=produce, name="pull-read-ahead", daemon=True)
    worker.start()
    try:
        while True:
            kind, item = handoff.get()
            if kind == "end":
                return
            if kind == "error":
                raise item
            yield item
    finally:
        stop.set()
        worker.join(timeout=30)


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
    commit_records: int = COMMIT_RECORDS,
    commit_seconds: float = COMMIT_SECONDS,
    deletes_every: timedelta = timedelta(0),
) -> PullReport:
    """Mirror changed (or, with ``full``, all) records of ``connector`` into the store.

    Pages are committed once they hold ``commit_records`` records or ``commit_seconds``
    have passed since their transaction began; ``on_page`` is called after each commit.
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
    full_read = watermark is None
    report = PullReport(crm=crm.value, object=obj, full=full_read)
    fields = mapping.read_fields()
    with transaction(factory) as session:
        partners = _PartnerIndex(session, crm)

    pages = _read_ahead(connector.changed_since(watermark, fields, cursor))
    with closing(pages):  # stops the read-ahead thread however the loop ends
        for first in pages:
            # Pages share a transaction up to commit_records records or commit_seconds (a
            # Salesforce page fills one; HubSpot's 100-record pages are grouped), and it
            # commits them with the watermark and cursor that follow the last of them.
            deadline = time.monotonic() + commit_seconds
            written = 0
            with transaction(factory) as session:
                writer = _PageWriter(session, crm, mapping, partners)
                for page in chain((first,), pages):
                    now = clock()
                    writer.write(page, report, now)
                    _advance(_state(session, crm, obj), page, full_read, now)
                    report.pages += 1
                    written += len(page.records)
                    if written >= commit_records or time.monotonic() >= deadline:
                        break
            report.api_calls = connector.calls - calls_before
            if on_page is not None:
                on_page(report)

    deletes_due = deletes_from is None or full_read or run_started - deletes_from >= deletes_every
    if not connector.deletes_in_stream and deletes_due:
        since = deletes_from or datetime(1970, 1, 1, tzinfo=UTC)
        gone = [(d.id, d.deleted_at) for d in connector.deleted_since(since)]
        with transaction(factory) as session:
            if gone:
                report.deleted += _PageWriter(session, crm, mapping, partners).mark_deleted(gone)
            _state(session, crm, obj).deletes_checked_at = run_started

    report.api_calls = connector.calls - calls_before
    report.seconds = time.perf_counter() - started
    log.info("pull.done", **{k: v for k, v in report.as_dict().items() if k != "seconds"},
             seconds=round(report.seconds, 3))  # fmt: skip
    return report


def quarantine_summary(session: Session, crm: Crm | None = None) -> Mapping[str, int]:
    """How many records wait in quarantine, by CRM."""
    query = select(QuarantinedRecord.crm)
    if crm is not None:
        query = query.where(QuarantinedRecord.crm == crm)
    return Counter(str(c) for c in session.scalars(query))
