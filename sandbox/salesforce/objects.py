"""The sandbox org's sObjects: Opportunity and Account, standard and custom fields.

Standard fields carry their real labels, types, lengths and flags; the custom fields are
those partnersync's mappings use (``mappings/salesforce.toml``). StageName drives IsClosed,
IsWon, Probability and ForecastCategoryName exactly as the default OpportunityStage
metadata of a new org does.
"""

from __future__ import annotations

from collections.abc import Collection
from types import MappingProxyType
from typing import Any, NamedTuple

from sandbox.salesforce.ids import USER_ID
from sandbox.salesforce.schema import FieldDef, ObjectDef, OrgSchema

__all__ = ["ACCOUNT", "CURRENCIES", "OPPORTUNITY", "SCHEMA", "STAGES", "USER", "StageInfo"]


class StageInfo(NamedTuple):
    """One OpportunityStage: closed / won flags, default probability (%) and forecast."""

    is_closed: bool
    is_won: bool
    probability: float
    forecast_category: str


#: The default OpportunityStage picklist of a new org, in order.
STAGES: MappingProxyType[str, StageInfo] = MappingProxyType(
    {
        "Prospecting": StageInfo(False, False, 10.0, "Pipeline"),
        "Qualification": StageInfo(False, False, 10.0, "Pipeline"),
        "Needs Analysis": StageInfo(False, False, 20.0, "Pipeline"),
        "Value Proposition": StageInfo(False, False, 50.0, "Pipeline"),
        "Proposal/Price Quote": StageInfo(False, False, 75.0, "Pipeline"),
        "Negotiation/Review": StageInfo(False, False, 90.0, "Pipeline"),
        "Closed Won": StageInfo(True, True, 100.0, "Closed"),
        "Closed Lost": StageInfo(True, False, 0.0, "Omitted"),
    }
)
CURRENCIES = ("USD", "EUR", "GBP", "CAD", "AUD", "JPY")
_FORECAST = ("Omitted", "Pipeline", "Best Case", "Commit", "Closed")


def _system_field(name: str, kind: str, label: str, **extra: Any) -> FieldDef:
    return FieldDef(
        name,
        kind,
        label,
        updateable=False,
        createable=False,
        nillable=False,
        defaulted_on_create=True,
        **extra,
    )


def _system_fields() -> tuple[FieldDef, ...]:
    """Fields every object has, maintained by the org (never writable through the API).

    ``LastModifiedById`` is the user of the last write: the integration user
    (:data:`~.ids.USER_ID`) for every API write.
    """
    return (
        _system_field("IsDeleted", "boolean", "Deleted"),
        _system_field("CreatedDate", "datetime", "Created Date"),
        _system_field("LastModifiedDate", "datetime", "Last Modified Date"),
        _system_field(
            "LastModifiedById",
            "reference",
            "Last Modified By ID",
            length=18,
            reference_to="User",
            relationship_name="LastModifiedBy",
        ),
        _system_field("SystemModstamp", "datetime", "System Modstamp"),
    )


def _id_field() -> FieldDef:
    return FieldDef(
        "Id",
        "id",
        "Record ID",
        updateable=False,
        createable=False,
        nillable=False,
        length=18,
        defaulted_on_create=True,
    )


def _owner_field() -> FieldDef:
    return FieldDef(
        "OwnerId",
        "reference",
        "Owner ID",
        nillable=False,
        defaulted_on_create=True,
        length=18,
        reference_to="User",
        relationship_name="Owner",
        default=USER_ID,
    )


def _currency(name: str, label: str) -> FieldDef:
    return FieldDef(name, "currency", label, precision=18, scale=2)


def _picklist(name: str, label: str, *values: str, restricted: bool = True) -> FieldDef:
    return FieldDef(name, "picklist", label, length=255, picklist=values, restricted=restricted)


def _derive_opportunity(row: list[Any], slots: dict[str, int], given: Collection[str]) -> None:
    """IsClosed / IsWon follow StageName; a new stage resets Probability and forecast."""
    stage = STAGES.get(row[slots["StageName"]])
    row[slots["IsClosed"]] = stage.is_closed if stage else False
    row[slots["IsWon"]] = stage.is_won if stage else False
    if stage is not None and "StageName" in given:
        if "Probability" not in given:
            row[slots["Probability"]] = stage.probability
        if "ForecastCategoryName" not in given:
            row[slots["ForecastCategoryName"]] = stage.forecast_category


OPPORTUNITY = ObjectDef(
    name="Opportunity",
    label="Opportunity",
    label_plural="Opportunities",
    key_prefix="006",
    derive=_derive_opportunity,
    fields=(
        _id_field(),
        FieldDef("Name", "string", "Name", nillable=False, length=120, name_field=True),
        FieldDef(
            "AccountId",
            "reference",
            "Account ID",
            length=18,
            reference_to="Account",
            relationship_name="Account",
        ),
        _currency("Amount", "Amount"),
        FieldDef(
            "CurrencyIsoCode",
            "picklist",
            "Opportunity Currency",
            nillable=False,
            length=3,
            defaulted_on_create=True,
            picklist=CURRENCIES,
            default="USD",
        ),
        FieldDef(
            "StageName", "picklist", "Stage", nillable=False, length=255, picklist=tuple(STAGES)
        ),
        FieldDef("CloseDate", "date", "Close Date", nillable=False),
        FieldDef(
            "Probability", "percent", "Probability (%)", precision=3, defaulted_on_create=True
        ),
        FieldDef(
            "ForecastCategoryName",
            "picklist",
            "Forecast Category",
            length=40,
            defaulted_on_create=True,
            picklist=_FORECAST,
        ),
        FieldDef(
            "IsClosed",
            "boolean",
            "Closed",
            updateable=False,
            createable=False,
            nillable=False,
            defaulted_on_create=True,
        ),
        FieldDef(
            "IsWon",
            "boolean",
            "Won",
            updateable=False,
            createable=False,
            nillable=False,
            defaulted_on_create=True,
        ),
        _picklist(
            "Type",
            "Opportunity Type",
            "Existing Customer - Upgrade",
            "Existing Customer - Replacement",
            "Existing Customer - Downgrade",
            "New Customer",
            restricted=False,
        ),
        _picklist(
            "LeadSource",
            "Lead Source",
            "Web",
            "Phone Inquiry",
            "Partner Referral",
            "Purchased List",
            "Other",
            restricted=False,
        ),
        FieldDef("Description", "textarea", "Description", length=32000),
        _owner_field(),
        *_system_fields(),
        FieldDef(
            "Partner_Account__c",
            "reference",
            "Partner Account",
            length=18,
            reference_to="Account",
            relationship_name="Partner_Account__r",
        ),
        _picklist("Practice__c", "Practice", "Cloud", "Data", "Security", "Networking", "Services"),
        _picklist(
            "Co_Sell_Direction__c",
            "Co-Sell Direction",
            "Partner Sourced / Partner Sold",
            "Direct Sourced / Partner Sold",
            "Partner Sourced / Direct Sold",
        ),
        _currency("Paid_Amount__c", "Paid Amount"),
        FieldDef("Paid_Date__c", "date", "Paid Date"),
        _currency("Cost__c", "Cost"),
        _picklist(
            "Registration_Status__c",
            "Registration Status",
            "Pending",
            "Approved",
            "Rejected",
            "Conflict",
            "Expired",
            "Won",
            "Lost",
        ),
        FieldDef("Protected_Until__c", "date", "Protected Until"),
        FieldDef("Registered_Partner__c", "string", "Registered Partner", length=64),
        FieldDef("Registration_Reason__c", "string", "Registration Reason", length=64),
        FieldDef("Conflicting_Partner__c", "string", "Conflicting Partner", length=64),
        _currency("Commission_Accrued__c", "Commission Accrued"),
        _picklist(
            "Payout_Status__c",
            "Payout Status",
            "Accrued",
            "Approved",
            "Scheduled",
            "Paid",
            "Reversed",
        ),
        FieldDef("Payout_Reference__c", "string", "Payout Reference", length=80),
        FieldDef("Payout_Paid_Date__c", "date", "Payout Paid Date"),
        FieldDef(
            "External_Id__c", "string", "External ID", length=80, external_id=True, unique=True
        ),
        FieldDef(  # the key partnersync writes on a deal it creates (upserts are keyed on it)
            "Partnersync_Key__c",
            "string",
            "partnersync Key",
            length=80,
            external_id=True,
            unique=True,
        ),
    ),
)

ACCOUNT = ObjectDef(
    name="Account",
    label="Account",
    label_plural="Accounts",
    key_prefix="001",
    fields=(
        _id_field(),
        FieldDef("Name", "string", "Account Name", nillable=False, length=255, name_field=True),
        FieldDef("Website", "url", "Website", length=255),
        _picklist("Type", "Account Type", "Customer", "Partner", "Prospect", restricted=False),
        _picklist(
            "Industry",
            "Industry",
            "Technology",
            "Finance",
            "Healthcare",
            "Retail",
            "Manufacturing",
            "Energy",
            restricted=False,
        ),
        FieldDef("BillingCountry", "string", "Billing Country", length=80),
        _owner_field(),
        *_system_fields(),
        _picklist("Partner_Tier__c", "Partner Tier", "Registered", "Silver", "Gold"),
    ),
)

USER = ObjectDef(
    name="User",
    label="User",
    label_plural="Users",
    key_prefix="005",
    fields=(
        _id_field(),
        FieldDef("Name", "string", "Full Name", nillable=False, length=121, name_field=True),
        FieldDef("Username", "string", "Username", nillable=False, length=80, unique=True),
        FieldDef("IsActive", "boolean", "Active", nillable=False, defaulted_on_create=True),
        *_system_fields(),
    ),
)

#: The org's schema: what describe shows, writes are checked against and SOQL resolves.
SCHEMA = OrgSchema((OPPORTUNITY, ACCOUNT, USER))
