"""A small program for API tests: partners A and B, a key each (and an admin key, a
revoked one), a pending registration and an accrued payout of A's, and a client."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session, sessionmaker

from sync.api.app import create_app
from sync.api.keys import create_key, revoke_key
from sync.commissions import CommissionService
from sync.registrations import RegistrationService
from sync.settings import Settings
from sync.store import CoSellDirection, transaction
from tests.sync.store import rows

NOW = datetime(2026, 4, 2, 9, 30, tzinfo=UTC)

AGREEMENT = """
partner = "{partner}"
name = "standard"
effective_from = 2026-01-01

[[rules]]
practice = "*"
direction = "partner_sourced_direct_sold"
basis = "amount"
percent = "10"
flow = "payable"
trigger = "closed_won"
payout_delay_days = 30
"""


@dataclass
class World:
    store: sessionmaker[Session]
    settings: Settings
    app: FastAPI
    client: TestClient
    keys: dict[str, str]
    registration: int  # A's pending registration
    payout: int  # A's accrued payout
    deal: str  # its deal's CRM id
    extra: dict[str, Any] = field(default_factory=dict)

    def headers(self, who: str, **more: str) -> dict[str, str]:
        """The headers of a request by ``who`` (none, malformed, revoked, A, B, admin)."""
        key = self.keys.get(who)
        return {**({"Authorization": key} if key else {}), **more}


def settings_for(**api: Any) -> Settings:
    base = Settings()
    return base.model_copy(update={"api": base.api.model_copy(update=api)})


def build(store: sessionmaker[Session], settings: Settings | None = None) -> World:
    settings = settings or settings_for(rate_per_second=0)
    with transaction(store) as session:
        rows.partner(session, id="A", name="Acme", tier="gold")
        rows.partner(session, id="B", name="Bluefin", tier="silver")
        deal = rows.opportunity(
            session, partner_id="A", is_closed=True, is_won=True, close_date=date(2026, 3, 10),
            direction=CoSellDirection.PARTNER_SOURCED_DIRECT_SOLD, amount=Decimal("5000.00"),
        )  # fmt: skip
        crm_id = deal.crm_id
    CommissionService(store, clock=lambda: NOW).import_text(
        AGREEMENT.format(partner="A"), "a.toml", actor="test"
    )
    registrations = RegistrationService(store, settings.program, clock=lambda: NOW)
    pending = registrations.submit(partner_id="A", customer_name="Initech", amount="1000",
                                   currency="USD", customer_domain="initech.com", actor="test")  # fmt: skip
    keys = {"none": "", "malformed": "Bearer not-a-key"}
    for who in ("A", "B"):
        keys[who] = "Bearer " + create_key(store, partner_id=who, actor="test")[1]
    keys["admin"] = "Bearer " + create_key(store, admin=True, actor="test")[1]
    view, secret = create_key(store, admin=True, name="old", actor="test")
    revoke_key(store, view["prefix"], actor="test")
    keys["revoked"] = "Bearer " + secret
    from sync.payouts import PayoutService

    payout = PayoutService(store).list_payouts(partner_id="A")[0]["id"]
    app = create_app(settings, factory=store, clock=lambda: NOW)
    return World(store, settings, app, TestClient(app), keys, pending["id"], payout, crm_id)
