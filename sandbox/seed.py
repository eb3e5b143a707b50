"""Deterministic, realistic seed data for the sandbox: the same seed gives the same data.

``seed_sandbox(sandbox, n)`` creates, in each CRM, a dozen partner accounts (tiers Registered,
Silver, Gold), about ``n / 4`` customer accounts, and ``n`` opportunities (Salesforce) /
deals (HubSpot) with stages, amounts in several currencies, close dates, practices, co-sell
directions and, for most deals, a partner reference. Timestamps are spread over the two
years before a fixed anchor instant, so incremental reads see a realistic spread, and the
generator never reads the wall clock.

The customer names include near-duplicates ("Northwind Traders" / "NORTHWIND TRADERS
INC.") and shared domains, because matching registrations to deals has to cope with them.
"""

from __future__ import annotations

import random
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from sandbox.core import Sandbox

__all__ = [
    "ANCHOR",
    "PARTNERS",
    "SeedCustomer",
    "SeedDeal",
    "SeedPartner",
    "generate",
    "seed_sandbox",
]

#: The instant seed data is generated relative to (timestamps end here).
ANCHOR = datetime(2026, 11, 1, 12, 0, tzinfo=UTC)


@dataclass(frozen=True)
class SeedPartner:
    """A partner company as both CRMs hold it."""

    key: str
    name: str
    domain: str
    tier: str  # registered | silver | gold


@dataclass(frozen=True)
class SeedCustomer:
    """A customer account / company."""

    name: str
    domain: str | None
    country: str
    industry: str


@dataclass(frozen=True)
class SeedDeal:
    """One opportunity / deal, CRM-neutral."""

    name: str
    customer: int  # index into the customer list
    amount: Decimal | None
    currency: str
    stage: str  # neutral: prospecting .. closed_won / closed_lost
    close_date: date
    practice: str | None
    direction: str | None  # partner_sourced_partner_sold | direct_sourced_partner_sold | ...
    partner: int | None  # index into PARTNERS
    paid_amount: Decimal | None
    paid_date: date | None
    cost: Decimal | None
    created_at: datetime
    modified_at: datetime


PARTNERS: tuple[SeedPartner, ...] = (
    SeedPartner("ACME", "Acme Cloud Partners", "acmecloud.com", "gold"),
    SeedPartner("BLUEFIN", "Bluefin Systems", "bluefin.com", "silver"),
    SeedPartner("CEDAR", "Cedar Consulting Group", "cedarcg.com", "registered"),
    SeedPartner("DELTA", "Delta Data Services", "deltadata.com", "gold"),
    SeedPartner("EMBER", "Ember Security", "embersec.com", "silver"),
    SeedPartner("FJORD", "Fjord Networks", "fjordnet.com", "registered"),
    SeedPartner("GRANITE", "Granite Integrators", "granite-int.com", "silver"),
    SeedPartner("HELIX", "Helix Analytics", "helix.com", "registered"),
    SeedPartner("IRIS", "Iris Managed Services", "irisms.com", "gold"),
    SeedPartner("JUNIPER", "Juniper Lane Partners", "juniperlane.com", "registered"),
    SeedPartner("KESTREL", "Kestrel Cloud", "kestrel.com", "silver"),
    SeedPartner("LUMEN", "Lumen Advisory", "lumenadv.com", "registered"),
)

_PREFIXES = (
    "Northwind", "Contoso", "Fabrikam", "Globex", "Initech", "Umbrella", "Stark", "Wayne",
    "Tyrell", "Cyberdyne", "Hooli", "Pied Piper", "Vandelay", "Soylent", "Wonka", "Acorn",
    "Blue Ridge", "Summit", "Harbor", "Pioneer", "Silverline", "Redwood", "Evergreen",
    "Polaris", "Atlas", "Beacon", "Crescent", "Keystone", "Meridian", "Orion",
)  # fmt: skip
_SUFFIXES = (
    "Traders", "Industries", "Logistics", "Health", "Foods", "Energy", "Capital", "Retail",
    "Labs", "Media", "Motors", "Pharma", "Insurance", "Software", "Manufacturing", "Bank",
)  # fmt: skip
_FORMS = ("", "", "", " Inc.", " LLC", " Ltd", " GmbH", " S.A.", " Corporation", " plc")
_COUNTRIES = ("US", "US", "US", "GB", "DE", "FR", "CA", "AU", "NL", "JP")
_INDUSTRIES = ("Technology", "Finance", "Healthcare", "Retail", "Manufacturing", "Energy")
_PRACTICES = ("Cloud", "Data", "Security", "Networking", "Services")
_PRODUCTS = ("Platform", "Expansion", "Renewal", "Migration", "Pilot", "Enterprise Licence")
_DIRECTIONS = (
    "partner_sourced_partner_sold",
    "direct_sourced_partner_sold",
    "partner_sourced_direct_sold",
)
_CURRENCIES = ("USD",) * 14 + ("EUR",) * 3 + ("GBP",) * 2 + ("CAD", "AUD")
#: Neutral stages and their weights: mostly open, a quarter won, some lost.
_STAGES = (
    ("prospecting", 10), ("qualification", 10), ("needs_analysis", 8), ("proposal", 8),
    ("negotiation", 6), ("closed_won", 28), ("closed_lost", 15),
)  # fmt: skip

SALESFORCE_STAGES = {
    "prospecting": "Prospecting",
    "qualification": "Qualification",
    "needs_analysis": "Needs Analysis",
    "proposal": "Proposal/Price Quote",
    "negotiation": "Negotiation/Review",
    "closed_won": "Closed Won",
    "closed_lost": "Closed Lost",
}
HUBSPOT_STAGES = {
    "prospecting": "appointmentscheduled",
    "qualification": "qualifiedtobuy",
    "needs_analysis": "presentationscheduled",
    "proposal": "decisionmakerboughtin",
    "negotiation": "contractsent",
    "closed_won": "closedwon",
    "closed_lost": "closedlost",
}
SALESFORCE_DIRECTIONS = {
    "partner_sourced_partner_sold": "Partner Sourced / Partner Sold",
    "direct_sourced_partner_sold": "Direct Sourced / Partner Sold",
    "partner_sourced_direct_sold": "Partner Sourced / Direct Sold",
}

_CENT = Decimal("0.01")
_TWO_YEARS = timedelta(days=730)


#: The web suffix of a customer's country (a real public suffix, so the customer's domain
#: has a registrable part the way real ones do).
_SUFFIX = {"US": "com", "GB": "co.uk", "DE": "de", "FR": "fr", "CA": "ca", "AU": "com.au",
           "NL": "nl", "JP": "co.jp"}  # fmt: skip


def _domain(name: str, country: str = "US") -> str:
    base = "".join(ch for ch in name.lower() if ch.isalnum() or ch == " ").split()
    return "".join(base[:2]) + "." + _SUFFIX.get(country, "com")


def _customers(rng: random.Random, count: int) -> list[SeedCustomer]:
    customers: list[SeedCustomer] = []
    for _ in range(count):
        name = f"{rng.choice(_PREFIXES)} {rng.choice(_SUFFIXES)}"
        domain: str | None = _domain(name)  # .com until the country is drawn
        roll = rng.random()
        if roll < 0.08:
            name = name.upper() + rng.choice((" INC.", " CORP", ""))  # a near-duplicate
        elif roll < 0.12:
            domain = None  # no website on file
        elif roll < 0.16:
            domain = "www." + str(domain)
        full_name = name + rng.choice(_FORMS)
        country = rng.choice(_COUNTRIES)
        if domain is not None:  # the same draws as ever; the suffix follows the country
            domain = domain.replace(".com", "." + _SUFFIX[country])
        customers.append(SeedCustomer(full_name, domain, country, rng.choice(_INDUSTRIES)))
    return customers


def _money(value: float) -> Decimal:
    return Decimal(str(round(value, 2))).quantize(_CENT)


def generate(n: int, random_seed: int = 1) -> tuple[list[SeedCustomer], Iterator[SeedDeal]]:
    """The customers, and an iterator over ``n`` deals, for ``random_seed``."""
    rng = random.Random(random_seed)
    customers = _customers(rng, max(1, n // 4))
    stages = [s for s, _ in _STAGES]
    weights = [w for _, w in _STAGES]

    def deals() -> Iterator[SeedDeal]:
        for _ in range(n):
            customer = rng.randrange(len(customers))
            stage = rng.choices(stages, weights)[0]
            amount = _money(rng.lognormvariate(10.3, 0.9)) if rng.random() > 0.03 else None
            created = ANCHOR - _TWO_YEARS * rng.random()
            modified = created + (ANCHOR - created) * rng.random()
            modified = modified.replace(microsecond=(modified.microsecond // 1000) * 1000)
            created = created.replace(microsecond=(created.microsecond // 1000) * 1000)
            close = (created + timedelta(days=rng.randint(20, 240))).date()
            partner = rng.randrange(len(PARTNERS)) if rng.random() < 0.6 else None
            practice = rng.choice(_PRACTICES) if partner is not None or rng.random() < 0.3 else None
            direction = rng.choice(_DIRECTIONS) if partner is not None else None
            paid_amount = paid_date = None
            if stage == "closed_won" and amount is not None and rng.random() < 0.5:
                paid_amount = amount if rng.random() < 0.8 else _money(float(amount) * 0.5)
                paid_date = close + timedelta(days=rng.randint(10, 60))
            cost = _money(float(amount) * rng.uniform(0.35, 0.8)) if amount is not None else None
            product = rng.choice(_PRODUCTS)
            yield SeedDeal(
                name=f"{customers[customer].name} - {practice or 'Core'} {product}",
                customer=customer,
                amount=amount,
                currency=rng.choice(_CURRENCIES),
                stage=stage,
                close_date=close,
                practice=practice,
                direction=direction,
                partner=partner,
                paid_amount=paid_amount,
                paid_date=paid_date,
                cost=cost,
                created_at=created,
                modified_at=modified,
            )

    return customers, deals()


def _iso_ms(value: datetime) -> str:
    return (
        value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.") + f"{value.microsecond // 1000:03d}Z"
    )


def _text(value: object) -> str | None:
    return None if value is None else str(value)


def seed_salesforce(sandbox: Sandbox, n: int, random_seed: int = 1) -> None:
    """Seed the Salesforce org: partner and customer Accounts, ``n`` Opportunities."""
    org = sandbox.salesforce
    customers, deals = generate(n, random_seed)
    partner_ids = org.insert_many(
        "Account",
        (
            {"Name": p.name, "Website": p.domain, "Type": "Partner", "Partner_Tier__c":
             p.tier.capitalize(), "CreatedDate": ANCHOR - _TWO_YEARS,
             "LastModifiedDate": ANCHOR - _TWO_YEARS, "SystemModstamp": ANCHOR - _TWO_YEARS}
            for p in PARTNERS
        ),
    )  # fmt: skip
    customer_ids = org.insert_many(
        "Account",
        (
            {"Name": c.name, "Website": c.domain, "Type": "Customer", "Industry": c.industry,
             "BillingCountry": c.country, "CreatedDate": ANCHOR - _TWO_YEARS,
             "LastModifiedDate": ANCHOR - _TWO_YEARS, "SystemModstamp": ANCHOR - _TWO_YEARS}
            for c in customers
        ),
    )  # fmt: skip
    org.insert_many(
        "Opportunity",
        (
            {
                "Name": d.name,
                "AccountId": customer_ids[d.customer],
                "Amount": d.amount,
                "CurrencyIsoCode": d.currency,
                "StageName": SALESFORCE_STAGES[d.stage],
                "CloseDate": d.close_date,
                "Partner_Account__c": partner_ids[d.partner] if d.partner is not None else None,
                "Practice__c": d.practice,
                "Co_Sell_Direction__c": SALESFORCE_DIRECTIONS[d.direction] if d.direction else None,
                "Paid_Amount__c": d.paid_amount,
                "Paid_Date__c": d.paid_date,
                "Cost__c": d.cost,
                "CreatedDate": d.created_at,
                "LastModifiedDate": d.modified_at,
                "SystemModstamp": d.modified_at,
            }
            for d in deals
        ),
    )


def seed_hubspot(sandbox: Sandbox, n: int, random_seed: int = 1) -> None:
    """Seed the HubSpot portal: partner and customer companies, ``n`` deals (associated)."""
    portal = sandbox.hubspot
    customers, deals = generate(n, random_seed)
    old = _iso_ms(ANCHOR - _TWO_YEARS)
    partner_ids = portal.create_many(
        "companies",
        (
            {"name": p.name, "domain": p.domain, "type": "PARTNER", "partner_tier": p.tier,
             "createdate": old, "hs_lastmodifieddate": old}
            for p in PARTNERS
        ),
    )  # fmt: skip
    customer_ids = portal.create_many(
        "companies",
        (
            {"name": c.name, "domain": c.domain, "type": "PROSPECT", "industry": None,
             "country": c.country, "createdate": old, "hs_lastmodifieddate": old}
            for c in customers
        ),
    )  # fmt: skip
    rows: list[dict[str, str | None]] = []
    links: list[int] = []
    for d in deals:
        links.append(d.customer)
        rows.append(
            {
                "dealname": d.name,
                "amount": _text(d.amount),
                "deal_currency_code": d.currency,
                "dealstage": HUBSPOT_STAGES[d.stage],
                "pipeline": "default",
                "closedate": d.close_date.isoformat() + "T00:00:00.000Z",
                "partner_company_id": partner_ids[d.partner] if d.partner is not None else None,
                "practice": d.practice,
                "co_sell_direction": d.direction,
                "paid_amount": _text(d.paid_amount),
                "paid_date": d.paid_date.isoformat() if d.paid_date else None,
                "cost": _text(d.cost),
                "createdate": _iso_ms(d.created_at),
                "hs_lastmodifieddate": _iso_ms(d.modified_at),
            }
        )
    deal_ids = portal.create_many("deals", rows)
    for deal_id, customer in zip(deal_ids, links, strict=True):
        portal.associate(deal_id, customer_ids[customer], primary=True)


def seed_sandbox(sandbox: Sandbox, n: int, random_seed: int = 1) -> None:
    """Seed both CRMs with ``n`` opportunities / deals each."""
    seed_salesforce(sandbox, n, random_seed)
    seed_hubspot(sandbox, n, random_seed)
