"""Outbox staging: one open row per record, values coalesced, allow-listed sources."""

from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import event, select
from sqlalchemy.orm import Session, sessionmaker

from sync.mapping import load_mapping
from sync.store import Crm, Opportunity, OutboxEntry, OutboxStatus, RegistrationStatus, transaction
from sync.writeback.outbox import stage
from sync.writeback.push import plan_writes

MAPPING = load_mapping("mappings/salesforce.toml")


def opportunity(
    session: Session, crm_id: str = "006000000000001AAA", **values: object
) -> Opportunity:
    row = Opportunity(
        crm=Crm.SALESFORCE,
        crm_id=crm_id,
        name="Deal",
        crm_modified_at=datetime(2026, 1, 1, tzinfo=UTC),
        crm_values=dict(values),
    )
    session.add(row)
    session.flush()
    return row


def test_changes_coalesce_into_one_open_row(store: sessionmaker[Session]) -> None:
    """Several stagings for one record make one pending row holding the latest values."""
    with transaction(store) as session:
        opp = opportunity(session)
        stage(session, opp, {"registration.status": RegistrationStatus.PENDING})
        stage(
            session,
            opp,
            {"registration.status": "approved", "registration.protected_until": date(2026, 6, 30)},
        )
        stage(session, opp, {"commission.accrued": Decimal("1250.50")})
    with store() as session:
        rows = session.scalars(select(OutboxEntry)).all()
    assert len(rows) == 1
    assert rows[0].status is OutboxStatus.PENDING
    assert rows[0].desired == {
        "registration.status": "approved",
        "registration.protected_until": "2026-06-30",
        "commission.accrued": "1250.50",
    }


def test_staging_many_inserts_new_rows_and_merges_into_open_ones(
    store: sessionmaker[Session],
) -> None:
    """stage_many: a record without an open row gets one; a record with one (pending, or
    waiting to be retried) has the values merged into it, and the session's copy of it
    reads them; a record whose last row is done gets a new one. One open row each."""
    from sync.writeback.outbox import Staged, stage_many

    with transaction(store) as session:
        fresh, pending, retrying, done = (
            opportunity(session, f"006{n:015d}") for n in range(4)
        )  # fmt: skip
        held = stage(session, pending, {"registration.status": RegistrationStatus.PENDING})
        stage(
            session, retrying, {"registration.status": RegistrationStatus.PENDING}
        ).status = OutboxStatus.RETRY
        stage(session, done, {"registration.status": "approved"}).status = OutboxStatus.DONE
        session.flush()
        stage_many(session, [
            Staged(o.id, o.crm, o.crm_id, {"registration.reason": "duplicate"})
            for o in (fresh, pending, retrying, done)
        ])  # fmt: skip
        assert held.desired == {
            "registration.status": "pending",
            "registration.reason": "duplicate",
        }
    with store() as session:
        rows = session.execute(
            select(OutboxEntry.crm_id, OutboxEntry.status, OutboxEntry.desired).order_by(
                OutboxEntry.crm_id, OutboxEntry.id
            )
        ).all()
    reason = {"registration.reason": "duplicate"}
    assert [(r.crm_id[-1], r.status.value, r.desired) for r in rows] == [
        ("0", "pending", reason),
        ("1", "pending", {"registration.status": "pending", **reason}),
        ("2", "retry", {"registration.status": "pending", **reason}),
        ("3", "done", {"registration.status": "approved"}),
        ("3", "pending", reason),
    ]


def test_a_row_closed_between_the_insert_and_the_look_up_is_opened_again(
    store: sessionmaker[Session], monkeypatch: pytest.MonkeyPatch
) -> None:
    """A push may send and close a record's open row after stage_many's insert passed it
    over and before its look-up: the values then go into a new open row, nothing lost."""
    from sync.writeback import outbox
    from sync.writeback.outbox import Staged, stage_many

    real = outbox.open_rows

    def closed_first(session: Session, crm: Crm, crm_ids: Any) -> Any:
        for entry in session.scalars(select(OutboxEntry)):
            entry.status = OutboxStatus.DONE  # what a push in between would leave
        session.flush()
        return real(session, crm, crm_ids)

    with transaction(store) as session:
        opp = opportunity(session)
        stage(session, opp, {"registration.status": RegistrationStatus.PENDING})
        monkeypatch.setattr(outbox, "open_rows", closed_first)
        stage_many(session, [Staged(opp.id, opp.crm, opp.crm_id, {"registration.reason": "x"})])
    with store() as session:
        rows = session.execute(
            select(OutboxEntry.status, OutboxEntry.desired).order_by(OutboxEntry.id)
        ).all()
    assert [(r.status.value, r.desired) for r in rows] == [
        ("done", {"registration.status": "pending"}),
        ("pending", {"registration.reason": "x"}),
    ]


def test_a_closed_row_starts_a_new_one(store: sessionmaker[Session]) -> None:
    """After a row is done, the next change opens a new row; history merges latest-wins."""
    with transaction(store) as session:
        opp = opportunity(session)
        first = stage(session, opp, {"payout.status": "accrued", "payout.reference": "A"})
        first.status = OutboxStatus.DONE
        session.flush()
        stage(session, opp, {"payout.status": "paid"})
        merged: dict[str, object] = {}
        for desired in session.scalars(
            select(OutboxEntry.desired)
            .where(OutboxEntry.opportunity_id == opp.id)
            .order_by(OutboxEntry.id)
        ):
            merged.update(desired)
        assert merged == {"payout.status": "paid", "payout.reference": "A"}
    with store() as session:
        assert len(session.scalars(select(OutboxEntry)).all()) == 2


@pytest.mark.parametrize(
    "values",
    [
        pytest.param({"Payout_Status__c": "Paid"}, id="crm-field-not-source"),
        pytest.param({"payout.colour": "red"}, id="unknown-source"),
    ],
)
def test_only_outbound_sources_can_be_staged(
    store: sessionmaker[Session], values: dict[str, str]
) -> None:
    """Staging a value outside the outbound vocabulary is a programming error."""
    with transaction(store) as session:
        opp = opportunity(session)
        with pytest.raises(KeyError, match="not an outbound value"):
            stage(session, opp, values)


def test_plan_sends_only_differences(store: sessionmaker[Session]) -> None:
    """Fields whose CRM value already equals the desired one are not planned."""
    with transaction(store) as session:
        opp = opportunity(
            session, Registration_Status__c="Approved", Commission_Accrued__c="1250.5"
        )
        stage(session, opp, {"registration.status": "approved", "commission.accrued": Decimal("1250.50"),
                             "payout.reference": "PAY-7"})  # fmt: skip
    with store() as session:
        pairs = list(session.execute(select(OutboxEntry, Opportunity).join(Opportunity)).tuples())
        plans = plan_writes(MAPPING, pairs)
    assert len(plans) == 1
    assert dict(plans[0].changes) == {"Payout_Reference__c": (None, "PAY-7")}


@pytest.mark.parametrize(
    ("values", "stored"),
    [
        pytest.param({"commission.accrued": Decimal("10.50")}, {"commission.accrued": "10.50"},
                     id="money-exact"),
        pytest.param({"commission.accrued": 12}, {"commission.accrued": "12"}, id="int-money"),
        pytest.param({"registration.protected_until": datetime(2026, 5, 1, 23, tzinfo=UTC)},
                     {"registration.protected_until": "2026-05-01"}, id="instant-to-date"),
        pytest.param({"payout.status": RegistrationStatus.APPROVED, "payout.reference": None},
                     {"payout.status": "approved", "payout.reference": None}, id="enum-and-null"),
    ],
)  # fmt: skip
def test_staged_values_are_stored_as_their_outbound_type(
    store: sessionmaker[Session], values: dict[str, object], stored: dict[str, object]
) -> None:
    """Money as exact text, dates as dates (an instant's UTC date), states by name."""
    with transaction(store) as session:
        entry = stage(session, opportunity(session), values)
        assert entry.desired == stored


@pytest.mark.parametrize(
    ("values", "error"),
    [
        pytest.param({"commission.accrued": 10.5}, TypeError, id="float-money"),
        pytest.param({"commission.accrued": "ten"}, ValueError, id="not-a-number"),
        pytest.param({"payout.reference": "a\x00b"}, ValueError, id="nul"),
    ],
)
def test_values_that_are_no_outbound_value_are_refused(
    store: sessionmaker[Session], values: dict[str, object], error: type[Exception]
) -> None:
    """A float for money, text that is no number, a NUL: refused, nothing staged."""
    with transaction(store) as session:
        opp = opportunity(session)
        with pytest.raises(error):
            stage(session, opp, values)
        assert session.scalars(select(OutboxEntry)).all() == []


def test_a_records_open_row_is_found_through_the_partial_index(tmp_path: Path) -> None:
    """The look-up of open rows by record (what stage_many runs for every page) searches
    the partial unique index, not every open row of the CRM: also for a page's thousand
    ids on a store without statistics, where SQLite's planner, left to itself, prefers
    (crm, status). (PostgreSQL's planner has its statistics and proves a partial index's
    condition from bound values itself.)"""
    from sync.store import OUTBOX_OPEN, make_engine, session_factory, upgrade
    from sync.writeback.outbox import open_rows

    url = f"sqlite:///{tmp_path / 'plan.db'}"
    upgrade(url)
    engine = make_engine(url)
    ids = [f"006{n:015d}" for n in range(1000)]
    plans: list[str] = []

    @event.listens_for(engine, "before_cursor_execute")
    def explain(connection: Any, cursor: Any, sql: str, params: Any, *_: Any) -> None:
        if sql.startswith("SELECT") and "outbox" in sql:
            rows = cursor.execute(f"EXPLAIN QUERY PLAN {sql}", params).fetchall()
            plans.append(" ".join(str(row[-1]) for row in rows))

    try:
        with transaction(session_factory(engine)) as session:
            assert open_rows(session, Crm.SALESFORCE, ids) == []
            left_alone = select(OutboxEntry.id).where(
                OutboxEntry.crm == Crm.SALESFORCE, OutboxEntry.crm_id.in_(ids), OUTBOX_OPEN
            )
            assert session.execute(left_alone).all() == []
        used, planned = plans
        assert "uq_outbox_open_record" in used
        assert "uq_outbox_open_record" not in planned
    finally:
        engine.dispose()
