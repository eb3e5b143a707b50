"""The property definitions a new sandbox portal starts with.

HubSpot-defined deal and company properties (the subset partnersync reads), plus the custom
``partnersync`` group an installed integration would have created: partner reference,
practice, co-sell direction, payments, registration and payout write-back fields and the
unique ``partnersync_key`` used as ``idProperty`` for upserts.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from sandbox.hubspot.schema import UPDATED_BY, ObjectSchema, Option, PropertyDef, Source

__all__ = ["DEAL_STAGES", "GROUP", "default_schemas"]

#: The custom property group of the integration.
GROUP = "partnersync"

#: Stages of the default pipeline: (value, label, closed, won).
DEAL_STAGES: tuple[tuple[str, str, bool, bool], ...] = (
    ("appointmentscheduled", "Appointment Scheduled", False, False),
    ("qualifiedtobuy", "Qualified To Buy", False, False),
    ("presentationscheduled", "Presentation Scheduled", False, False),
    ("decisionmakerboughtin", "Decision Maker Bought-In", False, False),
    ("contractsent", "Contract Sent", False, False),
    ("closedwon", "Closed Won", True, True),
    ("closedlost", "Closed Lost", True, False),
)


def _options(*pairs: tuple[str, str]) -> tuple[Option, ...]:
    return tuple(Option(label, value, order) for order, (value, label) in enumerate(pairs))


def _same(*values: str) -> tuple[Option, ...]:
    return _options(*((v, v) for v in values))


def _system(
    now: int, name: str, label: str, type_: str, field: str, group: str, **changes: Any
) -> PropertyDef:
    """A HubSpot-defined property: its definition cannot be changed or archived."""
    base = PropertyDef(
        name, label, type_, field, group, hubspot_defined=True, read_only_definition=True,
        archivable=False, form_field=True, created_at=now, updated_at=now,
    )  # fmt: skip
    return replace(base, **changes)


def _custom(now: int, name: str, label: str, type_: str, field: str, **changes: Any) -> PropertyDef:
    """A property of the integration's own group (writable, archivable)."""
    base = PropertyDef(name, label, type_, field, GROUP, created_at=now, updated_at=now)
    return replace(base, **changes)


def _bookkeeping(now: int, group: str, id_label: str) -> list[PropertyDef]:
    return [
        _system(now, "createdate", "Create Date", "datetime", "date", group,
                source=Source.CREATED),
        _system(now, "hs_lastmodifieddate", "Last Modified Date", "datetime", "date", group,
                source=Source.UPDATED, read_only_value=True, form_field=False),
        _system(now, "hs_object_id", id_label, "number", "number", group,
                source=Source.ID, read_only_value=True, form_field=False),
        _system(now, UPDATED_BY, "Updated by user ID", "number", "number", group,
                read_only_value=True, form_field=False,
                description="The user who last updated this record in HubSpot; set by "
                            "HubSpot, blank after a write through the API."),
    ]  # fmt: skip


def _deals(now: int) -> ObjectSchema:
    info = "dealinformation"
    stages = tuple(
        Option(label, value, order) for order, (value, label, _, _) in enumerate(DEAL_STAGES)
    )
    props = [
        _system(now, "dealname", "Deal Name", "string", "text", info),
        _system(now, "amount", "Amount", "number", "number", info, show_currency_symbol=True),
        _system(now, "deal_currency_code", "Currency", "enumeration", "select", info,
                options=_options(("USD", "US Dollar"), ("EUR", "Euro"),
                                 ("GBP", "British Pound Sterling"), ("CAD", "Canadian Dollar"),
                                 ("AUD", "Australian Dollar"), ("JPY", "Japanese Yen"))),
        _system(now, "dealstage", "Deal Stage", "enumeration", "radio", info, options=stages),
        _system(now, "pipeline", "Pipeline", "enumeration", "select", info,
                options=_options(("default", "Sales Pipeline"))),
        _system(now, "closedate", "Close Date", "datetime", "date", info),
        _system(now, "description", "Deal Description", "string", "textarea", info),
        _system(now, "hs_is_closed", "Is Deal Closed?", "bool", "booleancheckbox", info,
                source=Source.CLOSED, calculated=True, read_only_value=True, form_field=False,
                options=_options(("true", "True"), ("false", "False"))),
        _system(now, "hs_is_closed_won", "Is Closed Won", "bool", "booleancheckbox", info,
                source=Source.WON, calculated=True, read_only_value=True, form_field=False,
                options=_options(("true", "True"), ("false", "False"))),
        *_bookkeeping(now, info, "Record ID"),
        _custom(now, "partner_company_id", "Partner Company ID", "string", "text",
                description="The HubSpot company id of the partner on this deal."),
        _custom(now, "practice", "Practice", "enumeration", "select",
                options=_same("Cloud", "Data", "Security", "Networking", "Services")),
        _custom(now, "co_sell_direction", "Co-Sell Direction", "enumeration", "select",
                options=_options(
                    ("partner_sourced_partner_sold", "Partner Sourced / Partner Sold"),
                    ("direct_sourced_partner_sold", "Direct Sourced / Partner Sold"),
                    ("partner_sourced_direct_sold", "Partner Sourced / Direct Sold"))),
        _custom(now, "paid_amount", "Paid Amount", "number", "number",
                show_currency_symbol=True),
        _custom(now, "paid_date", "Paid Date", "date", "date"),
        _custom(now, "cost", "Cost", "number", "number", show_currency_symbol=True),
        _custom(now, "registration_status", "Registration Status", "enumeration", "select",
                options=_same("pending", "approved", "rejected", "conflict", "expired", "won",
                              "lost")),
        _custom(now, "protected_until", "Protected Until", "date", "date"),
        _custom(now, "registered_partner", "Registered Partner", "string", "text"),
        _custom(now, "registration_reason", "Registration Reason", "string", "text"),
        _custom(now, "conflicting_partner", "Conflicting Partner", "string", "text"),
        _custom(now, "commission_accrued", "Commission Accrued", "number", "number",
                show_currency_symbol=True),
        _custom(now, "payout_status", "Payout Status", "enumeration", "select",
                options=_same("accrued", "approved", "scheduled", "paid", "reversed")),
        _custom(now, "payout_reference", "Payout Reference", "string", "text"),
        _custom(now, "payout_paid_date", "Payout Paid Date", "date", "date"),
        _custom(now, "partnersync_key", "partnersync Key", "string", "text",
                has_unique_value=True,
                description="Unique key of the deal in partnersync (upsert idProperty)."),
    ]  # fmt: skip
    return ObjectSchema(
        "deals",
        "0-3",
        "deal",
        props,
        defaults=(
            "amount", "closedate", "createdate", "dealname", "dealstage",
            "hs_lastmodifieddate", "hs_object_id", "pipeline",
        ),
        searchable=("dealname", "description"),
    )  # fmt: skip


def _companies(now: int) -> ObjectSchema:
    info = "companyinformation"
    props = [
        _system(now, "name", "Company name", "string", "text", info),
        _system(now, "domain", "Company Domain Name", "string", "text", info),
        _system(now, "type", "Type", "enumeration", "select", info,
                options=_options(("PROSPECT", "Prospect"), ("PARTNER", "Partner"),
                                 ("RESELLER", "Reseller"), ("VENDOR", "Vendor"),
                                 ("OTHER", "Other"))),
        _system(now, "industry", "Industry", "string", "text", info),
        _system(now, "country", "Country/Region", "string", "text", info),
        *_bookkeeping(now, info, "Record ID"),
        _custom(now, "partner_tier", "Partner Tier", "enumeration", "select",
                options=_options(("registered", "Registered"), ("silver", "Silver"),
                                 ("gold", "Gold"))),
    ]  # fmt: skip
    return ObjectSchema(
        "companies",
        "0-2",
        "company",
        props,
        defaults=("createdate", "domain", "hs_lastmodifieddate", "hs_object_id", "name"),
        searchable=("name", "domain"),
    )


def default_schemas(now: int) -> dict[str, ObjectSchema]:
    """Fresh definitions for deals and companies, created at ``now`` (epoch ms)."""
    return {"deals": _deals(now), "companies": _companies(now)}
