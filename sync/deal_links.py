"""Mirrored deals and registrations: link them, register deals from the CRM, close them.

The mirror calls :class:`RegistrationLinks` on each page's changes, in the page's
transaction (``sync.mirror.handlers``); adding a partner calls :func:`link_deals` on the
deals just linked to it. For each deal:

- a deal that closes moves its live registration to ``won`` / ``lost``;
- a deal that names a partner (``partner_id``, resolved from ``partner_ref``) and was
  never linked to a registration is linked to that partner's live, unlinked registration
  on the same customer, or, with ``[program] register_from_crm``, gets one (``source =
  crm``) through the same rules as any submission (so it may be rejected or held as a
  conflict too). A deal keeps its registration once linked, also after it ended.

Every change writes its audit row and stages the deal's CRM fields. A page is handled in
a handful of statements whatever its size: the facts of all its deals are looked up
together (live registrations, blocked accounts, direct deals, fuzzy candidates), and the
staging is one look-up of open outbox rows.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any, cast

from sqlalchemy import Table, bindparam, insert, or_, select, update
from sqlalchemy.orm import Session

from rules.matching import name_score, name_tokens
from rules.registration import (
    LIVE,
    Block,
    Claim,
    DirectDeal,
    FuzzyMatch,
    RegistrationError,
    Situation,
    Submission,
    close,
    decide_submission,
    same_customer,
)
from sync.audit import AuditRow, record_many
from sync.log import get_logger
from sync.mirror.handlers import PageChanges
from sync.partners import blocks_for, partner_facts
from sync.program import policy
from sync.registration_facts import (
    FUZZY_CANDIDATES,
    claim,
    customer_key,
    lock_customers,
    registration_fields,
    registrations_on,
    write_tokens,
)
from sync.settings import ProgramSettings, Settings
from sync.store import (
    AuditEntity,
    Crm,
    Opportunity,
    Registration,
    RegistrationSource,
    RegistrationStatus,
    RegistrationToken,
)
from sync.writeback.outbox import Staged, stage_many

__all__ = ["Deal", "RegistrationLinks", "link_deals", "registration_links"]

log = get_logger("sync.deal_links")
_LIVE = tuple(LIVE)
_DEAL_COLUMNS = (
    Opportunity.id, Opportunity.crm, Opportunity.crm_id, Opportunity.name,
    Opportunity.account_name, Opportunity.account_domain, Opportunity.customer_name_key,
    Opportunity.customer_domain_key, Opportunity.partner_id, Opportunity.is_closed,
    Opportunity.is_won, Opportunity.amount, Opportunity.currency, Opportunity.practice,
    Opportunity.close_date, Opportunity.deleted,
)  # fmt: skip


@dataclass(frozen=True)
class Deal:
    """What the links need of one mirrored deal."""

    id: int
    crm: Crm
    crm_id: str
    name: str
    account_name: str | None
    account_domain: str | None
    name_key: str | None
    domain_key: str | None
    partner_id: str | None
    is_closed: bool
    is_won: bool
    amount: Decimal | None
    currency: str | None
    practice: str | None
    close_date: Any
    deleted: bool = False


def _deals(session: Session, ids: Sequence[int]) -> list[Deal]:
    out: list[Deal] = []
    for start in range(0, len(ids), 1000):
        rows = session.execute(
            select(*_DEAL_COLUMNS).where(Opportunity.id.in_(ids[start : start + 1000]))
        )
        out.extend(Deal(*row) for row in rows)
    return out


class RegistrationLinks:
    """The mirror handler: links, registers and closes each page's deals."""

    name = "registrations"
    before: frozenset[str] = frozenset()

    def __init__(self, program: ProgramSettings, clock: Callable[[], datetime] | None = None):
        self.program = program
        self.clock = clock or (lambda: datetime.now(UTC))

    def __call__(self, session: Session, changes: PageChanges) -> Mapping[str, int]:
        if not changes.rows:
            return {}
        ids = changes.opportunity_ids(session)
        wanted = [ids[row["crm_id"]] for row in changes.rows if row["crm_id"] in ids]
        return link_deals(session, _deals(session, wanted), self.program, self.clock(),
                          actor=f"crm:{changes.crm.value}")  # fmt: skip


def registration_links(settings: Settings) -> Callable[[Session, Sequence[int]], None]:
    """What adding a partner does with the deals just linked to it."""

    def on_linked(session: Session, opportunity_ids: Sequence[int]) -> None:
        link_deals(session, _deals(session, opportunity_ids), settings.program,
                   datetime.now(UTC), actor="partners")  # fmt: skip

    return on_linked


def link_deals(
    session: Session,
    deals: Sequence[Deal],
    program: ProgramSettings,
    now: datetime,
    *,
    actor: str,
) -> Counter[str]:
    """Link, register and close ``deals``; counts of what was done."""
    counts: Counter[str] = Counter()
    deals = [d for d in deals if not d.deleted and (d.partner_id or d.is_closed)]
    if not deals:
        return counts
    run = _Run(session, program, now, actor, counts)
    run.load(deals)
    for deal in deals:
        run.handle(deal)
    run.finish()
    return counts


class _Run:
    """One batch of deals: the facts of all of them, looked up together, then decided one
    by one (a deal sees the registrations the ones before it created).

    New registrations are inserted together at the end: until then they carry temporary
    (negative) ids, which the claims and decisions of the batch use and which are mapped
    to the real ones before anything that names them (``conflict_with``, audit rows) is
    written.
    """

    def __init__(
        self, session: Session, program: ProgramSettings, now: datetime, actor: str,
        counts: Counter[str],
    ) -> None:  # fmt: skip
        self.session = session
        self.program = program
        self.policy = policy(program)
        self.now = now
        self.actor = actor
        self.counts = counts
        self.staged: dict[int, tuple[Deal, Registration]] = {}
        self.created: list[Registration] = []
        self.temp: dict[int, int] = {}  # id(new registration) -> its temporary id
        self.pending_conflict: dict[int, int | None] = {}  # id(new registration) -> conflict_with
        self.audits: list[tuple[Registration, str, dict[str, Any], dict[str, Any], str]] = []

    def _id(self, registration: Registration) -> int:
        return registration.id if registration.id is not None else self.temp[id(registration)]

    def load(self, deals: Sequence[Deal]) -> None:
        names = {d.name_key for d in deals if d.name_key}
        domains = {d.domain_key for d in deals if d.domain_key}
        lock_customers(self.session, [*domains, *(f"name:{n}" for n in names)])
        linked = self.session.scalars(
            select(Registration)
            .where(Registration.opportunity_id.in_([d.id for d in deals]))
            .order_by(Registration.id)
        )
        self.by_deal: dict[int, Registration] = {}
        for registration in linked:  # the newest live one, else the newest
            held = self.by_deal.get(registration.opportunity_id or 0)
            if held is None or registration.status in LIVE or held.status not in LIVE:
                self.by_deal[registration.opportunity_id or 0] = registration
        live = registrations_on(self.session, names, domains)
        self.partners = partner_facts(
            self.session, {*(d.partner_id for d in deals if d.partner_id),
                           *(r.partner_id for r in live)}
        )  # fmt: skip
        self.claims: dict[str, list[Registration]] = defaultdict(list)  # by customer key
        for registration in live:
            self._index(registration)
        self.blocks = [Block(b.kind, b.domain, b.name_key)
                       for b in blocks_for(self.session, domains, names)]  # fmt: skip
        self.direct = self._direct_deals(names, domains)
        self.fuzzy = self._fuzzy_candidates(deals)

    def _index(self, registration: Registration) -> None:
        if registration.customer_domain_key:
            self.claims[registration.customer_domain_key].append(registration)
        self.claims[f"name:{registration.customer_name_key}"].append(registration)

    def _on_customer(self, name_key: str | None, domain_key: str | None) -> list[Registration]:
        seen: dict[int, Registration] = {}
        for key in (domain_key, f"name:{name_key}" if name_key else None):
            for registration in self.claims.get(key or "", []):
                if registration.status in LIVE:
                    seen[id(registration)] = registration
        return [r for r in seen.values() if same_customer(name_key, domain_key, self._claim(r))]

    def _claim(self, registration: Registration) -> Claim:
        partner = self.partners.get(registration.partner_id)
        found = claim(registration, partner.tier if partner else "")
        if registration.id is None:
            conflict = self.pending_conflict.get(id(registration))
            return replace(found, id=self._id(registration), conflict_with=conflict)
        return found

    def _direct_deals(self, names: set[str], domains: set[str]) -> dict[str, list[Deal]]:
        """Open deals with no partner on the batch's customers, by customer key."""
        keyed = []
        if domains:
            keyed.append(Opportunity.customer_domain_key.in_(domains))
        if names:
            keyed.append(Opportunity.customer_name_key.in_(names))
        if not keyed:
            return {}
        rows = self.session.execute(
            select(*_DEAL_COLUMNS).where(
                or_(*keyed),
                Opportunity.partner_id.is_(None),
                Opportunity.partner_ref.is_(None),
                Opportunity.is_closed.is_(False),
                Opportunity.deleted.is_(False),
            )
        )
        by_key: dict[str, list[Deal]] = defaultdict(list)
        for deal in (Deal(*row) for row in rows):
            if deal.domain_key:
                by_key[deal.domain_key].append(deal)
            if deal.name_key:
                by_key[f"name:{deal.name_key}"].append(deal)
        return by_key

    def _direct_on(self, deal: Deal) -> tuple[DirectDeal, ...]:
        found: dict[int, DirectDeal] = {}
        for key in (deal.domain_key, f"name:{deal.name_key}" if deal.name_key else None):
            for other in self.direct.get(key or "", []):
                probe = Claim(0, "", RegistrationStatus.PENDING, other.name_key, other.domain_key)
                if other.id != deal.id and same_customer(deal.name_key, deal.domain_key, probe):
                    found[other.id] = DirectDeal(other.crm.value, other.crm_id, other.name)
        return tuple(found[k] for k in sorted(found))[:5]

    def _fuzzy_candidates(self, deals: Sequence[Deal]) -> defaultdict[str, list[Registration]]:
        """Live registrations by name word, for the words of the deals' names."""
        by_word: defaultdict[str, list[Registration]] = defaultdict(list)
        words = {w for d in deals if d.name_key for w in name_tokens(d.name_key)}
        if self.policy.fuzzy_threshold <= 0 or not words:
            return by_word
        rows = self.session.execute(
            select(RegistrationToken.token, Registration)
            .join(Registration, Registration.id == RegistrationToken.registration_id)
            .where(RegistrationToken.token.in_(list(words)), Registration.status.in_(_LIVE))
            .limit(FUZZY_CANDIDATES * 20)
        )
        for word, registration in rows:
            by_word[word].append(registration)
        return by_word

    def _fuzzy(self, deal: Deal) -> tuple[FuzzyMatch, ...]:
        if not deal.name_key or self.policy.fuzzy_threshold <= 0:
            return ()
        words = set(name_tokens(deal.name_key))
        seen: dict[int, Registration] = {}
        for word in sorted(words, key=len, reverse=True):
            for registration in self.fuzzy.get(word, []):
                seen.setdefault(id(registration), registration)
        out = []
        for registration in list(seen.values())[:FUZZY_CANDIDATES]:
            if registration.status not in LIVE:
                continue
            score = name_score(deal.name_key, registration.customer_name_key)
            if score >= self.policy.fuzzy_threshold:
                out.append(FuzzyMatch(self._claim(registration), score))
        return tuple(out)

    def handle(self, deal: Deal) -> None:
        """A deal keeps the registration it was linked to, live or over (an expired one is
        not renewed by a later edit of the deal); one never linked gets one."""
        registration = self.by_deal.get(deal.id)
        if registration is None:
            if deal.partner_id is None:
                return
            registration = self._own_claim(deal) or self._register(deal)
            if registration is None:
                return
        if deal.is_closed and registration.status in LIVE:
            self._close(deal, registration)

    def _own_claim(self, deal: Deal) -> Registration | None:
        """The partner's live registration on this customer that no deal holds yet."""
        for registration in self._on_customer(deal.name_key, deal.domain_key):
            if registration.partner_id == deal.partner_id and registration.opportunity_id is None:
                registration.opportunity_id = deal.id
                self.by_deal[deal.id] = registration
                self.audits.append((
                    registration, "link", {},
                    {"opportunity_id": deal.id, "crm": deal.crm.value, "crm_id": deal.crm_id},
                    f"linked to the partner's {deal.crm.value} deal {deal.crm_id}",
                ))  # fmt: skip
                self.staged[deal.id] = (deal, registration)
                self.counts["linked"] += 1
                return registration
        return None

    def _register(self, deal: Deal) -> Registration | None:
        """A registration from the deal (``register_from_crm``), through the same rules."""
        if not self.program.register_from_crm or deal.partner_id is None:
            return None
        partner = self.partners.get(deal.partner_id)
        if partner is None or not deal.name_key:
            return None  # no customer name to register: the deal stays as it is
        submission = Submission(
            partner_id=partner.id, tier=partner.tier, name_key=deal.name_key,
            domain_key=deal.domain_key, partner_active=partner.active, amount=deal.amount,
            currency=deal.currency if deal.amount is not None else None,
            practice=deal.practice,
        )  # fmt: skip
        claims = tuple(self._claim(r) for r in self._on_customer(deal.name_key, deal.domain_key))
        situation = Situation(
            blocks=tuple(self.blocks), claims=claims, direct_deals=self._direct_on(deal),
            fuzzy=self._fuzzy(deal),
        )  # fmt: skip
        try:
            decision = decide_submission(submission, situation, self.policy, self.now.date())
        except RegistrationError as exc:  # an unknown tier: the partner's record is wrong
            log.warning("deal_links.not_registered", deal=deal.crm_id, reason=str(exc))
            self.counts["not_registered"] += 1
            return None
        change = decision.main
        decided = change.status is not RegistrationStatus.PENDING
        name = deal.account_name or deal.name
        registration = Registration(
            partner_id=partner.id, customer_name=name[:255],
            customer_domain=deal.account_domain[:255] if deal.account_domain else None,
            customer_name_key=deal.name_key, customer_domain_key=deal.domain_key,
            customer_key=customer_key(deal.name_key, deal.domain_key),
            amount=deal.amount if deal.currency else None,
            currency=deal.currency if deal.amount is not None else None,
            practice=deal.practice, close_date=deal.close_date, source=RegistrationSource.CRM,
            status=change.status, reason=change.reason.value if change.reason else None,
            protected_until=change.protected_until, extensions_used=0,
            opportunity_id=deal.id, submitted_at=self.now,
            decided_at=self.now if decided else None, decided_by=self.actor if decided else None,
        )  # fmt: skip
        self.temp[id(registration)] = -(len(self.created) + 1)
        self.pending_conflict[id(registration)] = change.conflict_with
        self.created.append(registration)
        after = dict(change.audit.after)
        if decision.matched:
            after["matched"] = list(decision.matched)
        why = f"from {deal.crm.value} deal {deal.crm_id}: {change.audit.reason}"
        self.audits.append((registration, "submit", {}, after, why))
        self.by_deal[deal.id] = registration
        self._index(registration)
        for word in name_tokens(deal.name_key):  # later deals of the batch find it, fuzzily
            self.fuzzy[word].append(registration)
        self.staged[deal.id] = (deal, registration)
        self.counts[f"registered_{change.status.value}"] += 1
        return registration

    def _close(self, deal: Deal, registration: Registration) -> None:
        decision = close(self._claim(registration), deal.is_won)
        if decision is None:
            return
        change = decision.main
        registration.status = change.status
        registration.reason = change.reason.value if change.reason else None
        registration.decided_at = self.now
        registration.decided_by = self.actor
        audit = change.audit
        self.audits.append((registration, audit.action, dict(audit.before), dict(audit.after),
                            audit.reason))  # fmt: skip
        self.staged[deal.id] = (deal, registration)
        self.counts["closed"] += 1

    def finish(self) -> None:
        """Insert the new registrations together (one statement); then what names them:
        conflicts, audit rows, name words; then stage every changed deal's CRM fields."""
        real = self._insert_created()
        for *_, after, _reason in self.audits:
            if isinstance(after.get("conflict_with"), int) and after["conflict_with"] < 0:
                after["conflict_with"] = real[after["conflict_with"]]
        record_many(
            self.session,
            [
                AuditRow(AuditEntity.REGISTRATION, self._id(registration), action,
                         before or None, after, reason, self.actor)
                for registration, action, before, after, reason in self.audits
            ],
            at=self.now,
        )  # fmt: skip
        write_tokens(self.session, self.created)
        holders = self._holders()
        stage_many(
            self.session,
            [
                Staged(deal.id, deal.crm, deal.crm_id, registration_fields(registration, holders))
                for deal, registration in self.staged.values()
            ],
        )

    def _insert_created(self) -> dict[int, int]:
        """Insert this batch's registrations in one statement; temporary id -> real id.

        They stay plain objects outside the session (nothing to flush one by one); their
        ``id`` and ``conflict_with`` are set from what the insert returned.
        """
        if not self.created:
            return {}
        columns = [c.key for c in Registration.__table__.columns if c.key != "id"]
        rows = [{c: getattr(r, c) for c in columns} for r in self.created]
        for row in rows:
            row["conflict_with"] = None  # set below, once every new id is known
            row["updated_at"] = row["updated_at"] or self.now
        ids = self.session.scalars(
            insert(Registration).returning(Registration.id, sort_by_parameter_order=True), rows
        ).all()
        real = {self.temp[id(r)]: new for r, new in zip(self.created, ids, strict=True)}
        conflicts = []
        for registration, new in zip(self.created, ids, strict=True):
            registration.id = new
            conflict = self.pending_conflict.get(id(registration))
            if conflict:
                registration.conflict_with = real.get(conflict, conflict)
                conflicts.append({"key": new, "conflict": registration.conflict_with})
        if conflicts:
            table = cast(Table, Registration.__table__)
            self.session.execute(
                update(table)
                .where(table.c.id == bindparam("key"))
                .values(conflict_with=bindparam("conflict")),
                conflicts,
            )
        return real

    def _holders(self) -> dict[int, str]:
        wanted = {r.conflict_with for _, r in self.staged.values() if r.conflict_with}
        if not wanted:
            return {}
        rows = self.session.execute(
            select(Registration.id, Registration.partner_id).where(Registration.id.in_(wanted))
        )
        return dict(rows.tuples().all())
