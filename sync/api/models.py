"""The API's request and response bodies. Money is a decimal string beside its currency
(``"1250.00"``, never a JSON number), dates and instants ISO 8601; the resources have the
command line's JSON fields (DESIGN.md)."""

from __future__ import annotations

from datetime import date, datetime
from enum import StrEnum
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from sync.reports import REPORTS

__all__ = [
    "ActionIn",
    "ErrorOut",
    "Health",
    "PartnerDetail",
    "PartnerIn",
    "PartnerOut",
    "PartnerPage",
    "PayoutActionIn",
    "PayoutDetail",
    "PayoutOut",
    "PayoutPage",
    "PayoutResult",
    "RegistrationIn",
    "RegistrationOut",
    "RegistrationPage",
    "ReportName",
    "ReportOut",
]

#: A decimal amount as text: up to 14 digits before the point and 4 after.
Money = Annotated[str, StringConstraints(pattern=r"^-?[0-9]{1,14}(\.[0-9]{1,4})?$")]
Currency = Annotated[str, StringConstraints(pattern=r"^[A-Z]{3}$")]
PartnerId = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9._-]{1,32}$")]
Text255 = Annotated[str, StringConstraints(min_length=1, max_length=255)]


class _In(BaseModel):
    model_config = ConfigDict(extra="forbid")


class ErrorDetail(BaseModel):
    code: str
    message: str
    field: str | None = None


class ErrorOut(BaseModel):
    """Every refusal: ``{"error": {"code", "message", "field"?}}``."""

    error: ErrorDetail


class Health(BaseModel):
    status: str
    store: str
    #: ``in-process``, or ``ok`` for a reachable Redis.
    broker: str
    #: Per CRM, seconds since its last successful pull (null: none yet).
    lag_seconds: dict[str, float | None]


class WebhookAccepted(BaseModel):
    """A webhook taken: its events counted, deals deleted at once, the pull ``queued``,
    ``folded into a waiting pull``, or ``not needed`` (only deletions, or only
    partnersync's own writes coming back)."""

    accepted: int
    deleted: int
    pull: str


class RegistrationIn(_In):
    """A deal registration. ``partner_id`` is for admin keys: a partner key registers
    for its own partner."""

    customer_name: Text255
    customer_domain: Annotated[str, StringConstraints(max_length=255)] | None = None
    amount: Money | None = None
    currency: Currency | None = None
    practice: Annotated[str, StringConstraints(max_length=64)] | None = None
    close_date: date | None = None
    partner_id: PartnerId | None = None


class RegistrationOut(BaseModel):
    id: int
    partner_id: str
    customer_name: str
    customer_domain: str | None
    status: str
    reason: str | None
    protected_until: date | None
    conflict_with: int | None = Field(description="the claim in the way; admin keys only")
    amount: Money | None
    currency: str | None
    practice: str | None
    close_date: date | None
    source: str
    extensions_used: int
    opportunity_id: int | None
    submitted_at: datetime | None
    decided_at: datetime | None
    decided_by: str | None
    note: str | None


class RegistrationPage(BaseModel):
    items: list[RegistrationOut]
    next_cursor: str | None = Field(description="pass as ?cursor= for the next page")


class ActionIn(_In):
    """A decision on a registration: why (``reason``), and for ``extend`` by how many
    days (default: the program's extension)."""

    reason: Annotated[str, StringConstraints(max_length=2000)] | None = None
    days: Annotated[int, Field(ge=1, le=3650)] | None = None


class PartnerIn(_In):
    id: PartnerId
    name: Text255
    tier: Annotated[str, StringConstraints(min_length=1, max_length=32)]
    salesforce_account_id: Annotated[str, StringConstraints(max_length=64)] | None = None
    hubspot_company_id: Annotated[str, StringConstraints(max_length=64)] | None = None


class PartnerOut(BaseModel):
    id: str
    name: str
    tier: str
    salesforce_account_id: str | None
    hubspot_company_id: str | None
    active: bool
    created_at: datetime | None
    deals_linked: int | None = None


class PartnerDetail(PartnerOut):
    deals: int
    registrations: dict[str, int]
    live_registrations: int


class PartnerPage(BaseModel):
    items: list[PartnerOut]


class PayoutOut(BaseModel):
    id: int
    partner_id: str
    deal: str | None
    crm: str | None
    amount: Money
    currency: str
    flow: str
    status: str
    due_on: date | None
    scheduled_for: date | None
    reference: str | None
    paid_at: datetime | None


class PayoutEntry(BaseModel):
    id: int
    kind: str
    amount: Money
    reason: str | None


class PayoutDetail(PayoutOut):
    entries: list[PayoutEntry]


class PayoutPage(BaseModel):
    items: list[PayoutOut]
    next_cursor: str | None


class PayoutActionIn(_In):
    """Payouts to act on, all or nothing; ``reference`` to pay, ``reason`` to reverse,
    ``on`` the date to schedule or pay on."""

    ids: Annotated[
        list[Annotated[int, Field(ge=1, le=2**63 - 1)]], Field(min_length=1, max_length=1000)
    ]
    reference: Annotated[str, StringConstraints(max_length=255)] | None = None
    on: date | None = None
    reason: Annotated[str, StringConstraints(max_length=1000)] | None = None


class PayoutResult(BaseModel):
    items: list[PayoutOut]


ReportName = StrEnum("ReportName", {name.replace("-", "_"): name for name in REPORTS})  # type: ignore[misc]


class ReportOut(BaseModel):
    report: str
    year: int
    partner_id: str | None
    rows: list[dict[str, Any]]
