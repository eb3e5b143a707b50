"""The sandbox org's metadata: Opportunity and Account with their custom fields.

``describe`` answers from here, writes are validated against it, and the SOQL engine
resolves names through it (case-insensitively, like Salesforce).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

__all__ = ["FIELD_TYPES", "SCHEMA", "STAGES", "FieldDef", "ObjectDef", "OrgSchema"]

FieldPath = tuple[str, ...]
FIELD_TYPES = frozenset(
    {
        "id",
        "string",
        "textarea",
        "picklist",
        "email",
        "url",
        "phone",
        "reference",
        "currency",
        "double",
        "percent",
        "int",
        "boolean",
        "date",
        "datetime",
    }
)


@dataclass(frozen=True)
class FieldDef:
    """One field as ``describe`` shows it."""

    name: str
    type: str
    label: str = ""
    updateable: bool = True
    createable: bool = True
    nillable: bool = True
    required: bool = False  # on create (nillable false and no default)
    length: int = 0
    picklist: tuple[str, ...] = ()
    restricted: bool = True
    reference_to: str | None = None
    relationship_name: str | None = None
    external_id: bool = False
    unique: bool = False

    def describe(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "label": self.label or self.name.removesuffix("__c").replace("_", " "),
            "type": self.type,
            "length": self.length,
            "updateable": self.updateable,
            "createable": self.createable,
            "nillable": self.nillable,
            "custom": self.name.endswith("__c"),
            "externalId": self.external_id,
            "unique": self.unique,
            "restrictedPicklist": bool(self.picklist) and self.restricted,
            "picklistValues": [
                {"value": v, "label": v, "active": True, "defaultValue": False}
                for v in self.picklist
            ],
            "referenceTo": [self.reference_to] if self.reference_to else [],
            "relationshipName": self.relationship_name,
            "calculated": not self.updateable and not self.createable and self.type != "id",
        }


@dataclass(frozen=True)
class ObjectDef:
    """One sObject: its key prefix and fields."""

    name: str
    key_prefix: str
    label: str
    fields: tuple[FieldDef, ...]
    by_name: dict[str, FieldDef] = field(default_factory=dict, compare=False)

    def __post_init__(self) -> None:
        self.by_name.update({f.name.casefold(): f for f in self.fields})

    def get(self, name: str) -> FieldDef | None:
        return self.by_name.get(name.casefold())


#: StageName -> (IsClosed, IsWon, Probability %), like OpportunityStage metadata.
STAGES: MappingProxyType[str, tuple[bool, bool, int]] = MappingProxyType(
    {
        "Prospecting": (False, False, 10),
        "Qualification": (False, False, 10),
        "Needs Analysis": (False, False, 20),
        "Value Proposition": (False, False, 50),
        "Proposal/Price Quote": (False, False, 75),
        "Negotiation/Review": (False, False, 90),
        "Closed Won": (True, True, 100),
        "Closed Lost": (True, False, 0),
    }
)
CURRENCIES = ("USD", "EUR", "GBP", "CAD", "AUD", "JPY")
_SYSTEM = (
    FieldDef("CreatedDate", "datetime", updateable=False, createable=False, nillable=False),
    FieldDef("LastModifiedDate", "datetime", updateable=False, createable=False, nillable=False),
    FieldDef("SystemModstamp", "datetime", updateable=False, createable=False, nillable=False),
    FieldDef("IsDeleted", "boolean", updateable=False, createable=False, nillable=False),
)

OPPORTUNITY = ObjectDef(
    "Opportunity",
    "006",
    "Opportunity",
    (
        FieldDef("Id", "id", updateable=False, createable=False, nillable=False, length=18),
        FieldDef("Name", "string", nillable=False, required=True, length=120),
        FieldDef("AccountId", "reference", reference_to="Account", relationship_name="Account"),
        FieldDef("Amount", "currency"),
        FieldDef("CurrencyIsoCode", "picklist", picklist=CURRENCIES, length=3),
        FieldDef("StageName", "picklist", nillable=False, required=True, picklist=tuple(STAGES)),
        FieldDef("CloseDate", "date", nillable=False, required=True),
        FieldDef("Probability", "percent"),
        FieldDef("IsClosed", "boolean", updateable=False, createable=False, nillable=False),
        FieldDef("IsWon", "boolean", updateable=False, createable=False, nillable=False),
        FieldDef("Type", "picklist", picklist=("New Business", "Existing Business")),
        FieldDef("LeadSource", "picklist", picklist=("Web", "Partner Referral", "Other")),
        FieldDef("Description", "textarea", length=32000),
        FieldDef("OwnerId", "reference", length=18),
        *_SYSTEM,
        FieldDef(
            "Partner_Account__c",
            "reference",
            reference_to="Account",
            relationship_name="Partner_Account__r",
        ),
        FieldDef(
            "Practice__c",
            "picklist",
            picklist=("Cloud", "Data", "Security", "Networking", "Services"),
        ),
        FieldDef(
            "Co_Sell_Direction__c",
            "picklist",
            picklist=(
                "Partner Sourced / Partner Sold",
                "Direct Sourced / Partner Sold",
                "Partner Sourced / Direct Sold",
            ),
        ),
        FieldDef("Paid_Amount__c", "currency"),
        FieldDef("Paid_Date__c", "date"),
        FieldDef("Cost__c", "currency"),
        FieldDef(
            "Registration_Status__c",
            "picklist",
            picklist=("Pending", "Approved", "Rejected", "Conflict", "Expired", "Won", "Lost"),
        ),
        FieldDef("Protected_Until__c", "date"),
        FieldDef("Registered_Partner__c", "string", length=64),
        FieldDef("Commission_Accrued__c", "currency"),
        FieldDef(
            "Payout_Status__c",
            "picklist",
            picklist=("Accrued", "Approved", "Scheduled", "Paid", "Reversed"),
        ),
        FieldDef("Payout_Reference__c", "string", length=80),
        FieldDef("Payout_Paid_Date__c", "date"),
        FieldDef("External_Id__c", "string", length=80, external_id=True, unique=True),
    ),
)

ACCOUNT = ObjectDef(
    "Account",
    "001",
    "Account",
    (
        FieldDef("Id", "id", updateable=False, createable=False, nillable=False, length=18),
        FieldDef("Name", "string", nillable=False, required=True, length=255),
        FieldDef("Website", "url", length=255),
        FieldDef("Type", "picklist", picklist=("Customer", "Partner", "Prospect")),
        FieldDef(
            "Industry",
            "picklist",
            picklist=("Technology", "Finance", "Healthcare", "Retail", "Manufacturing", "Energy"),
            restricted=False,
        ),
        FieldDef("BillingCountry", "string", length=80),
        FieldDef("Partner_Tier__c", "picklist", picklist=("Registered", "Silver", "Gold")),
        *_SYSTEM,
    ),
)


class OrgSchema:
    """All objects of the org; implements the SOQL engine's ``Schema`` protocol."""

    def __init__(self, objects: tuple[ObjectDef, ...]) -> None:
        self.objects = {o.name.casefold(): o for o in objects}
        self.by_prefix = {o.key_prefix: o for o in objects}

    def object(self, name: str) -> ObjectDef | None:
        return self.objects.get(name.casefold())

    def object_name(self, name: str) -> str | None:
        found = self.object(name)
        return found.name if found else None

    def relationship(self, sobject: str, name: str) -> FieldDef | None:
        """The reference field whose relationship name is ``name``."""
        obj = self.object(sobject)
        if obj is None:
            return None
        folded = name.casefold()
        for f in obj.fields:
            if f.relationship_name and f.relationship_name.casefold() == folded:
                return f
        return None

    def field(self, sobject: str, path: FieldPath) -> tuple[FieldPath, str] | None:
        obj = self.object(sobject)
        if obj is None or not path or len(path) > 2:
            return None
        if len(path) == 1:
            f = obj.get(path[0])
            return ((f.name,), f.type) if f else None
        ref = self.relationship(sobject, path[0])
        if ref is None or ref.reference_to is None:
            return None
        target = self.object(ref.reference_to)
        f = target.get(path[1]) if target else None
        if f is None or ref.relationship_name is None:
            return None
        return (ref.relationship_name, f.name), f.type


SCHEMA = OrgSchema((OPPORTUNITY, ACCOUNT))
