"""What may stand on the partnersync side of a mapping file, and each value's type.

:data:`INBOUND` lists the partnersync fields a CRM field may feed (``[inbound]``),
:data:`OUTBOUND` the partnersync values a CRM field may receive (``[outbound]``) and
:data:`CREATE` the registration values a deal created for it may hold (``[create]``); each
carries its :class:`ValueKind`: how CRM values are coerced, and the closed set of values
when there is one (registration and payout states, co-sell directions, from
:mod:`rules.vocabulary`). ``mappings/README.md`` documents both for RevOps.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType

from rules.vocabulary import CoSellDirection, PayoutStatus, RegistrationStatus

__all__ = [
    "CREATE",
    "CRMS",
    "DIRECTIONS",
    "INBOUND",
    "OUTBOUND",
    "PAYOUT_STATES",
    "REGISTRATION_STATES",
    "ValueKind",
]

CRMS = ("salesforce", "hubspot")
DIRECTIONS = tuple(d.value for d in CoSellDirection)
REGISTRATION_STATES = tuple(s.value for s in RegistrationStatus)
PAYOUT_STATES = tuple(s.value for s in PayoutStatus)


@dataclass(frozen=True)
class ValueKind:
    """A partnersync value type: how CRM values are coerced, and its closed set if any."""

    coerce: str  # key of sync.mapping.coerce.COERCERS
    states: tuple[str, ...] | None = None
    noun: str = "value"


TEXT = ValueKind("text")
MONEY = ValueKind("decimal")
DATE = ValueKind("date")
BOOL = ValueKind("bool")

#: partnersync inbound field -> its type. ``name`` is required in every mapping.
INBOUND: Mapping[str, ValueKind] = MappingProxyType(
    {
        "name": TEXT,
        "amount": MONEY,
        "currency": TEXT,
        "stage": TEXT,
        "close_date": DATE,
        "is_won": BOOL,
        "is_closed": BOOL,
        "account_name": TEXT,
        "account_domain": TEXT,
        "partner_ref": TEXT,
        "practice": TEXT,
        "direction": ValueKind("text", DIRECTIONS, "co-sell direction"),
        "paid_amount": MONEY,
        "paid_date": DATE,
        "cost": MONEY,
        "modified_by": TEXT,  # who last changed the record: named in drift audits only
        # The key partnersync wrote on a deal it created for a registration ([create]
        # external_id, read without being mapped): the deal is linked back by it.
        "registration_key": TEXT,
    }
)

#: partnersync outbound source -> its type.
OUTBOUND: Mapping[str, ValueKind] = MappingProxyType(
    {
        "registration.id": TEXT,
        "registration.status": ValueKind("text", REGISTRATION_STATES, "registration state"),
        "registration.reason": TEXT,
        "registration.protected_until": DATE,
        "registration.partner_id": TEXT,
        "registration.conflict_partner_id": TEXT,  # a conflict's holder (the CRM is internal)
        "commission.accrued": MONEY,
        "commission.currency": TEXT,
        "payout.status": ValueKind("text", PAYOUT_STATES, "payout state"),
        "payout.amount": MONEY,
        "payout.reference": TEXT,
        "payout.paid_at": DATE,
    }
)

#: ``[create.fields]`` source -> its type: the registration a deal is created for. The
#: create also writes every ``[outbound]`` field, so the new deal shows its registration.
CREATE: Mapping[str, ValueKind] = MappingProxyType(
    {
        "registration.customer_name": TEXT,
        "registration.customer_domain": TEXT,
        "registration.amount": MONEY,
        "registration.currency": TEXT,
        # The expected close date, else the last protected day (a CRM may require one).
        "registration.close_date": DATE,
        "registration.practice": TEXT,
        "registration.partner_id": TEXT,
        # The partner's account in this CRM (Salesforce Account id, HubSpot company id),
        # else its partnersync id: what a partner lookup field takes.
        "registration.partner_account": TEXT,
        "registration.id": TEXT,
        "registration.protected_until": DATE,
    }
)
