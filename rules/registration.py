"""Deal registration: who may claim a customer, for how long, and every state change.

Pure: frozen dataclasses in, a decision and the audit records out; ``today`` is passed in,
never read from a clock. The service (``sync/registrations.py``) looks up the facts
(:class:`Situation`: blocked accounts, the live claims on the same customer, open direct
deals, fuzzy name candidates) with indexed queries and writes what the rules decide.

Submitting (:func:`decide_submission`), in this order, each outcome with a stable reason:

- ``rejected``: ``partner_inactive``, ``house_account``, ``do_not_contact``,
  ``below_min_amount``, ``practice_not_eligible``, ``duplicate`` (the partner's own live
  claim on the customer; ``conflict_with`` names it);
- ``conflict`` (held for review): ``conflict`` (another partner's approved, protected
  claim: ``conflict_with`` names it), ``channel_conflict`` (an open direct deal on the
  customer), ``possible_conflict`` (a fuzzy name match at or above the threshold that no
  domain confirms or refutes: flagged, never rejected);
- otherwise ``pending``, or ``approved`` at once with ``auto_approve``.

Decisions (:func:`approve`, :func:`reject`, :func:`withdraw`, :func:`extend`,
:func:`expire`, :func:`close`): first approved wins. Approving protects the customer until
the decision date plus the tier's days and turns the other live claims on it into
``conflict`` pointing at the approved one; approving while another partner holds the
customer is refused naming the holder. Protection lasts through ``protected_until``
(inclusive) and ends as ``expired`` the day after, unless the linked deal was won or lost
first. Rejecting and withdrawing free the customer; an expired customer is free again.
A transition the state does not allow raises :class:`IllegalTransition` naming the state.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from datetime import date, timedelta
from decimal import Decimal
from enum import StrEnum

from rules.vocabulary import BlockKind, RegistrationStatus

__all__ = [
    "LIVE",
    "AuditRecord",
    "Block",
    "Change",
    "Claim",
    "CustomerHeld",
    "Decision",
    "DirectDeal",
    "FuzzyMatch",
    "IllegalTransition",
    "Policy",
    "Reason",
    "RegistrationError",
    "Situation",
    "Submission",
    "apply",
    "approve",
    "close",
    "decide_submission",
    "expire",
    "extend",
    "fuzzy_can_change",
    "protects",
    "reject",
    "same_customer",
    "withdraw",
]

S = RegistrationStatus
#: Claims that hold or wait for a customer; the others are over.
LIVE = frozenset({S.PENDING, S.APPROVED, S.CONFLICT})


class Reason(StrEnum):
    """Why a registration is where it is: stable codes, shown to people and scripts."""

    PARTNER_INACTIVE = "partner_inactive"
    HOUSE_ACCOUNT = "house_account"
    DO_NOT_CONTACT = "do_not_contact"
    BELOW_MIN_AMOUNT = "below_min_amount"
    PRACTICE_NOT_ELIGIBLE = "practice_not_eligible"
    DUPLICATE = "duplicate"
    CONFLICT = "conflict"
    CHANNEL_CONFLICT = "channel_conflict"
    POSSIBLE_CONFLICT = "possible_conflict"
    REJECTED = "rejected"  # a partner manager's decision (the note says why)
    WITHDRAWN = "withdrawn"  # the partner's own
    PROTECTION_ENDED = "protection_ended"
    DEAL_WON = "deal_won"
    DEAL_LOST = "deal_lost"


class RegistrationError(Exception):
    """A decision the rules refuse; the message says why in a person's words."""


class IllegalTransition(RegistrationError):
    """The registration's state does not allow this action."""

    def __init__(self, claim_id: int, status: RegistrationStatus, action: str) -> None:
        super().__init__(f"registration {claim_id} is {status.value}: it cannot be {action}")
        self.claim_id = claim_id
        self.status = status
        self.action = action


class CustomerHeld(RegistrationError):
    """Another partner holds the customer (approved and protected)."""

    def __init__(self, holder: Claim) -> None:
        until = holder.protected_until.isoformat() if holder.protected_until else "?"
        super().__init__(
            f"the customer is held by partner {holder.partner_id} (registration {holder.id}, "
            f"protected until {until})"
        )
        self.holder = holder


@dataclass(frozen=True)
class Policy:
    """The program's rules (``[program]`` settings): protection days by tier, extensions,
    the smallest deal amount, eligible practices (empty: any), auto-approval, and the name
    similarity (0-100) at which a name match is flagged."""

    protection_days: Mapping[str, int]
    extension_days: int = 30
    max_extensions: int = 1
    min_amount: Decimal = Decimal("0")
    practices: frozenset[str] = frozenset()
    auto_approve: bool = False
    fuzzy_threshold: int = 90

    def protection(self, tier: str) -> int:
        """Protection days for ``tier``; ``RegistrationError`` for an unknown tier."""
        if tier not in self.protection_days:
            known = ", ".join(self.protection_days)
            raise RegistrationError(f"unknown tier {tier!r} (known tiers: {known})")
        return self.protection_days[tier]


@dataclass(frozen=True)
class Claim:
    """A registration as the rules see it: whose, its state, and its customer keys."""

    id: int
    partner_id: str
    status: RegistrationStatus
    name_key: str | None
    domain_key: str | None
    protected_until: date | None = None
    extensions_used: int = 0
    tier: str = ""
    conflict_with: int | None = None


@dataclass(frozen=True)
class Submission:
    """A new claim: the partner (its tier and whether it is active) and the customer."""

    partner_id: str
    tier: str
    name_key: str | None
    domain_key: str | None
    partner_active: bool = True
    amount: Decimal | None = None
    currency: str | None = None
    practice: str | None = None


@dataclass(frozen=True)
class Block:
    """A customer partners may not register (matched on its domain, else its name)."""

    kind: BlockKind
    domain_key: str | None
    name_key: str | None = None


@dataclass(frozen=True)
class DirectDeal:
    """An open mirrored deal on the customer that no partner is on."""

    crm: str
    crm_id: str
    name: str


@dataclass(frozen=True)
class FuzzyMatch:
    """A live claim whose customer name scores at or above the threshold (0-100)."""

    claim: Claim
    score: float


@dataclass(frozen=True)
class Situation:
    """What the service found for a submission: the blocked accounts on its keys, the live
    claims on the same customer (:func:`same_customer`), the open direct deals on it, and
    the fuzzy name candidates (live claims only; they are scored, then filtered here)."""

    blocks: tuple[Block, ...] = ()
    claims: tuple[Claim, ...] = ()
    direct_deals: tuple[DirectDeal, ...] = ()
    fuzzy: tuple[FuzzyMatch, ...] = ()


@dataclass(frozen=True)
class AuditRecord:
    """What the audit log says of one change: action, fields before and after, why."""

    action: str
    before: Mapping[str, object]
    after: Mapping[str, object]
    reason: str


@dataclass(frozen=True)
class Change:
    """One registration's state after an action (``claim_id`` 0: the one being submitted):
    every field as it is to be, unchanged ones included."""

    claim_id: int
    status: RegistrationStatus
    reason: Reason | None
    protected_until: date | None
    conflict_with: int | None
    extensions_used: int
    audit: AuditRecord


@dataclass(frozen=True)
class Decision:
    """The outcome of one action: the changes it makes, the acted-on claim's first, and
    (for a submission) what matched, for the registration's explanation."""

    changes: tuple[Change, ...]
    matched: tuple[str, ...] = field(default=())

    @property
    def main(self) -> Change:
        return self.changes[0]


def same_customer(a_name: str | None, a_domain: str | None, claim: Claim) -> bool:
    """Whether keys name the claim's customer: equal domains when both have one (the
    strong key: different domains are different customers), else equal names."""
    if a_domain and claim.domain_key:
        return a_domain == claim.domain_key
    return bool(a_name) and a_name == claim.name_key


def protects(claim: Claim, today: date) -> bool:
    """Whether ``claim`` holds its customer on ``today``: approved, and ``today`` is on
    or before its last protected day."""
    return (
        claim.status is S.APPROVED
        and claim.protected_until is not None
        and today <= claim.protected_until
    )


def _change(
    before: Claim | None,
    status: RegistrationStatus,
    reason: Reason | None,
    action: str,
    text: str,
    *,
    protected_until: date | None = None,
    conflict_with: int | None = None,
    extensions_used: int | None = None,
) -> Change:
    """The change of ``before`` (None: a new claim) to ``status``, with its audit record:
    the fields that change, before and after."""
    used = (
        extensions_used
        if extensions_used is not None
        else (before.extensions_used if before else 0)
    )
    after: dict[str, object] = {"status": status.value, "reason": reason.value if reason else None}
    prior: dict[str, object] = {}
    if before is not None:
        prior = {"status": before.status.value}
    for name, old, new in (
        ("protected_until", before.protected_until if before else None, protected_until),
        ("conflict_with", before.conflict_with if before else None, conflict_with),
        ("extensions_used", before.extensions_used if before else 0, used),
    ):
        if old != new:
            prior[name] = old
            after[name] = new
    if before is not None and "protected_until" not in prior and protected_until is not None:
        after["protected_until"] = protected_until
    return Change(
        before.id if before else 0, status, reason, protected_until, conflict_with, used,
        AuditRecord(action, prior, after, text),
    )  # fmt: skip


def decide_submission(
    submission: Submission, situation: Situation, policy: Policy, today: date
) -> Decision:
    """The state and reason of a new claim, from the facts the service found."""
    s = submission
    matched: list[str] = []

    def outcome(
        status: RegistrationStatus,
        reason: Reason | None,
        text: str,
        conflict_with: int | None = None,
        protected_until: date | None = None,
    ) -> Decision:
        change = _change(None, status, reason, "submit", text, conflict_with=conflict_with,
                         protected_until=protected_until)  # fmt: skip
        return Decision((change,), tuple(matched))

    def rejected(reason: Reason, text: str, conflict_with: int | None = None) -> Decision:
        return outcome(S.REJECTED, reason, text, conflict_with=conflict_with)

    if not s.partner_active:
        return rejected(Reason.PARTNER_INACTIVE, f"partner {s.partner_id} is inactive")
    for block in situation.blocks:
        by_domain = bool(s.domain_key) and block.domain_key == s.domain_key
        by_name = not s.domain_key and bool(s.name_key) and block.name_key == s.name_key
        if by_domain or by_name:
            matched.append(f"blocked account {block.domain_key or block.name_key}")
            if block.kind is BlockKind.HOUSE:
                return rejected(Reason.HOUSE_ACCOUNT, "the customer is a house account")
            return rejected(Reason.DO_NOT_CONTACT, "the customer is not to be contacted")
    if policy.min_amount > 0 and (s.amount is None or s.amount < policy.min_amount):
        shown = "no amount" if s.amount is None else f"{s.amount} {s.currency or ''}".strip()
        return rejected(
            Reason.BELOW_MIN_AMOUNT, f"{shown} is below the minimum {policy.min_amount}"
        )
    if policy.practices and s.practice not in policy.practices:
        eligible = ", ".join(sorted(policy.practices))
        return rejected(
            Reason.PRACTICE_NOT_ELIGIBLE,
            f"practice {s.practice!r} is not eligible (eligible: {eligible})",
        )
    policy.protection(s.tier)  # an unknown tier is refused before anything is decided
    claims = [c for c in situation.claims if c.status in LIVE]
    for claim in sorted(claims, key=lambda c: c.id):
        if claim.partner_id == s.partner_id and same_customer(s.name_key, s.domain_key, claim):
            matched.append(_how(s, claim))
            return rejected(
                Reason.DUPLICATE,
                f"partner {s.partner_id} already registered this customer (registration "
                f"{claim.id}, {claim.status.value})",
                conflict_with=claim.id,
            )
    holders = [
        c for c in claims
        if protects(c, today) and c.partner_id != s.partner_id
        and same_customer(s.name_key, s.domain_key, c)
    ]  # fmt: skip
    if holders:
        holder = min(holders, key=lambda c: c.id)
        matched.append(_how(s, holder))
        return outcome(
            S.CONFLICT,
            Reason.CONFLICT,
            f"another partner's approved registration {holder.id} protects this customer",
            conflict_with=holder.id,
        )
    if situation.direct_deals:
        deal = situation.direct_deals[0]
        matched.append(f"open direct deal {deal.crm}:{deal.crm_id} ({deal.name})")
        return outcome(
            S.CONFLICT,
            Reason.CHANNEL_CONFLICT,
            f"an open direct deal is on this customer ({deal.crm} {deal.crm_id})",
        )
    fuzzy = [
        m for m in situation.fuzzy
        if m.score >= policy.fuzzy_threshold and m.claim.status in LIVE
        and m.claim.partner_id != s.partner_id
        and not (s.domain_key and m.claim.domain_key)  # a domain on both decides it
        and not same_customer(s.name_key, s.domain_key, m.claim)
    ]  # fmt: skip
    if fuzzy:
        best = max(fuzzy, key=lambda m: (m.score, -m.claim.id))
        matched.append(f"name {best.claim.name_key!r} ~ {s.name_key!r} scores {best.score:.0f}")
        return outcome(
            S.CONFLICT,
            Reason.POSSIBLE_CONFLICT,
            f"the name is close to registration {best.claim.id}'s ({best.score:.0f} of 100); "
            "no domain confirms or refutes it",
            conflict_with=best.claim.id,
        )
    if policy.auto_approve:
        until = today + timedelta(days=policy.protection(s.tier))
        return outcome(
            S.APPROVED, None, f"approved at once (auto_approve), protected until {until}",
            protected_until=until,
        )  # fmt: skip
    return outcome(S.PENDING, None, "submitted: waits for a decision")


def fuzzy_can_change(decision: Decision) -> bool:
    """Whether fuzzy name matches could change this submission decision, taken without
    them: they are weighed last, so only an outcome that fell through every other check
    (pending, or approved at once) may turn into a ``possible_conflict``. A caller with
    many submissions looks fuzzy candidates up for those alone."""
    change = decision.main
    return change.reason is None and change.status in (S.PENDING, S.APPROVED)


def _how(s: Submission, claim: Claim) -> str:
    if s.domain_key and s.domain_key == claim.domain_key:
        return f"domain {s.domain_key} = registration {claim.id}"
    return f"name {s.name_key!r} = registration {claim.id}"


def _require(claim: Claim, allowed: Iterable[RegistrationStatus], action: str) -> None:
    if claim.status not in allowed:
        raise IllegalTransition(claim.id, claim.status, action)


def approve(claim: Claim, rivals: Iterable[Claim], policy: Policy, today: date) -> Decision:
    """Approve ``claim`` (pending or in conflict): protected until today + its tier's
    days; the other live claims on its customer turn ``conflict`` pointing at it, and an
    approved rival whose protection has ended expires. Another partner holding the
    customer refuses it (:class:`CustomerHeld`)."""
    _require(claim, (S.PENDING, S.CONFLICT), "approved")
    others = [
        r for r in rivals
        if r.id != claim.id and r.status in LIVE
        and same_customer(claim.name_key, claim.domain_key, r)
    ]  # fmt: skip
    holders = [r for r in others if protects(r, today)]
    if holders:
        raise CustomerHeld(min(holders, key=lambda r: r.id))
    until = today + timedelta(days=policy.protection(claim.tier))
    changes = [
        _change(claim, S.APPROVED, None, "approve",
                f"approved: the customer is protected until {until}", protected_until=until)
    ]  # fmt: skip
    for rival in sorted(others, key=lambda r: r.id):
        if rival.status is S.APPROVED:  # not protecting (else refused above): it lapsed
            changes.append(_expired(rival))
        elif not (rival.status is S.CONFLICT and rival.conflict_with == claim.id):
            changes.append(
                _change(rival, S.CONFLICT, Reason.CONFLICT, "conflict",
                        f"registration {claim.id} of partner {claim.partner_id} was approved "
                        "for this customer first", conflict_with=claim.id)
            )  # fmt: skip
    return Decision(tuple(changes))


def reject(claim: Claim, note: str) -> Decision:
    """A partner manager rejects ``claim`` (``note`` says why); the customer is free."""
    _require(claim, (S.PENDING, S.CONFLICT, S.APPROVED), "rejected")
    text = f"rejected: {note}" if note else "rejected"
    return Decision((_change(claim, S.REJECTED, Reason.REJECTED, "reject", text),))


def withdraw(claim: Claim, note: str = "") -> Decision:
    """The partner withdraws ``claim``; the customer is free."""
    _require(claim, (S.PENDING, S.CONFLICT, S.APPROVED), "withdrawn")
    text = f"withdrawn: {note}" if note else "withdrawn by the partner"
    return Decision((_change(claim, S.REJECTED, Reason.WITHDRAWN, "withdraw", text),))


def extend(claim: Claim, policy: Policy, today: date, days: int | None = None) -> Decision:
    """Add ``days`` (at most, and by default, ``extension_days``) to a protected claim's
    protection, up to ``max_extensions`` times."""
    _require(claim, (S.APPROVED,), "extended")
    if not protects(claim, today) or claim.protected_until is None:
        raise RegistrationError(
            f"registration {claim.id}'s protection ended on {claim.protected_until}: it "
            "cannot be extended (it expires)"
        )
    if claim.extensions_used >= policy.max_extensions:
        raise RegistrationError(
            f"registration {claim.id} was extended {claim.extensions_used} time(s): the "
            f"program allows {policy.max_extensions}"
        )
    days = policy.extension_days if days is None else days
    if not 1 <= days <= policy.extension_days:
        raise RegistrationError(
            f"an extension is 1 to {policy.extension_days} days (asked: {days})"
        )
    until = claim.protected_until + timedelta(days=days)
    used = claim.extensions_used + 1
    return Decision(
        (
            _change(claim, S.APPROVED, None, "extend",
                    f"protection extended by {days} days, until {until}",
                    protected_until=until, extensions_used=used),
        )
    )  # fmt: skip


def _expired(claim: Claim) -> Change:
    return _change(
        claim, S.EXPIRED, Reason.PROTECTION_ENDED, "expire",
        f"protection ended on {claim.protected_until}", protected_until=claim.protected_until,
    )  # fmt: skip


def expire(claim: Claim, today: date) -> Decision | None:
    """``expired`` once ``today`` is after the last protected day; None while protected
    (or when the claim is not approved: nothing to expire)."""
    if claim.status is not S.APPROVED or claim.protected_until is None:
        return None
    if today <= claim.protected_until:
        return None
    return Decision((_expired(claim),))


def close(claim: Claim, won: bool) -> Decision | None:
    """The linked deal closed: a live claim ends ``won`` or ``lost``; one already over
    stays as it is (None)."""
    if claim.status not in LIVE:
        return None
    status, reason = (S.WON, Reason.DEAL_WON) if won else (S.LOST, Reason.DEAL_LOST)
    text = "the linked deal was won" if won else "the linked deal was lost"
    return Decision(
        (_change(claim, status, reason, status.value, text, protected_until=claim.protected_until),)
    )


def apply(claim: Claim, change: Change) -> Claim:
    """``claim`` as ``change`` leaves it (for simulations and tests)."""
    return replace(
        claim,
        status=change.status,
        protected_until=change.protected_until,
        extensions_used=change.extensions_used,
        conflict_with=change.conflict_with,
    )
