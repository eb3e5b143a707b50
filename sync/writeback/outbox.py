"""The outbox: what must reach the CRM, staged in the same transaction as the change.

Services call :func:`stage` with the partnersync values an opportunity's CRM fields must
show (``{"registration.status": "approved", "commission.accrued": Decimal("120.00")}``).
Values for one record coalesce into its one open row, so the push sends the latest desired
values once, however many changes came before it.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any, cast

from sqlalchemy import Table, bindparam, select, update
from sqlalchemy.orm import Session

from sync.mapping import OUTBOUND
from sync.mapping.coerce import COERCERS
from sync.plain import plain
from sync.store import (
    OPEN_OUTBOX_STATUSES,
    OUTBOX_OPEN,
    Crm,
    Opportunity,
    OutboxEntry,
    OutboxStatus,
)
from sync.store.bulk import insert_absent
from sync.store.lists import one_of

__all__ = ["Staged", "open_rows", "stage", "stage_many"]


def _typed(source: str, value: Any) -> Any:
    """``value`` as its outbound type (money exact, a date for a date-time), or the state's
    name; ``ValueError`` when it is not one (a programming error)."""
    kind = OUTBOUND[source]
    if value is None or kind.states is not None:
        return value
    if isinstance(value, float):
        raise TypeError(f"{source}: float {value!r} refused; money and figures are Decimal")
    if isinstance(value, datetime) and kind.coerce == "date":
        return value.date()
    return COERCERS[kind.coerce](value)


@dataclass(frozen=True)
class Staged:
    """What one record's CRM fields must show: the mirrored opportunity and the values."""

    opportunity_id: int
    crm: Crm
    crm_id: str
    values: Mapping[str, Any]


def _plain_values(values: Mapping[str, Any]) -> dict[str, Any]:
    unknown = [source for source in values if source not in OUTBOUND]
    if unknown:
        raise KeyError(f"not an outbound value: {', '.join(unknown)}")
    return {source: _plain_value(source, value) for source, value in values.items()}


def _plain_value(source: str, value: Any) -> Any:
    """``plain(_typed(source, value))``, with the values a commission stages (an exact
    amount, a currency code, nothing) made directly: a replay stages one record a deal."""
    if value is None:
        return None
    kind = type(value)
    if OUTBOUND[source].states is None:
        coerce = OUTBOUND[source].coerce
        if kind is Decimal and coerce == "decimal" and value.is_finite():
            return format(value, "f")
        if kind is str and coerce == "text" and "\x00" not in value:
            return value.strip() or None
    return plain(_typed(source, value), path=source)


_OUTBOX = cast(Table, OutboxEntry.__table__)
#: The condition of the partial unique index of open rows (one open row per record).
_OPEN_SQL = "status IN (" + ", ".join(f"'{s.value}'" for s in OPEN_OUTBOX_STATUSES) + ")"


def open_rows(session: Session, crm: Crm, crm_ids: Sequence[str]) -> list[tuple[int, str, Any]]:
    """The open rows (id, CRM id, desired values) of these records, locked, through the
    partial unique index of open rows. SQLite is told to use it: with a page's ids and no
    statistics yet (an outbox empty at the last ANALYZE), its planner prefers the (crm,
    status) index and reads every open row of the CRM for every page (30 ms a thousand
    ids, against 0.6)."""
    table = _OUTBOX
    rows = session.execute(
        select(table.c.id, table.c.crm_id, table.c.desired)
        .where(
            table.c.crm == crm,
            one_of(table.c.crm_id, crm_ids, session.get_bind().dialect.name),
            OUTBOX_OPEN,
        )
        .with_hint(table, "INDEXED BY uq_outbox_open_record", "sqlite")
        .with_for_update()
    )
    return [(id_, crm_id, desired) for id_, crm_id, desired in rows]


def stage_many(session: Session, items: Sequence[Staged]) -> None:
    """:func:`stage` for many records, in a few statements whatever their number.

    Each record gets an open row in one insert that leaves out the records that have one
    (the partial unique index of open rows). When every row went in, which is the rule for
    a page of deals the outbox had not seen, that is all: no look-up first. Otherwise the
    records' open rows are read and the values merged into those that held others."""
    if not items:
        return
    now = datetime.now(UTC)
    merged: dict[tuple[Crm, str], tuple[Staged, dict[str, Any]]] = {}
    for item in items:
        key = (item.crm, item.crm_id)
        known = merged.get(key)
        values = {**(known[1] if known else {}), **_plain_values(item.values)}
        merged[key] = (item, values)
    # Plain rows, no ORM objects: a page stages thousands. What the session holds is
    # written first, so the insert and the look-up see it.
    session.flush()
    table = _OUTBOX
    rows = [
        {
            "crm": item.crm, "crm_id": item.crm_id, "opportunity_id": item.opportunity_id,
            "desired": values, "status": OutboxStatus.PENDING, "attempts": 0,
            "created_at": now, "updated_at": now,
        }
        for item, values in merged.values()
    ]  # fmt: skip
    if insert_absent(session, table, rows, ("crm", "crm_id"), _OPEN_SQL) == len(rows):
        return
    found: dict[tuple[Crm, str], tuple[int, dict[str, Any]]] = {}
    for crm in {crm for crm, _ in merged}:
        ids = [crm_id for c, crm_id in merged if c == crm]
        for start in range(0, len(ids), 1000):
            for id_, crm_id, desired in open_rows(session, crm, ids[start : start + 1000]):
                found[(crm, crm_id)] = (id_, desired)
    changed: list[dict[str, Any]] = []
    gone: list[dict[str, Any]] = []  # their open row was sent and closed since the insert
    for row, (key, (_, values)) in zip(rows, merged.items(), strict=True):
        if key not in found:
            gone.append(row)
            continue
        id_, desired = found[key]
        if {**desired, **values} != desired:  # a row just inserted holds these values
            changed.append({"key": id_, "desired": {**desired, **values}, "at": now})
    if gone:
        insert_absent(session, table, gone, ("crm", "crm_id"), _OPEN_SQL)
    if changed:
        session.execute(
            update(table).where(table.c.id == bindparam("key"))
            .values(desired=bindparam("desired"), updated_at=bindparam("at")),
            changed,
        )  # fmt: skip
        # The session's copies of those rows (a stage() before) read the new values.
        updated = {row["key"] for row in changed}
        for held in list(session.identity_map.values()):
            if isinstance(held, OutboxEntry) and held.id in updated:
                session.expire(held)


def stage(session: Session, opportunity: Opportunity, values: Mapping[str, Any]) -> OutboxEntry:
    """Record that ``opportunity``'s CRM fields must show ``values`` (outbound sources).

    Raises ``KeyError`` for a source outside the outbound vocabulary: a programming error.
    """
    plain_values = _plain_values(values)
    entry = session.scalars(
        select(OutboxEntry)
        .where(
            OutboxEntry.crm == opportunity.crm,
            OutboxEntry.crm_id == opportunity.crm_id,
            OUTBOX_OPEN,
        )
        .with_hint(OutboxEntry, "INDEXED BY uq_outbox_open_record", "sqlite")
        .with_for_update()
    ).first()
    if entry is None:
        entry = OutboxEntry(
            crm=opportunity.crm,
            crm_id=opportunity.crm_id,
            opportunity_id=opportunity.id,
            desired=plain_values,
            status=OutboxStatus.PENDING,
            attempts=0,
        )
        session.add(entry)
    else:
        entry.desired = {
            **entry.desired,
            **plain_values,
        }  # a new dict: JSON columns track assignment
    session.flush()
    return entry
