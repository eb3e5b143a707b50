"""What people do in the CRMs' own screens, without the HTTP APIs: for demos and tests.

A sales rep edits a record (and is its last editor), deletes one, creates a customer and a
deal on it; field names are each CRM's own (``Amount``, ``amount``), values plain Python.
Partners' accounts (Salesforce) and companies (HubSpot) are found by name.
"""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from typing import TYPE_CHECKING, Any, Literal

if TYPE_CHECKING:
    from sandbox.hubspot.portal import HubSpotPortal
    from sandbox.salesforce.org import SalesforceOrg

__all__ = ["PersonInTheCrm"]

Api = Literal["salesforce", "hubspot"]
#: A deal's stage in words, and each CRM's own stage for it.
STAGES: dict[str, tuple[str, str]] = {
    "open": ("Prospecting", "appointmentscheduled"),
    "won": ("Closed Won", "closedwon"),
    "lost": ("Closed Lost", "closedlost"),
}


class PersonInTheCrm:
    """The person-facing half of :class:`~sandbox.Sandbox` (its org and portal)."""

    salesforce: SalesforceOrg
    hubspot: HubSpotPortal

    def record_ids(self, api: Api, object_name: str) -> list[str]:
        """Ids of the live records of ``object_name`` (``Opportunity``, ``deals``), oldest
        first."""
        if api == "salesforce":
            return [r["Id"] for r in self.salesforce.records(object_name)]
        table = self.hubspot.table(object_name)
        with self.hubspot.lock:
            rows = table.page(0, table.count() + 1, archived=False)[0]
        return [str(row.id) for row in rows]

    def value(self, api: Api, object_name: str, record_id: str, field: str) -> Any:
        """One field of a record as the CRM holds it now (``None`` when unset)."""
        if api == "salesforce":
            return (self.salesforce.get(object_name, record_id) or {}).get(field)
        record = self.hubspot.get(object_name, record_id) or {}
        return (record.get("properties") or {}).get(field)

    def edit(
        self,
        api: Api,
        object_name: str,
        record_id: str,
        values: dict[str, Any],
        *,
        user: int = 1,
    ) -> None:
        """Change a record as sales rep number ``user`` would in the CRM's screens: the
        record's last editor becomes that user (Salesforce ``LastModifiedById``, HubSpot
        ``hs_updated_by_user_id``)."""
        from sandbox.users import salesforce_user

        if api == "salesforce":
            editor = {"LastModifiedById": salesforce_user(user).id}
            self.salesforce.update(object_name, record_id, {**values, **editor})
        else:
            self.hubspot.update(object_name, record_id, _text(values), by_user=user)

    def delete(self, api: Api, object_name: str, record_id: str) -> None:
        """Delete a record (Salesforce: to the recycle bin; HubSpot: archive it)."""
        if api == "salesforce":
            self.salesforce.delete(object_name, record_id)
        else:
            self.hubspot.archive(object_name, record_id)

    def partner_account(self, api: Api, name: str) -> str:
        """The id of the partner account (Salesforce) or company (HubSpot) named ``name``."""
        if api == "salesforce":
            for account in self.salesforce.records("Account"):
                if account["Name"] == name:
                    return str(account["Id"])
        else:
            for company_id in self.record_ids("hubspot", "companies"):
                if self.value("hubspot", "companies", company_id, "name") == name:
                    return company_id
        raise KeyError(f"no {api} account named {name!r}")

    def add_customer(self, api: Api, name: str, domain: str | None = None) -> str:
        """A new customer account (Salesforce) or company (HubSpot); its id."""
        if api == "salesforce":
            return self.salesforce.insert(
                "Account", {"Name": name, "Website": domain, "Type": "Customer"}
            )
        return self.hubspot.create("companies", _text({"name": name, "domain": domain}))

    def add_deal(
        self,
        api: Api,
        *,
        name: str,
        customer: str,
        partner: str | None = None,
        amount: Decimal | None = None,
        currency: str = "USD",
        stage: str = "open",
        close_date: date | None = None,
    ) -> str:
        """A new opportunity / deal on ``customer`` (an account / company id), naming the
        partner's account / company id ``partner``; ``stage`` open, won or lost."""
        closes = close_date or date(2027, 3, 31)
        salesforce_stage, hubspot_stage = STAGES[stage]
        if api == "salesforce":
            return self.salesforce.insert(
                "Opportunity",
                {"Name": name, "AccountId": customer, "Partner_Account__c": partner,
                 "Amount": amount, "CurrencyIsoCode": currency, "StageName": salesforce_stage,
                 "CloseDate": closes},
            )  # fmt: skip
        deal = self.hubspot.create(
            "deals",
            _text({"dealname": name, "amount": amount, "deal_currency_code": currency,
                   "dealstage": hubspot_stage, "closedate": closes.isoformat(),
                   "partner_company_id": partner, "pipeline": "default"}),
        )  # fmt: skip
        self.hubspot.associate(deal, customer, primary=True)
        return deal


def _text(values: dict[str, Any]) -> dict[str, str | None]:
    return {k: None if v is None else str(v) for k, v in values.items()}
