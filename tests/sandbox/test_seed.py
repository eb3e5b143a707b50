"""Seed data: deterministic, realistic, and the same shape in both CRMs."""

from __future__ import annotations

from collections import Counter
from decimal import Decimal

from sandbox.core import Sandbox
from sandbox.seed import ANCHOR, PARTNERS, generate, seed_sandbox


def test_same_seed_same_data() -> None:
    """The same random seed generates the same customers and deals; another seed differs."""
    customers_a, deals_a = generate(500, random_seed=7)
    customers_b, deals_b = generate(500, random_seed=7)
    _, deals_c = generate(500, random_seed=8)
    assert customers_a == customers_b
    first = list(deals_a)
    assert first == list(deals_b)
    assert first != list(deals_c)


def test_deals_are_realistic() -> None:
    """Deals mix stages, currencies, partners and practices; money is Decimal to the cent."""
    _, deals = generate(2_000, random_seed=1)
    rows = list(deals)
    stages = Counter(d.stage for d in rows)
    assert set(stages) >= {"prospecting", "closed_won", "closed_lost"}
    assert 0.15 < stages["closed_won"] / len(rows) < 0.4
    assert len({d.currency for d in rows}) >= 4
    assert 0.45 < sum(d.partner is not None for d in rows) / len(rows) < 0.75
    for d in rows:
        assert d.created_at <= d.modified_at <= ANCHOR
        assert d.created_at.tzinfo is not None
        if d.amount is not None:
            assert isinstance(d.amount, Decimal)
            assert d.amount == d.amount.quantize(Decimal("0.01"))
        if d.paid_amount is not None:
            assert d.stage == "closed_won"
        assert (d.direction is None) == (d.partner is None)


def test_seed_fills_both_crms(sandbox: Sandbox) -> None:
    """seed_sandbox creates N opportunities and N deals plus partner accounts in each CRM."""
    seed_sandbox(sandbox, 120)
    assert sandbox.salesforce.count("Opportunity") == 120
    assert sandbox.hubspot.count("deals") == 120
    assert sandbox.salesforce.count("Account") == len(PARTNERS) + 30
    assert sandbox.hubspot.count("companies") == len(PARTNERS) + 30
