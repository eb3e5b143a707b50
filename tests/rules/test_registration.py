"""Deal registration rules: every reason code and transition, and properties of sequences."""

from __future__ import annotations

import random
from dataclasses import dataclass, field, replace
from datetime import date, timedelta
from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from rules.registration import (
    LIVE,
    Block,
    Claim,
    CustomerHeld,
    DirectDeal,
    FuzzyMatch,
    IllegalTransition,
    Policy,
    Reason,
    RegistrationError,
    Situation,
    Submission,
    apply,
    approve,
    close,
    decide_submission,
    expire,
    extend,
    fuzzy_can_change,
    protects,
    reject,
    same_customer,
    withdraw,
)
from rules.vocabulary import BlockKind
from rules.vocabulary import RegistrationStatus as S

TODAY = date(2026, 3, 2)
POLICY = Policy(protection_days={"registered": 90, "silver": 120, "gold": 180})


def sub(partner: str = "ACME", **kw: object) -> Submission:
    values: dict[str, object] = {"tier": "gold", "name_key": "globex", "domain_key": "globex.com"}
    values.update(kw)
    return Submission(partner_id=partner, **values)  # type: ignore[arg-type]


def claim(id: int, partner: str, status: S = S.PENDING, **kw: object) -> Claim:
    values: dict[str, object] = {"name_key": "globex", "domain_key": "globex.com", "tier": "gold"}
    values.update(kw)
    return Claim(id=id, partner_id=partner, status=status, **values)  # type: ignore[arg-type]


HELD = claim(7, "INITECH", S.APPROVED, protected_until=TODAY + timedelta(days=10))
LAPSED = claim(8, "INITECH", S.APPROVED, protected_until=TODAY - timedelta(days=1))


@pytest.mark.parametrize(
    ("submission", "situation", "policy", "status", "reason", "conflict_with"),
    [
        pytest.param(sub(), Situation(), POLICY, S.PENDING, None, None, id="clean-pending"),
        pytest.param(sub(), Situation(), replace(POLICY, auto_approve=True), S.APPROVED, None,
                     None, id="clean-auto-approved"),
        pytest.param(sub(partner_active=False), Situation(), POLICY, S.REJECTED,
                     Reason.PARTNER_INACTIVE, None, id="partner-inactive"),
        pytest.param(sub(), Situation(blocks=(Block(BlockKind.HOUSE, "globex.com"),)), POLICY,
                     S.REJECTED, Reason.HOUSE_ACCOUNT, None, id="house-account"),
        pytest.param(sub(), Situation(blocks=(Block(BlockKind.DO_NOT_CONTACT, "globex.com"),)),
                     POLICY, S.REJECTED, Reason.DO_NOT_CONTACT, None, id="do-not-contact"),
        pytest.param(sub(domain_key=None),
                     Situation(blocks=(Block(BlockKind.HOUSE, "globex.com", "globex"),)), POLICY,
                     S.REJECTED, Reason.HOUSE_ACCOUNT, None, id="house-account-by-name"),
        pytest.param(sub(domain_key="other.com"),
                     Situation(blocks=(Block(BlockKind.HOUSE, "globex.com", "globex"),)), POLICY,
                     S.PENDING, None, None, id="block-on-another-domain-does-not-apply"),
        pytest.param(sub(amount=Decimal("999.99"), currency="USD"), Situation(),
                     replace(POLICY, min_amount=Decimal("1000")), S.REJECTED,
                     Reason.BELOW_MIN_AMOUNT, None, id="below-min-amount"),
        pytest.param(sub(amount=Decimal("1000"), currency="USD"), Situation(),
                     replace(POLICY, min_amount=Decimal("1000")), S.PENDING, None, None,
                     id="min-amount-is-enough"),
        pytest.param(sub(), Situation(), replace(POLICY, min_amount=Decimal("1")), S.REJECTED,
                     Reason.BELOW_MIN_AMOUNT, None, id="no-amount-with-a-minimum"),
        pytest.param(sub(practice="Data"), Situation(),
                     replace(POLICY, practices=frozenset({"Cloud"})), S.REJECTED,
                     Reason.PRACTICE_NOT_ELIGIBLE, None, id="practice-not-eligible"),
        pytest.param(sub(practice="Cloud"), Situation(),
                     replace(POLICY, practices=frozenset({"Cloud"})), S.PENDING, None, None,
                     id="practice-eligible"),
        pytest.param(sub(), Situation(claims=(claim(3, "ACME"),)), POLICY, S.REJECTED,
                     Reason.DUPLICATE, 3, id="duplicate-own-pending"),
        pytest.param(sub(), Situation(claims=(claim(3, "ACME", S.EXPIRED),)), POLICY, S.PENDING,
                     None, None, id="own-expired-is-no-duplicate"),
        pytest.param(sub(), Situation(claims=(HELD,)), POLICY, S.CONFLICT, Reason.CONFLICT, 7,
                     id="conflict-with-holder"),
        pytest.param(sub(), Situation(claims=(LAPSED,)), POLICY, S.PENDING, None, None,
                     id="lapsed-protection-does-not-block"),
        pytest.param(sub(), Situation(claims=(claim(4, "INITECH"),)), POLICY, S.PENDING, None,
                     None, id="rival-pending-does-not-block"),
        pytest.param(sub(domain_key="globex.co.uk"), Situation(claims=(HELD,)), POLICY,
                     S.PENDING, None, None, id="other-domain-other-customer"),
        pytest.param(sub(domain_key=None), Situation(claims=(HELD,)), POLICY, S.CONFLICT,
                     Reason.CONFLICT, 7, id="same-name-without-domain"),
        pytest.param(sub(), Situation(direct_deals=(DirectDeal("salesforce", "006x", "Globex"),)),
                     POLICY, S.CONFLICT, Reason.CHANNEL_CONFLICT, None, id="channel-conflict"),
        pytest.param(sub(domain_key=None, name_key="globex corp"),
                     Situation(fuzzy=(FuzzyMatch(claim(5, "INITECH"), 92.0),)), POLICY,
                     S.CONFLICT, Reason.POSSIBLE_CONFLICT, 5, id="possible-conflict"),
        pytest.param(sub(domain_key=None, name_key="globex corp"),
                     Situation(fuzzy=(FuzzyMatch(claim(5, "INITECH"), 89.0),)), POLICY,
                     S.PENDING, None, None, id="below-fuzzy-threshold"),
        pytest.param(sub(name_key="globex corp", domain_key="globexcorp.com"),
                     Situation(fuzzy=(FuzzyMatch(claim(5, "INITECH"), 95.0),)), POLICY,
                     S.PENDING, None, None, id="domains-refute-a-fuzzy-match"),
        pytest.param(sub(), Situation(blocks=(Block(BlockKind.HOUSE, "globex.com"),),
                                      claims=(HELD,)),
                     POLICY, S.REJECTED, Reason.HOUSE_ACCOUNT, None, id="block-before-conflict"),
    ],
)  # fmt: skip
def test_submission_outcomes(
    submission: Submission,
    situation: Situation,
    policy: Policy,
    status: S,
    reason: Reason | None,
    conflict_with: int | None,
) -> None:
    """Each submission gets its state and a stable reason code (and whom it collides with)."""
    decision = decide_submission(submission, situation, policy, TODAY)
    assert (decision.main.status, decision.main.reason, decision.main.conflict_with) == (
        status, reason, conflict_with,
    )  # fmt: skip
    assert decision.main.audit.action == "submit"
    assert decision.main.audit.reason
    if status is S.APPROVED:
        assert decision.main.protected_until == TODAY + timedelta(days=180)


def test_an_unknown_tier_is_refused_naming_the_known_ones() -> None:
    with pytest.raises(RegistrationError, match="known tiers: registered, silver, gold"):
        decide_submission(sub(tier="platinum"), Situation(), POLICY, TODAY)


def test_a_submission_says_what_matched() -> None:
    """The explanation names the key that matched."""
    decision = decide_submission(sub(), Situation(claims=(HELD,)), POLICY, TODAY)
    assert decision.matched == ("domain globex.com = registration 7",)


def test_approval_protects_and_turns_rivals_into_conflicts() -> None:
    """First approved wins: the others on the customer point at it; other customers and
    claims already over are left alone."""
    mine = claim(1, "ACME", tier="silver")
    rivals = [
        claim(2, "INITECH"),
        claim(3, "HOOLI", S.CONFLICT, conflict_with=9),
        claim(4, "HOOLI", domain_key="elsewhere.com"),
        claim(5, "HOOLI", S.REJECTED),
        LAPSED,
    ]
    decision = approve(mine, rivals, POLICY, TODAY)
    changes = {c.claim_id: c for c in decision.changes}
    assert changes[1].status is S.APPROVED
    assert changes[1].protected_until == TODAY + timedelta(days=120)
    assert (changes[2].status, changes[2].reason, changes[2].conflict_with) == (
        S.CONFLICT, Reason.CONFLICT, 1)  # fmt: skip
    assert changes[3].conflict_with == 1
    assert changes[8].status is S.EXPIRED
    assert set(changes) == {1, 2, 3, 8}
    assert changes[2].audit.before == {"status": "pending", "conflict_with": None}
    assert changes[2].audit.after == {
        "status": "conflict",
        "reason": "conflict",
        "conflict_with": 1,
    }


def test_approval_while_another_partner_holds_the_customer_names_the_holder() -> None:
    with pytest.raises(CustomerHeld, match="held by partner INITECH \\(registration 7"):
        approve(claim(1, "ACME", S.CONFLICT, conflict_with=7), [HELD], POLICY, TODAY)


@pytest.mark.parametrize(
    ("status", "action"),
    [
        pytest.param(status, action, id=f"{action}-{status.value}")
        for action, allowed in (
            ("approve", {S.PENDING, S.CONFLICT}),
            ("reject", {S.PENDING, S.CONFLICT, S.APPROVED}),
            ("withdraw", {S.PENDING, S.CONFLICT, S.APPROVED}),
            ("extend", {S.APPROVED}),
        )
        for status in S
        if status not in allowed
    ],
)
def test_illegal_transitions_name_the_state(status: S, action: str) -> None:
    """An action the state does not allow fails, naming the state."""
    subject = claim(1, "ACME", status, protected_until=TODAY + timedelta(days=5))
    calls = {
        "approve": lambda: approve(subject, [], POLICY, TODAY),
        "reject": lambda: reject(subject, "no"),
        "withdraw": lambda: withdraw(subject),
        "extend": lambda: extend(subject, POLICY, TODAY),
    }
    with pytest.raises(IllegalTransition, match=f"registration 1 is {status.value}"):
        calls[action]()


def test_reject_and_withdraw_free_the_customer() -> None:
    """After a rejection or a withdrawal nobody holds the customer."""
    for decision in (reject(HELD, "wrong region"), withdraw(HELD)):
        after = apply(HELD, decision.main)
        assert after.status is S.REJECTED
        assert not protects(after, TODAY)
        assert decide_submission(sub(), Situation(claims=(after,)), POLICY, TODAY).main.status is (
            S.PENDING
        )
    assert reject(HELD, "wrong region").main.reason is Reason.REJECTED
    assert withdraw(HELD).main.reason is Reason.WITHDRAWN


@pytest.mark.parametrize(
    ("offset", "protected", "expires"),
    [
        pytest.param(-1, True, False, id="the-day-before"),
        pytest.param(0, True, False, id="the-last-protected-day"),
        pytest.param(1, False, True, id="the-day-after"),
    ],
)
def test_protection_ends_after_its_last_day(offset: int, protected: bool, expires: bool) -> None:
    """``protected_until`` is inclusive: protected on it, expired the day after."""
    until = date(2026, 6, 30)
    subject = claim(1, "ACME", S.APPROVED, protected_until=until)
    today = until + timedelta(days=offset)
    assert protects(subject, today) is protected
    decision = expire(subject, today)
    assert (decision is not None) is expires
    if decision is not None:
        assert (decision.main.status, decision.main.reason) == (S.EXPIRED, Reason.PROTECTION_ENDED)
        assert decision.main.protected_until == until


def test_extensions_are_bounded() -> None:
    """An extension adds up to extension_days, at most max_extensions times, only while
    protected."""
    subject = claim(1, "ACME", S.APPROVED, protected_until=TODAY + timedelta(days=3))
    once = extend(subject, POLICY, TODAY)
    assert once.main.protected_until == TODAY + timedelta(days=33)
    assert once.main.extensions_used == 1
    with pytest.raises(RegistrationError, match="allows 1"):
        extend(apply(subject, once.main), POLICY, TODAY)
    assert extend(subject, POLICY, TODAY, days=5).main.protected_until == TODAY + timedelta(days=8)
    with pytest.raises(RegistrationError, match="1 to 30 days"):
        extend(subject, POLICY, TODAY, days=31)
    with pytest.raises(RegistrationError, match="protection ended"):
        extend(LAPSED, POLICY, TODAY)


@pytest.mark.parametrize("status", list(S))
@pytest.mark.parametrize("won", [True, False])
def test_a_closed_deal_ends_live_claims_won_or_lost(status: S, won: bool) -> None:
    subject = claim(1, "ACME", status, protected_until=TODAY)
    decision = close(subject, won)
    if status in LIVE:
        assert decision is not None
        assert decision.main.status is (S.WON if won else S.LOST)
    else:
        assert decision is None


def test_same_customer_prefers_the_domain() -> None:
    """Equal domains match; different domains never match, even with the same name; a
    missing domain falls back on the name."""
    other = claim(1, "X")
    assert same_customer("globex", "globex.com", other)
    assert not same_customer("globex", "globex.de", other)
    assert same_customer("globex", None, other)
    assert not same_customer(None, None, claim(1, "X", name_key=None, domain_key=None))


# --- properties of sequences ---------------------------------------------------------------

CUSTOMERS = [("acme", "acme.com"), ("acme", None), ("acme", "acme.de"), ("globex", "globex.com"),
             ("globex", None)]  # fmt: skip
PARTNERS = [("P1", "registered"), ("P2", "silver"), ("P3", "gold")]

operations = st.lists(
    st.tuples(
        st.sampled_from(["submit", "approve", "reject", "withdraw", "extend", "expire", "day"]),
        st.integers(0, 5),  # small: claims on the same customer collide often
        st.integers(0, 5),
    ),
    min_size=1,
    max_size=30,
)


@dataclass
class Program:
    """An in-memory run of the rules: what the service does, minus the store."""

    policy: Policy = field(default_factory=lambda: replace(POLICY, max_extensions=2))
    today: date = TODAY
    claims: dict[int, Claim] = field(default_factory=dict)
    log: list[tuple[str, object]] = field(default_factory=list)
    #: (action, on claim, changed claim): a protecting claim changed by an action on another
    displaced: list[tuple[str, int, int]] = field(default_factory=list)

    def run(self, op: str, a: int, b: int, shuffle: random.Random | None = None) -> None:
        live = list(self.claims.values())
        if shuffle is not None:  # the order the store hands facts over in must not matter
            shuffle.shuffle(live)
        if op == "day":
            self.today += timedelta(days=a * 7)
            self.log.append((op, self.today))
            return
        if op == "submit":
            partner, tier = PARTNERS[a % len(PARTNERS)]
            name, domain = CUSTOMERS[b % len(CUSTOMERS)]
            same = tuple(c for c in live if same_customer(name, domain, c))
            decision = decide_submission(
                Submission(partner, tier, name, domain), Situation(claims=same), self.policy,
                self.today,
            )  # fmt: skip
            new_id = len(self.claims) + 1
            change = decision.main
            self.claims[new_id] = Claim(new_id, partner, change.status, name, domain,
                                        change.protected_until, 0, tier, change.conflict_with)  # fmt: skip
            self.log.append((op, (new_id, change.status, change.reason, change.conflict_with)))
            return
        # Decisions fall on live claims (decisions on the others are refused, also tested).
        candidates = sorted(c.id for c in live if c.status in LIVE) or sorted(self.claims)
        if not candidates:
            return
        subject = self.claims[candidates[a % len(candidates)]]
        try:
            if op == "approve":
                decision = approve(subject, live, self.policy, self.today)
            elif op == "reject":
                decision = reject(subject, "no")
            elif op == "withdraw":
                decision = withdraw(subject)
            elif op == "extend":
                decision = extend(subject, self.policy, self.today, days=1 + b % 30)
            else:
                found = [expire(c, self.today) for c in live]
                for d in found:
                    if d is not None:
                        self.claims[d.main.claim_id] = apply(self.claims[d.main.claim_id], d.main)
                self.log.append((op, sorted(d.main.claim_id for d in found if d)))
                return
        except RegistrationError as exc:
            self.log.append((op, str(exc)))
            return
        for change in decision.changes:
            before = self.claims[change.claim_id]
            if change.claim_id != subject.id and protects(before, self.today):
                self.displaced.append((op, subject.id, before.id))
            self.claims[change.claim_id] = apply(before, change)
        self.log.append((op, sorted((c.claim_id, c.status) for c in decision.changes)))


@settings(max_examples=300, deadline=None)
@given(operations)
def test_at_most_one_protected_claim_per_customer_at_any_instant(
    ops: list[tuple[str, int, int]],
) -> None:
    """Whatever the sequence of submissions and decisions, no two claims on the same
    customer protect it on the same day."""
    program = Program()
    for op in ops:
        program.run(*op)
        holding = [c for c in program.claims.values() if protects(c, program.today)]
        for i, first in enumerate(holding):
            for second in holding[i + 1 :]:
                assert not same_customer(first.name_key, first.domain_key, second), (first, second)


@settings(max_examples=1000, deadline=None)
@given(operations)
def test_first_approved_wins(ops: list[tuple[str, int, int]]) -> None:
    """No action on one claim ever changes another claim that protects its customer: the
    holder keeps it until its own protection ends or it is itself decided on."""
    program = Program()
    for op in ops:
        program.run(*op)
    assert program.displaced == []


@settings(max_examples=200, deadline=None)
@given(operations, st.integers(0, 1000))
def test_the_outcome_depends_only_on_order_and_times(
    ops: list[tuple[str, int, int]], seed: int
) -> None:
    """The same sequence gives the same decisions, in whatever order the facts arrive."""
    first, second = Program(), Program()
    shuffle = random.Random(seed)
    for op in ops:
        first.run(*op)
        second.run(*op, shuffle=shuffle)
    assert first.log == second.log
    assert first.claims == second.claims


@settings(max_examples=200, deadline=None)
@given(operations)
def test_an_ended_protection_never_blocks(ops: list[tuple[str, int, int]]) -> None:
    """Once a claim's last protected day has passed, a new claim on its customer is never
    refused or held because of it, and can be approved."""
    program = Program()
    for op in ops:
        program.run(*op)
    program.today += timedelta(days=400)  # past every protection (180 + 2 x 30 days at most)
    for name, domain in CUSTOMERS:
        same = tuple(c for c in program.claims.values() if same_customer(name, domain, c))
        decision = decide_submission(
            Submission("P9", "gold", name, domain), Situation(claims=same), POLICY, program.today
        )
        assert decision.main.reason is not Reason.CONFLICT
        new = Claim(999, "P9", decision.main.status, name, domain, tier="gold")
        if new.status in (S.PENDING, S.CONFLICT):
            approve(new, same, POLICY, program.today)  # no CustomerHeld


situations = st.builds(
    Situation,
    blocks=st.lists(
        st.builds(Block, st.sampled_from(list(BlockKind)), st.sampled_from(["acme.com", None]),
                  st.sampled_from(["acme", "globex", None])), max_size=1).map(tuple),
    claims=st.lists(
        st.builds(claim, st.integers(1, 50), st.sampled_from(["P1", "P2"]),
                  st.sampled_from(list(S)), name_key=st.sampled_from(["acme", "acme co"]),
                  domain_key=st.sampled_from(["acme.com", "acme.de", None]),
                  protected_until=st.sampled_from([None, TODAY, TODAY + timedelta(days=5)])),
        max_size=4).map(tuple),
    direct_deals=st.lists(st.just(DirectDeal("salesforce", "006X", "Acme deal")),
                          max_size=1).map(tuple),
    fuzzy=st.lists(
        st.builds(FuzzyMatch,
                  st.builds(claim, st.integers(51, 60), st.sampled_from(["P1", "P2"]),
                            st.sampled_from(list(S)), name_key=st.just("acme corp"),
                            domain_key=st.sampled_from([None, "acmecorp.com"])),
                  st.floats(80, 100)),
        max_size=3).map(tuple),
)  # fmt: skip


@settings(max_examples=500, deadline=None)
@given(
    situations,
    st.sampled_from(["P1", "P2"]),
    st.sampled_from(["acme.com", None]),
    st.booleans(),
    st.booleans(),
)
def test_fuzzy_matches_change_only_what_fuzzy_can_change_says(
    situation: Situation, partner: str, domain: str | None, active: bool, auto: bool
) -> None:
    """A decision taken without fuzzy matches is the decision with them, unless
    fuzzy_can_change says otherwise (what lets a batch look fuzzy candidates up only for
    the submissions that fall through every other check)."""
    submission = Submission(partner, "gold", "acme", domain, partner_active=active)
    policy = replace(POLICY, auto_approve=auto)
    full = decide_submission(submission, situation, policy, TODAY)
    without = decide_submission(submission, replace(situation, fuzzy=()), policy, TODAY)
    if not fuzzy_can_change(without):
        assert full == without
    elif full != without:
        assert full.main.reason is Reason.POSSIBLE_CONFLICT
