"""The bulk upsert stores what the ORM would store, refuses what the column types refuse."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta, timezone
from decimal import Decimal
from typing import Any

import pytest
from sqlalchemy import Table, insert, select
from sqlalchemy.exc import StatementError
from sqlalchemy.orm import Session

from sync.store import Crm, Opportunity
from sync.store.bulk import upsert
from tests.sync.store.rows import unique

TABLE: Table = Opportunity.__table__  # type: ignore[assignment]
KEYS = ("crm", "crm_id")
PLUS_TWO = timezone(timedelta(hours=2))


def row(**values: Any) -> dict[str, Any]:
    """An opportunity row as the pull builds it, every column given."""
    return {
        "crm": Crm.SALESFORCE,
        "crm_id": unique("006"),
        "name": "Bulk deal",
        "amount": Decimal("12345678.91"),
        "currency": "EUR",
        "is_closed": False,
        "is_won": False,
        "close_date": date(2026, 3, 31),
        "direction": "partner_sourced_partner_sold",
        "cost": None,
        "crm_modified_at": datetime(2026, 3, 1, 14, 0, 0, 123456, tzinfo=PLUS_TWO),
        "deleted": False,
        "deleted_at": None,
        "crm_values": {"Commission_Accrued__c": Decimal("10.50"), "Payout_Status__c": None},
        "first_seen_at": datetime(2026, 3, 1, 12, 0, tzinfo=UTC),
        "updated_at": datetime(2026, 3, 1, 12, 0, tzinfo=UTC),
        **values,
    }


def updates(first: dict[str, Any]) -> list[str]:
    return [c for c in first if c not in ("crm", "crm_id", "first_seen_at")]


def stored(session: Session, crm_id: str) -> Opportunity:
    session.expire_all()
    found = session.scalar(select(Opportunity).where(Opportunity.crm_id == crm_id))
    assert found is not None
    return found


def raw(session: Session, crm_id: str) -> tuple[Any, ...]:
    """The columns as the database holds them (text, scaled integers), not as types read them."""
    names = ", ".join(c for c in row() if c not in ("crm_id",))
    result = session.connection().exec_driver_sql(
        f"SELECT {names} FROM opportunities WHERE crm_id = '{crm_id}'"
    )
    return tuple(result.one())


def test_values_are_stored_exactly_as_the_orm_stores_them(session: Session) -> None:
    """Money, instants, dates, enums and JSON land in the same form as through session.execute."""
    through_orm, through_bulk = row(), row()
    session.execute(insert(Opportunity), [through_orm])
    upsert(session, TABLE, [through_bulk], KEYS, updates(through_bulk))
    assert raw(session, through_bulk["crm_id"]) == raw(session, through_orm["crm_id"])
    if session.get_bind().dialect.name == "sqlite":  # the text SQLAlchemy's DATETIME writes
        instant = raw(session, through_bulk["crm_id"])[list(row()).index("crm_modified_at") - 1]
        assert instant == "2026-03-01 12:00:00.123456"
    back = stored(session, through_bulk["crm_id"])
    assert back.amount == Decimal("12345678.91")
    assert back.crm_modified_at == datetime(2026, 3, 1, 12, 0, 0, 123456, tzinfo=UTC)
    assert back.crm_modified_at.tzinfo is UTC
    assert back.crm_values == {"Commission_Accrued__c": "10.50", "Payout_Status__c": None}


def test_an_existing_key_is_updated_and_keeps_its_first_seen(session: Session) -> None:
    """A second upsert of a key updates the given columns and leaves the others alone."""
    first = row()
    upsert(session, TABLE, [first], KEYS, updates(first))
    later = datetime(2026, 4, 1, tzinfo=UTC)
    again = {**first, "name": "Renamed", "amount": None, "currency": None,
             "first_seen_at": later, "updated_at": later}  # fmt: skip
    upsert(session, TABLE, [again], KEYS, updates(again))
    back = stored(session, first["crm_id"])
    assert (back.name, back.amount, back.currency) == ("Renamed", None, None)
    assert (back.first_seen_at, back.updated_at) == (first["first_seen_at"], later)


def test_the_last_of_rows_sharing_a_key_wins(session: Session) -> None:
    """Rows repeating a key in one call leave the last one, as a row-by-row executemany would."""
    first = row()
    rows = [first, row(), {**first, "name": "Second"}, {**first, "name": "Third"}]
    upsert(session, TABLE, rows, KEYS, updates(first))
    assert stored(session, first["crm_id"]).name == "Third"


def test_many_rows_in_one_call(session: Session) -> None:
    """Thousands of rows, with None, repeated and distinct values, all arrive intact."""
    now = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
    rows = [
        row(amount=Decimal(i) / 100 if i % 3 else None, currency="USD" if i % 3 else None,
            crm_modified_at=now + timedelta(microseconds=i), first_seen_at=now, updated_at=now,
            direction=None if i % 2 else "direct_sourced_partner_sold")
        for i in range(2_500)
    ]  # fmt: skip
    upsert(session, TABLE, rows, KEYS, updates(rows[0]))
    ids = [r["crm_id"] for r in rows]
    back = {
        o.crm_id: o for o in session.scalars(select(Opportunity).where(Opportunity.crm_id.in_(ids)))
    }
    assert [(back[r["crm_id"]].amount, back[r["crm_id"]].crm_modified_at) for r in rows] == [
        (r["amount"], r["crm_modified_at"]) for r in rows
    ]


@pytest.mark.parametrize(
    ("change", "message"),
    [
        pytest.param({"amount": 12.5}, "never floats", id="float-money"),
        pytest.param({"amount": Decimal("0.00001")}, "more than 4 decimal places",
                     id="excess-decimals"),
        pytest.param({"currency": "usd"}, "3-letter ISO 4217", id="lowercase-currency"),
        pytest.param({"crm_modified_at": datetime(2026, 3, 1, 12, 0)}, "naive datetime",
                     id="naive-instant"),
        pytest.param({"direction": "sideways"}, "sideways", id="unknown-enum-value"),
        pytest.param({"crm_values": {"x": 1.5}}, "float", id="float-in-json"),
    ],
)  # fmt: skip
def test_values_the_columns_refuse_are_refused(
    session: Session, change: dict[str, Any], message: str
) -> None:
    """The column types' checks still run: a bad value raises StatementError, nothing stored."""
    bad = row(**change)
    with pytest.raises(StatementError, match=message):
        upsert(session, TABLE, [row(), bad], KEYS, updates(bad))


def test_a_value_too_long_is_refused_on_every_dialect(session: Session) -> None:
    """A name longer than its column is refused whole (never truncated, never kept whole)."""
    long = row(name="x" * 300)
    with pytest.raises(StatementError, match="name: 300 characters, at most 255"):
        upsert(session, TABLE, [long], KEYS, updates(long))


@pytest.mark.parametrize("existing", [None, set()], ids=["upsert", "known-new"])
def test_refuse_rows_leaves_out_only_the_bad_rows(
    session: Session, existing: set[Any] | None
) -> None:
    """With refuse_rows, each refused row comes back with every reason; the rest are stored."""
    good, fine = row(), row(name="y" * 255)
    money = row(amount=Decimal("0.00001"), currency="usd")
    long = row(name="z" * 256)
    refused = upsert(session, TABLE, [good, money, fine, long], KEYS, updates(good),
                     existing=existing, refuse_rows=True)  # fmt: skip
    assert {r.row["crm_id"]: r.problems for r in refused} == {
        money["crm_id"]: (
            "amount: 0.00001 has more than 4 decimal places",
            "currency: currency must be a 3-letter ISO 4217 code in capitals: 'usd'",
        ),
        long["crm_id"]: ("name: 256 characters, at most 255 are kept",),
    }
    ids = [good["crm_id"], money["crm_id"], fine["crm_id"], long["crm_id"]]
    kept = session.scalars(select(Opportunity.crm_id).where(Opportunity.crm_id.in_(ids)))
    assert set(kept) == {good["crm_id"], fine["crm_id"]}


def test_text_with_a_nul_character_is_refused_on_every_dialect(session: Session) -> None:
    """PostgreSQL text cannot hold NUL: refused per row there and on SQLite alike."""
    good, bad = row(), row(name="Acme\x00 Corp")
    refused = upsert(session, TABLE, [good, bad], KEYS, updates(good), refuse_rows=True)
    assert [(r.row["crm_id"], r.problems) for r in refused] == [
        (bad["crm_id"], ("name: contains a NUL character",))
    ]
    assert stored(session, good["crm_id"]).name == "Bulk deal"


def test_refuse_rows_with_every_row_refused_stores_nothing(session: Session) -> None:
    bad = row(currency="EURO")
    refused = upsert(session, TABLE, [bad], KEYS, updates(bad), refuse_rows=True)
    assert [r.row["crm_id"] for r in refused] == [bad["crm_id"]]
    assert session.scalar(select(Opportunity.id).where(Opportunity.crm_id == bad["crm_id"])) is None


def test_rows_believed_new_that_exist_are_still_updated(session: Session) -> None:
    """``existing`` is only a hint: a row missing from it that is in the table is updated."""
    first = row()
    upsert(session, TABLE, [first], KEYS, updates(first))
    renamed, other = {**first, "name": "Renamed"}, row()
    upsert(session, TABLE, [renamed, other], KEYS, updates(first), existing=set())
    assert stored(session, first["crm_id"]).name == "Renamed"
    assert stored(session, other["crm_id"]).name == "Bulk deal"


@pytest.mark.parametrize("existing", [None, "right", "wrong"])
def test_upsert_returning_gives_the_ids_of_every_row_written(
    session: Session, existing: str | None
) -> None:
    """Inserted and updated rows come back with the ids the table holds, across the
    statements a SQLite write takes (600 rows), also when ``existing`` is wrong (the rows
    believed new are written again by the full upsert, and come back once)."""
    from sync.store.bulk import upsert_returning

    old = [row() for _ in range(250)]
    upsert(session, TABLE, old, KEYS, updates(old[0]))
    rows = [{**r, "name": "Again"} for r in old] + [row() for _ in range(350)]
    known = {
        None: None,
        "right": {(Crm.SALESFORCE, r["crm_id"]) for r in old},
        "wrong": set(),
    }[existing]
    refused, written = upsert_returning(
        session, TABLE, rows, KEYS, updates(rows[0]), ("crm_id", "id"), existing=known
    )
    assert refused == []
    in_table = dict(session.execute(select(Opportunity.crm_id, Opportunity.id)).tuples().all())
    assert sorted(written) == sorted(in_table.items())
    assert len(written) == 600


def test_insert_stores_what_the_orm_stores_and_never_overwrites(session: Session) -> None:
    """bulk.insert: audit rows (JSON, enums, instants) land as session.execute lands them;
    a key already there is an integrity error, not an update."""
    from sqlalchemy.exc import IntegrityError

    from sync.store import AuditEntity, AuditEntry
    from sync.store.bulk import insert as bulk_insert

    audit: Table = AuditEntry.__table__  # type: ignore[assignment]
    at = datetime(2026, 3, 1, 14, 0, 0, 5, tzinfo=PLUS_TWO)

    def entry(entity_id: str) -> dict[str, Any]:
        return {"at": at, "actor": "crm:salesforce", "entity_kind": AuditEntity.REGISTRATION,
                "entity_id": entity_id, "action": "submit", "before": None,
                "after": {"status": "pending", "amount": "10.50", "matched": ["a", "é\\"]},
                "reason": "it's \"quoted\"; DROP TABLE x"}  # fmt: skip

    session.execute(insert(AuditEntry), [entry("orm")])
    bulk_insert(session, audit, [entry("bulk"), entry("bulk2")])
    names = "at, actor, entity_kind, action, before, after, reason"
    rows = {
        r[0]: tuple(r[1:])
        for r in session.connection().exec_driver_sql(
            f"SELECT entity_id, {names} FROM audit_log ORDER BY id"
        )
    }
    assert rows["bulk"] == rows["orm"] == rows["bulk2"]
    first = session.scalar(select(AuditEntry).where(AuditEntry.entity_id == "bulk"))
    assert first is not None
    assert (first.at, first.after) == (at, entry("x")["after"])
    taken = session.scalar(select(AuditEntry.id).where(AuditEntry.entity_id == "bulk"))
    with pytest.raises(IntegrityError):
        bulk_insert(session, audit, [{**entry("again"), "id": taken}])
