"""One page of the mirror: mapped (pure, in the read-ahead thread), then stored.

:func:`prepare` maps a page's records through the inbound mapping (no store access, so it
runs while the page before it is stored); :class:`PageWriter` upserts the mapped rows in
bulk in the current transaction, quarantines what cannot be stored, marks deletes, and
hands the page's changes to the handlers.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any, cast

from sqlalchemy import Row, Table, delete, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from connectors.base import CrmRecord, RecordPage
from rules.matching import domain_key, name_key
from sync.mapping import CompiledMapping, RecordMappingError
from sync.mirror.handlers import MirrorHandler, PageChanges, run_handlers
from sync.store import Crm, Opportunity, Partner, QuarantinedRecord
from sync.store.bulk import upsert_returning

if TYPE_CHECKING:
    from sync.mirror.pull import PullReport

__all__ = ["PageWriter", "PartnerIndex", "Prepared", "prepare"]

_MIRRORED = (
    "name", "account_name", "account_domain", "amount", "currency", "stage", "is_closed",
    "is_won", "close_date", "practice", "direction", "partner_ref", "paid_amount",
    "paid_date", "cost", "registration_key",
)  # fmt: skip


def _insert(session: Session, table: Table) -> Any:
    dialect = session.get_bind().dialect.name
    if dialect == "postgresql":
        return postgresql.insert(table)
    if dialect == "sqlite":
        return sqlite.insert(table)
    raise NotImplementedError(f"no upsert for the {dialect} dialect")


class PartnerIndex:
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
class Prepared:
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


def prepare(
    page: RecordPage,
    crm: Crm,
    mapping: CompiledMapping,
    partners: PartnerIndex,
    clock: Callable[[], datetime],
) -> Prepared:
    """Map one page (pure: no store access), so it can run while the last page is stored."""
    now = clock()
    out = Prepared(page, crm, now)
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
            # The customer keys registrations are matched on (cached per distinct value).
            customer_name_key=name_key(values.get("account_name")),
            customer_domain_key=domain_key(values.get("account_domain")),
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


class PageWriter:
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

    def write(self, prepared: Prepared, report: PullReport) -> None:
        now = prepared.now
        ids = [row["crm_id"] for row in prepared.rows]
        known_ids: dict[str, int] = {}
        stored = {} if self.fresh else self._stored(ids)
        rows = prepared.rows
        if stored:  # re-read through the lookback (nothing new), or an older version
            # than the store holds (a lagging search index after a read by id): skipped
            rows = [
                row
                for row in rows
                if (held := stored.get(row["crm_id"])) is None
                or held.deleted
                or row["crm_modified_at"] > held.crm_modified_at
            ]
            report.unchanged += len(prepared.rows) - len(rows)
        if rows:
            # With handlers, the ids of the rows written come back with the write: they
            # name the deals they act on, and a page needs no look-up for them.
            refused, written = upsert_returning(
                self.session,
                Opportunity.__table__,  # type: ignore[arg-type]
                rows,
                ("crm", "crm_id"),
                [c for c in rows[0] if c not in ("crm", "crm_id", "first_seen_at")],
                ("crm_id", "id") if self.handlers else (),
                existing={(self.crm, crm_id) for crm_id in stored},
                refuse_rows=True,
            )
            known_ids = {crm_id: id_ for crm_id, id_ in written}
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
                deleted=deleted, known_ids=known_ids,
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
