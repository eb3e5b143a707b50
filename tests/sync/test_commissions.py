"""Agreements, the ledger and payouts on SQLite and PostgreSQL: effective dating, replay,
idempotency under a race, payouts all or nothing, and the CRM fields staged."""

from __future__ import annotations

import threading
from datetime import UTC, date, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import func, select, text
from sqlalchemy.orm import Session, sessionmaker

from sync.commissions import AgreementFrozen, CommissionService
from sync.ledger import settle
from sync.payouts import PayoutService
from sync.program import Conflict, NotFound, ProgramError
from sync.store import (
    Agreement,
    AuditEntity,
    AuditEntry,
    CoSellDirection,
    LedgerEntry,
    Opportunity,
    OutboxEntry,
    Payout,
    PayoutStatus,
    make_engine,
    session_factory,
    transaction,
)
from tests.sync.store import rows

NOW = datetime(2026, 4, 2, 9, 30, tzinfo=UTC)
PSDS = CoSellDirection.PARTNER_SOURCED_DIRECT_SOLD
D = Decimal

AGREEMENT = """
partner = "ACME"
name = "ACME reseller"
effective_from = 2026-01-01
{extra}
[[rules]]
practice = "*"
direction = "partner_sourced_direct_sold"
basis = "amount"
percent = "10"
flow = "payable"
trigger = "closed_won"
payout_delay_days = 30
{first_end}
"""
EDITED = """
[[rules]]
practice = "*"
direction = "partner_sourced_direct_sold"
basis = "amount"
percent = "12"
flow = "payable"
trigger = "closed_won"
payout_delay_days = 30
effective_from = 2026-03-01
"""


def agreement_file(tmp_path: Path, text: str = "", *, first_end: str = "", name: str = "a.toml"):
    path = tmp_path / name
    path.write_text(AGREEMENT.format(extra="", first_end=first_end) + text, encoding="utf-8")
    return path


def commissions(store: sessionmaker[Session]) -> CommissionService:
    return CommissionService(store, clock=lambda: NOW)


def payouts(store: sessionmaker[Session]) -> PayoutService:
    return PayoutService(store, clock=lambda: NOW)


def setup(store: sessionmaker[Session], tmp_path: Path) -> None:
    with transaction(store) as session:
        rows.partner(session, id="ACME")
    commissions(store).import_file(agreement_file(tmp_path), actor="test")


def deal(store: sessionmaker[Session], **values: Any) -> int:
    values = {"partner_id": "ACME", "is_closed": True, "is_won": True, "direction": PSDS,
              "close_date": date(2026, 2, 10), "amount": D("1000.00"), **values}  # fmt: skip
    with transaction(store) as session:
        return rows.opportunity(session, **values).id


def settle_now(store: sessionmaker[Session], *ids: int) -> dict[str, int]:
    with transaction(store) as session:
        counts, _ = settle(session, ids, now=NOW, actor="test")
    return dict(counts)


def ledger(store: sessionmaker[Session], deal_id: int) -> list[tuple[str, Decimal]]:
    with store() as session:
        return [(e.kind.value, e.amount) for e in session.scalars(
            select(LedgerEntry).where(LedgerEntry.opportunity_id == deal_id)
            .order_by(LedgerEntry.id))]  # fmt: skip


def change(store: sessionmaker[Session], deal_id: int, **values: Any) -> None:
    with transaction(store) as session:
        row = session.get(Opportunity, deal_id)
        assert row is not None
        for key, value in values.items():
            setattr(row, key, value)


# --- agreements -----------------------------------------------------------------------------


def test_import_and_show(store: sessionmaker[Session], tmp_path: Path):
    setup(store, tmp_path)
    shown = commissions(store).show("ACME")
    [version] = shown["versions"]
    assert (version["version"], version["frozen"]) == (1, False)
    assert [r["percent"] for r in version["rules"]] == [D(10)]
    assert commissions(store).show("ACME", as_of=date(2025, 12, 31))["versions"] == []


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ('partner = "ACME"\nname = ', "a.toml: not valid TOML"),
        (
            AGREEMENT.format(extra="", first_end="").replace('"10"', '"ten"'),
            r"a.toml: rules\[0\].percent: not a number \('ten'\)",
        ),
        (
            AGREEMENT.format(extra="", first_end="").replace('"ACME"', '"NOPE"'),
            "a.toml: partner: no partner 'NOPE'",
        ),
        (AGREEMENT.format(extra="", first_end="").replace('"ACME"', '"A\'; DROP"'), "partner"),
    ],
    ids=["toml", "percent", "unknown-partner", "hostile-partner"],
)
def test_a_bad_file_writes_nothing(
    store: sessionmaker[Session], tmp_path: Path, text: str, message: str
):
    with transaction(store) as session:
        rows.partner(session, id="ACME")
    path = tmp_path / "a.toml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(ProgramError, match=message):
        commissions(store).import_file(path, actor="test")
    with store() as session:
        assert session.scalar(select(func.count()).select_from(Agreement)) == 0


def test_a_missing_file_is_one_clear_error(store: sessionmaker[Session], tmp_path: Path):
    with pytest.raises(ProgramError, match=r"nope\.toml: cannot read"):
        commissions(store).import_file(tmp_path / "nope.toml", actor="test")


def test_a_rule_edit_closes_the_old_row_and_opens_a_new_one(
    store: sessionmaker[Session], tmp_path: Path
):
    """Effective dating: deals closed 28 February and 1 March accrue under the old and the
    new rule; a replay after the edit changes nothing for February."""
    setup(store, tmp_path)
    february = deal(store, close_date=date(2026, 2, 28))
    settle_now(store, february)
    assert ledger(store, february) == [("accrual", D("100.00"))]
    edited = agreement_file(tmp_path, EDITED, first_end="effective_to = 2026-03-01")
    result = commissions(store).import_file(edited, actor="test")
    assert (result["rules_added"], result["rules_closed"]) == (1, 1)
    march = deal(store, close_date=date(2026, 3, 1))
    settle_now(store, march)
    assert ledger(store, march) == [("accrual", D("120.00"))]
    replayed = commissions(store).replay(actor="test")
    assert replayed["rows_written"] == 0
    assert ledger(store, february) == [("accrual", D("100.00"))]


def test_a_stored_rule_is_never_changed_in_place(store: sessionmaker[Session], tmp_path: Path):
    setup(store, tmp_path)
    changed = tmp_path / "b.toml"
    changed.write_text(AGREEMENT.format(extra="", first_end="").replace('"10"', '"11"'))
    with pytest.raises(ProgramError, match="is missing or changed: stored rules are never"):
        commissions(store).import_file(changed, actor="test")
    assert commissions(store).show("ACME")["versions"][0]["rules"][0]["percent"] == D(10)


def test_amend_dry_run_lists_changes_and_writes_nothing_then_amends(
    store: sessionmaker[Session], tmp_path: Path
):
    setup(store, tmp_path)
    before, after = (
        deal(store, close_date=date(2026, 5, 31)),
        deal(store, close_date=date(2026, 6, 1)),
    )
    settle_now(store, before, after)
    richer = tmp_path / "v2.toml"
    richer.write_text(AGREEMENT.format(extra="", first_end="").replace('"10"', '"15"'))
    service = commissions(store)
    preview = service.amend("ACME", richer, effective=date(2026, 6, 1), actor="t", dry_run=True)
    assert [(d["change"], d["expected"]) for d in preview["deals"]] == [(D("50.00"), D("150.00"))]
    assert ledger(store, after) == [("accrual", D("100.00"))]
    assert len(service.show("ACME")["versions"]) == 1
    done = service.amend("ACME", richer, effective=date(2026, 6, 1), actor="t")
    assert (done["ledger"]["reversal"], done["ledger"]["accrual"]) == (1, 1)
    assert ledger(store, after) == [("accrual", D("100.00")), ("reversal", D("-100.00")),
                                    ("accrual", D("150.00"))]  # fmt: skip
    assert ledger(store, before) == [("accrual", D("100.00"))]
    versions = service.show("ACME")["versions"]
    assert [(v["version"], v["frozen"], v["effective_to"]) for v in versions] == [
        (1, True, date(2026, 6, 1)), (2, False, None)]  # fmt: skip
    rule_id = versions[0]["rules"][0]["id"]
    with pytest.raises(AgreementFrozen, match="version 1 is frozen"):
        service.close_rule(rule_id, on=date(2026, 7, 1), actor="t")
    assert service.replay(actor="t")["rows_written"] == 0


# --- the ledger -----------------------------------------------------------------------------


@pytest.mark.parametrize("workers", [1, 3])
def test_replay_in_chunks_at_once_settles_every_deal_once(
    store: sessionmaker[Session],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    workers: int,
    dialect: str,
):
    """Chunks of two deals, settled by ``workers`` connections at once: every deal accrues
    once, a chunk that fails stops the replay with its error, and a replay after writes
    only what that chunk had not, then refreshes PostgreSQL's statistics of the ledger."""
    monkeypatch.setattr("sync.commissions._REPLAY_CHUNK", 2)
    monkeypatch.setattr("sync.commissions._ANALYZE_AFTER", 1)
    setup(store, tmp_path)
    ids = [deal(store, amount=D(1000 + n)) for n in range(9)]
    real_settle = settle

    def failing(session: Session, chunk: Any, **kwargs: Any) -> Any:
        if ids[4] in chunk:
            raise RuntimeError("the store went away")
        return real_settle(session, chunk, **kwargs)

    monkeypatch.setattr("sync.commissions.settle", failing)
    with pytest.raises(RuntimeError, match="the store went away"):
        commissions(store).replay(actor="t", workers=workers)
    assert ledger(store, ids[4]) == []
    accrued = [ledger(store, i) for i in ids]
    assert accrued[:4] == [[("accrual", D(1000 + n) / 10)] for n in range(4)]
    done = sum(1 for rows_of in accrued if rows_of)
    assert done == 4 if workers == 1 else 4 <= done <= 7  # later chunks may have run
    monkeypatch.setattr("sync.commissions.settle", real_settle)
    result = commissions(store).replay(actor="t", workers=workers)
    assert (result["deals"], result["accrual"]) == (9, 9 - done)
    if dialect == "postgres":  # analysed now: the planner counts its 9 rows
        with store() as session:
            assert session.scalar(text("SELECT reltuples FROM pg_class "
                                       "WHERE relname = 'ledger_entries'")) == 9  # fmt: skip
    assert [ledger(store, i) for i in ids] == [[("accrual", D(1000 + n) / 10)] for n in range(9)]
    again = commissions(store).replay(actor="t", workers=workers)
    assert (again["deals"], again["rows_written"]) == (9, 0)
    with pytest.raises(ProgramError, match="workers: at least 1"):
        commissions(store).replay(actor="t", workers=0)


def test_adjustments_reversals_and_replay(store: sessionmaker[Session], tmp_path: Path):
    setup(store, tmp_path)
    won = deal(store)
    assert settle_now(store, won)["accrual"] == 1
    assert settle_now(store, won) == {"deals": 1}  # nothing more
    change(store, won, amount=D("1500.00"))
    settle_now(store, won)
    change(store, won, is_won=False)
    settle_now(store, won)
    assert ledger(store, won) == [
        ("accrual", D("100.00")),
        ("adjustment", D("50.00")),
        ("reversal", D("-100.00")),
        ("reversal", D("-50.00")),
    ]
    assert commissions(store).replay(actor="t")["rows_written"] == 0
    with store() as session:
        reasons = session.scalars(
            select(AuditEntry.reason).where(AuditEntry.entity_kind == AuditEntity.LEDGER_ENTRY)
        ).all()
        assert reasons == ["deal no longer closed-won"] * 2
        statuses = session.scalars(select(Payout.status).order_by(Payout.id)).all()
        assert statuses == [PayoutStatus.REVERSED, PayoutStatus.REVERSED]
        desired = session.scalar(select(OutboxEntry.desired))
        assert desired["payout.status"] == "reversed"
        assert desired["commission.accrued"] == "0.00"


def test_a_deal_without_a_rule_or_a_cost_accrues_nothing(
    store: sessionmaker[Session], tmp_path: Path
):
    setup(store, tmp_path)
    early = deal(store, close_date=date(2025, 12, 31))
    other = deal(store, direction=CoSellDirection.DIRECT_SOURCED_PARTNER_SOLD)
    assert settle_now(store, early, other) == {"deals": 2}
    explained = commissions(store).explain(_crm_id(store, early))
    assert explained["outcome"] == "no_rule"


def test_explain_shows_the_computation(store: sessionmaker[Session], tmp_path: Path):
    setup(store, tmp_path)
    won = deal(store, amount=D("1234.565"), currency="JPY")
    settle_now(store, won)
    explained = commissions(store).explain(_crm_id(store, won))
    assert explained["outcome"] == "accrue"
    assert (explained["basis_amount"], explained["percent"], explained["raw"]) == (
        D("1234.5650"), D(10), D("123.456500"))  # fmt: skip
    assert explained["amount"] == D(123)
    assert explained["agreement_version"] == 1
    assert [row["amount"] for row in explained["ledger"]] == [D(123)]
    with pytest.raises(NotFound):
        commissions(store).explain("006nope")


def _crm_id(store: sessionmaker[Session], deal_id: int) -> str:
    with store() as session:
        row = session.get(Opportunity, deal_id)
        assert row is not None
        return row.crm_id


@pytest.mark.postgres
@pytest.mark.parametrize("dialect", ["postgres"], indirect=True)
def test_two_workers_settling_one_deal_write_its_accrual_once(
    store: sessionmaker[Session], tmp_path: Path
):
    setup(store, tmp_path)
    won = deal(store)
    url = store.kw["bind"].url
    engines = [make_engine(url.render_as_string(hide_password=False)) for _ in range(2)]
    try:
        start = threading.Barrier(2)
        errors: list[BaseException] = []

        def work(index: int) -> None:
            try:
                with transaction(session_factory(engines[index])) as session:
                    start.wait()
                    settle(session, [won], now=NOW, actor=f"worker{index}")
            except BaseException as exc:
                errors.append(exc)

        threads = [threading.Thread(target=work, args=(i,)) for i in range(2)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=30)
        assert errors == []
        assert ledger(store, won) == [("accrual", D("100.00"))]
        with store() as session:
            assert session.scalar(select(func.count()).select_from(Payout)) == 1
    finally:
        for engine in engines:
            engine.dispose()


# --- payouts --------------------------------------------------------------------------------


def test_payouts_approve_schedule_and_bulk_pay(store: sessionmaker[Session], tmp_path: Path):
    setup(store, tmp_path)
    first, second = deal(store), deal(store, amount=D("3000.00"))
    settle_now(store, first, second)
    service = payouts(store)
    ids = [p["id"] for p in service.list_payouts(partner_id="ACME")]
    assert len(ids) == 2
    service.approve(ids, actor="t")
    [scheduled] = service.schedule([ids[0]], actor="t")
    assert scheduled["scheduled_for"] == date(2026, 4, 2)  # due 12 March: today
    paid = service.pay(ids, reference="WIRE-42", actor="t")
    assert {(p["status"], p["reference"], p["paid_at"]) for p in paid} == {
        ("paid", "WIRE-42", date(2026, 4, 2))
    }
    assert [p["amount"] for p in paid] == [D("100.00"), D("300.00")]
    with store() as session:
        desired = [o.desired for o in session.scalars(select(OutboxEntry))]
        assert {(d["payout.status"], d["payout.reference"]) for d in desired} == {
            ("paid", "WIRE-42")
        }
    assert service.list_payouts(status="paid")[0]["status"] == "paid"
    with pytest.raises(ProgramError, match="status: one of accrued"):
        service.list_payouts(status="spent")


def test_bulk_pay_is_all_or_nothing_and_names_the_offenders(
    store: sessionmaker[Session], tmp_path: Path
):
    setup(store, tmp_path)
    a, b, c = deal(store), deal(store), deal(store)
    settle_now(store, a, b, c)
    service = payouts(store)
    ids = [p["id"] for p in service.list_payouts()]
    service.approve(ids[:1], actor="t")
    service.reverse(ids[2:], reason="duplicate deal", actor="t")
    with pytest.raises(
        Conflict,
        match=rf"cannot pay payouts {ids[1]} \(accrued\), {ids[2]} "
        r"\(reversed\): pay needs approved or scheduled; nothing changed",
    ):
        service.pay(ids, reference="R", actor="t")
    assert [p["status"] for p in service.list_payouts()] == ["approved", "accrued", "reversed"]
    with pytest.raises(NotFound, match="no payout 999"):
        service.pay([ids[0], 999], reference="R", actor="t")
    with pytest.raises(Conflict, match=r"cannot approve payout .* \(approved\)"):
        service.approve(ids[:1], actor="t")
    with pytest.raises(ProgramError, match="reference"):
        service.pay(ids[:1], reference="bad\x00ref", actor="t")


def test_a_reversed_payout_negates_its_entries_and_is_not_accrued_again(
    store: sessionmaker[Session], tmp_path: Path
):
    setup(store, tmp_path)
    won = deal(store)
    settle_now(store, won)
    service = payouts(store)
    [payout] = service.list_payouts()
    service.approve([payout["id"]], actor="t")
    service.pay([payout["id"]], reference="R1", actor="t")
    [reversed_] = service.reverse([payout["id"]], reason="customer refunded", actor="t")
    assert reversed_["status"] == "reversed"
    assert ledger(store, won) == [("accrual", D("100.00")), ("reversal", D("-100.00"))]
    assert commissions(store).replay(actor="t")["rows_written"] == 0
    with pytest.raises(Conflict, match=r"cannot reverse payout \d+ \(reversed\)"):
        service.reverse([payout["id"]], reason="again", actor="t")


# --- properties -----------------------------------------------------------------------------

EVENTS = st.lists(
    st.one_of(
        st.tuples(st.just("amount"), st.decimals(min_value=-500, max_value=100_000, places=2)),
        st.tuples(st.sampled_from(["win", "lose", "delete", "pay", "reverse"]), st.none()),
    ),
    max_size=8,
)


@pytest.mark.parametrize("dialect", ["sqlite"], indirect=True)
@settings(max_examples=25, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])  # fmt: skip
@given(events=EVENTS)
def test_payouts_never_pay_more_than_the_ledger_nets(
    store: sessionmaker[Session], tmp_path: Path, events: list[tuple[str, Any]]
):
    """For any sequence of deal events and payout actions, the payouts not reversed add up
    to the ledger's net; once every open payout is paid, what was paid is the net."""
    with store() as session:
        ready = session.get(Agreement, 1) is not None
    if not ready:
        setup(store, tmp_path)
    won = deal(store, is_won=False, is_closed=False)
    service = payouts(store)

    def mine(status: str | None = None) -> list[dict[str, Any]]:
        found = service.list_payouts(status=status, limit=10_000)
        return [p for p in found if p["deal"] == _crm_id(store, won)]

    for kind, value in events:
        if kind == "amount":
            change(store, won, amount=value)
        elif kind in ("win", "lose"):
            change(store, won, is_closed=True, is_won=kind == "win")
        elif kind == "delete":
            change(store, won, deleted=True, deleted_at=NOW)
        elif kind == "pay" and (open_ := [p["id"] for p in mine("accrued")]):
            service.approve(open_, actor="t")
            service.pay(open_, reference="P", actor="t")
        elif kind == "reverse" and (
            standing := [p["id"] for p in mine() if p["status"] != "reversed"]
        ):
            service.reverse(standing[-1:], reason="finance", actor="t")
        settle_now(store, won)
        net = sum((amount for _, amount in ledger(store, won)), D(0))
        assert sum((p["amount"] for p in mine() if p["status"] != "reversed"), D(0)) == net
    outstanding = [p["id"] for p in mine("accrued")]
    if outstanding:
        service.approve(outstanding, actor="t")
        service.pay(outstanding, reference="END", actor="t")
    net = sum((amount for _, amount in ledger(store, won)), D(0))
    assert sum((p["amount"] for p in mine("paid")), D(0)) == net
