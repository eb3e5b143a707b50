"""Mirrored deals and registrations: link them, register deals from the CRM, close them.

The mirror calls :class:`RegistrationLinks` on each page's changes, in the page's
transaction (``sync.mirror.handlers``); adding a partner calls :func:`link_deals` on the
deals just linked to it. For each deal:

- a deal that closes moves its live registration to ``won`` / ``lost``;
- a deal partnersync created for an approved registration (``sync.deal_creates``) is
  linked to that registration by the key it carries (``registration_key``);
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
from typing import Any, NamedTuple, cast

from sqlalchemy import Table, bindparam, func, or_, select, union, update
from sqlalchemy.orm import Session

from rules.matching import close_names, name_tokens
from rules.registration import (
    LIVE,
    Block,
    Claim,
    Decision,
    DirectDeal,
    FuzzyMatch,
    RegistrationError,
    Situation,
    Submission,
    apply,
    close,
    decide_submission,
    fuzzy_can_change,
    same_customer,
)
from sync.audit import AuditRow, record_many
from sync.deal_creates import created_for, mark_found
from sync.ledger import settle
from sync.log import get_logger
from sync.mirror.handlers import PageChanges
from sync.partners import blocks_for, partner_facts
from sync.program import policy
from sync.registration_facts import FUZZY_CANDIDATES, customer_key, drop_tokens, lock_customers
from sync.settings import ProgramSettings, Settings
from sync.store import (
    REGISTRATION_LIVE,
    AuditEntity,
    Crm,
    Opportunity,
    Partner,
    Registration,
    RegistrationStatus,
    RegistrationToken,
)
from sync.store.bulk import insert
from sync.store.ids import new_ids
from sync.store.lists import one_of
from sync.writeback.outbox import Staged, stage_many

__all__ = ["Deal", "RegistrationLinks", "link_deals", "registration_links"]

log = get_logger("sync.deal_links")
_LIVE = tuple(LIVE)
_DEAL_COLUMNS = (
    Opportunity.id, Opportunity.crm, Opportunity.crm_id, Opportunity.name,
    Opportunity.account_name, Opportunity.account_domain, Opportunity.customer_name_key,
    Opportunity.customer_domain_key, Opportunity.partner_id, Opportunity.is_closed,
    Opportunity.is_won, Opportunity.amount, Opportunity.currency, Opportunity.practice,
    Opportunity.close_date, Opportunity.deleted, Opportunity.registration_key,
)  # fmt: skip


class _Direct(NamedTuple):
    """An open deal with no partner, as a channel-conflict check names it."""

    id: int
    crm: str
    crm_id: str
    name: str
    name_key: str | None
    domain_key: str | None


_DIRECT_COLUMNS = (
    Opportunity.id, Opportunity.crm, Opportunity.crm_id, Opportunity.name,
    Opportunity.customer_name_key, Opportunity.customer_domain_key,
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
    registration_key: str | None = None  # the key of a deal partnersync created


def _deals(session: Session, ids: Sequence[int]) -> list[Deal]:
    out: list[Deal] = []
    for start in range(0, len(ids), 1000):
        rows = session.execute(
            select(*_DEAL_COLUMNS).where(Opportunity.id.in_(ids[start : start + 1000]))
        )
        out.extend(Deal(*row) for row in rows)
    return out


def _deciding_claims(deals: Sequence[Deal], dialect: str) -> Any:
    """The ids of the live claims that can decide registering ``deals``: on each deal's
    customer (``rules.registration.same_customer``), the approved ones (a conflict) and
    the deal's own partner's (a duplicate, or the one to link). Other partners' pending
    and held claims change nothing for it, and a customer many partners chase has
    hundreds of them.

    One part per key: by domain; by name for deals without a domain; by name among the
    claims without a domain for deals with one (a common name is shared by customers on
    many domains). Each part keeps its rows by a (partner, key) text matched against the
    batch's pairs, in the live-claim indexes, which hold those columns (migration 0005):
    the claims passed over are never read. The text is a filter, never an access path
    (row values in the planners' hands cost more than the rows), so the caller picks the
    exact pairs from what comes back."""
    reg = Registration
    approved = reg.status == RegistrationStatus.APPROVED
    by_domain = {f"{d.partner_id}|{d.domain_key}" for d in deals if d.domain_key}
    by_name = {f"{d.partner_id}|{d.name_key}" for d in deals if d.name_key}
    domains = {d.domain_key for d in deals if d.domain_key}
    pair_by_domain = one_of(reg.partner_id + "|" + reg.customer_domain_key, by_domain, dialect)
    named = or_(approved, one_of(reg.partner_id + "|" + reg.customer_name_key, by_name, dialect))
    names_any = {d.name_key for d in deals if d.name_key and not d.domain_key}
    names_open = {d.name_key for d in deals if d.name_key and d.domain_key} - names_any
    parts = []
    if by_domain:
        parts.append(select(reg.id).where(
            one_of(reg.customer_domain_key, domains, dialect), REGISTRATION_LIVE,
            or_(approved, pair_by_domain),
        ))  # fmt: skip
    if names_any:
        parts.append(select(reg.id).where(one_of(reg.customer_name_key, names_any, dialect),
                                          REGISTRATION_LIVE, named))  # fmt: skip
    if names_open:
        # The domain tested as an expression: in the name index, never through the domain
        # index (the planners would walk every claim without a domain).
        parts.append(select(reg.id).where(
            one_of(reg.customer_name_key, names_open, dialect),
            func.coalesce(reg.customer_domain_key, "") == "",
            REGISTRATION_LIVE, named,
        ))  # fmt: skip
    return parts[0] if len(parts) == 1 else union(*parts)


class RegistrationLinks:
    """The mirror handler: links, registers and closes each page's deals."""

    name = "registrations"
    before: frozenset[str] = frozenset()

    def __init__(self, program: ProgramSettings, clock: Callable[[], datetime] | None = None):
        self.program = program
        self.clock = clock or (lambda: datetime.now(UTC))

    def __call__(self, session: Session, changes: PageChanges) -> Mapping[str, int]:
        # Only deals that name a partner, or closed ones, can concern a registration; the
        # page's rows say which, without reading the deals back.
        rows = [
            r for r in changes.rows
            if r.get("partner_id") or r.get("is_closed") or r.get("registration_key")
        ]  # fmt: skip
        if not rows:
            return {}
        ids = changes.opportunity_ids(session)
        deals = [
            Deal(
                ids[row["crm_id"]], changes.crm, row["crm_id"], row["name"], row["account_name"],
                row["account_domain"], row["customer_name_key"], row["customer_domain_key"],
                row["partner_id"], bool(row["is_closed"]), bool(row["is_won"]), row["amount"],
                row["currency"], row["practice"], row["close_date"], False,
                row.get("registration_key"),
            )
            for row in rows
            if row["crm_id"] in ids
        ]  # fmt: skip
        return link_deals(session, deals, self.program, self.clock(),
                          actor=f"crm:{changes.crm.value}")  # fmt: skip


def registration_links(settings: Settings) -> Callable[[Session, Sequence[int]], None]:
    """What adding a partner does with the deals just linked to it: links them to
    registrations, and settles their commissions (a won deal accrues under the partner's
    agreement)."""

    def on_linked(session: Session, opportunity_ids: Sequence[int]) -> None:
        now = datetime.now(UTC)
        link_deals(session, _deals(session, opportunity_ids), settings.program, now,
                   actor="partners")  # fmt: skip
        settle(session, opportunity_ids, now=now, actor="partners",
               default_currency=settings.program.default_currency)  # fmt: skip

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
    deals = [
        d for d in deals if not d.deleted and (d.partner_id or d.is_closed or d.registration_key)
    ]
    if not deals:
        return counts
    run = _Run(session, program, now, actor, counts)
    run.load(deals)
    for deal in deals:
        run.handle(deal)
    run.finish()
    return counts


@dataclass
class _Held:
    """A registration as the batch knows it: the rules' claim, and what the CRM shows of
    it besides (reason, linked deal). ``row`` is the insert of a new one; ``update`` the
    columns an existing one changes."""

    claim: Claim
    reason: str | None
    opportunity_id: int | None
    row: dict[str, Any] | None = None
    update: dict[str, Any] | None = None


_HELD_COLUMNS = (
    Registration.id, Registration.partner_id, Registration.status,
    Registration.customer_name_key, Registration.customer_domain_key,
    Registration.protected_until, Registration.extensions_used, Partner.tier,
    Registration.conflict_with, Registration.reason, Registration.opportunity_id,
)  # fmt: skip


def _held(row: Any) -> _Held:
    (id_, partner_id, status, name, domain, until, used, tier, conflict, reason, deal) = row
    claim = Claim(id_, partner_id, status, name, domain, until, used, tier or "", conflict)
    return _Held(claim, reason, deal)


class _Run:
    """One batch of deals: the facts of all of them, looked up together (plain rows, no
    ORM objects), then decided one by one (a deal sees the registrations the ones before
    it created), then written in a few statements.

    New registrations carry temporary (negative) ids until they are inserted together;
    the ids are mapped to the real ones before anything that names them is written.
    """

    def __init__(
        self, session: Session, program: ProgramSettings, now: datetime, actor: str,
        counts: Counter[str],
    ) -> None:  # fmt: skip
        self.session = session
        self.dialect = session.get_bind().dialect.name
        self.program = program
        self.policy = policy(program)
        self.now = now
        self.actor = actor
        self.counts = counts
        self.held: dict[int, _Held] = {}  # by registration id (temporary ids negative)
        self.staged: dict[int, tuple[Deal, _Held]] = {}
        # Decisions made while loading (deal id -> submission, situation, decision), and
        # the customer keys whose claims changed since.
        self.predicted: dict[int, tuple[Submission, Situation, Decision]] = {}
        self.touched: set[str] = set()
        self.audits: list[tuple[_Held, str, dict[str, Any], dict[str, Any], str]] = []

    # --- the facts --------------------------------------------------------------------

    def _keep(self, rows: Any) -> list[_Held]:
        out = []
        for row in rows:
            held = self.held.get(row[0])
            if held is None:
                held = self.held[row[0]] = _held(row)
            out.append(held)
        return out

    def _query(self) -> Any:
        return select(*_HELD_COLUMNS).join(Partner, Partner.id == Registration.partner_id)

    def _rows(self, statement: Any) -> Any:
        """Plain rows of a column query, read through the session's connection (its
        transaction) without the ORM's result machinery: a page reads thousands."""
        return self.session.connection().execute(statement)

    def load(self, deals: Sequence[Deal]) -> None:
        names = {d.name_key for d in deals if d.name_key}
        domains = {d.domain_key for d in deals if d.domain_key}
        lock_customers(self.session, [*domains, *(f"name:{n}" for n in names)])
        linked = self._keep(self._rows(
            self._query()
            .where(one_of(Registration.opportunity_id, [d.id for d in deals], self.dialect))
            .order_by(Registration.id)
        ))  # fmt: skip
        self.by_deal: dict[int, _Held] = {}
        for held in linked:  # the newest live one, else the newest
            known = self.by_deal.get(held.opportunity_id or 0)
            if known is None or held.claim.status in LIVE or known.claim.status not in LIVE:
                self.by_deal[held.opportunity_id or 0] = held
        self._created(deals)
        # Only a partner's deal with no registration yet is decided on its customer's facts
        # (linked, or registered); a linked deal only closes its own, and a deal with no
        # partner (most of a mirror) needs none of them.
        deciding = [d for d in deals if d.partner_id and d.id not in self.by_deal]
        names = {d.name_key for d in deciding if d.name_key}
        domains = {d.domain_key for d in deciding if d.domain_key}
        self.claims: dict[str, list[_Held]] = defaultdict(list)  # by customer key
        if names or domains:
            own = {(d.partner_id, d.domain_key) for d in deciding if d.domain_key}
            own |= {(d.partner_id, f"name:{d.name_key}") for d in deciding if d.name_key}
            rows = self._rows(
                self._query()
                .where(Registration.id.in_(_deciding_claims(deciding, self.dialect)))
                .order_by(Registration.id)
            )
            wanted = [
                row for row in rows
                if row[2] is RegistrationStatus.APPROVED or (row[1], row[4]) in own
                or (row[1], f"name:{row[3]}") in own
            ]  # fmt: skip
            for held in self._keep(wanted):
                self._index(held)
        self.partners = partner_facts(
            self.session, {d.partner_id for d in deciding if d.partner_id}
        )
        self.blocks = [Block(b.kind, b.domain, b.name_key)
                       for b in blocks_for(self.session, domains, names, self.dialect)]  # fmt: skip
        self.direct = self._direct_deals(deciding)
        self.direct_on: dict[int, tuple[DirectDeal, ...]] = {}
        # Fuzzy candidates by name word, read for the words of the deals that fall through
        # every other check (the only ones a fuzzy match can change): predicted here from
        # the facts just read, then per deal for any the prediction missed.
        self.fuzzy: defaultdict[str, list[_Held]] = defaultdict(list)
        self.fuzzy_no_domain: defaultdict[str, list[_Held]] = defaultdict(list)
        self.fuzzy_read: set[str] = set()  # words whose claims without a domain are read
        self.fuzzy_read_domain: set[str] = set()  # ... and those with one
        if self.program.register_from_crm and self.policy.fuzzy_threshold > 0:
            falling = [d for d in deciding if self._may_fall_through(d)]
            for with_domain in (False, True):
                self._read_fuzzy({
                    word for deal in falling if not deal.domain_key or not with_domain
                    for word in name_tokens(deal.name_key or "")
                }, with_domain=with_domain)  # fmt: skip

    def _created(self, deals: Sequence[Deal]) -> None:
        """The registrations of the deals partnersync created (by the key they carry)."""
        self.created: dict[tuple[Crm, str], int] = {}  # (crm, key) -> registration id
        self.found: defaultdict[Crm, dict[str, str]] = defaultdict(dict)  # key -> crm id
        for crm in {d.crm for d in deals if d.registration_key}:
            keys = {d.registration_key for d in deals if d.crm == crm and d.registration_key}
            for key, registration_id in created_for(self.session, crm, keys).items():
                self.created[(crm, key)] = registration_id
        wanted = [i for i in self.created.values() if i not in self.held]
        if wanted:
            self._keep(self._rows(self._query().where(Registration.id.in_(wanted))))

    def _index(self, held: _Held) -> None:
        if held.claim.domain_key:
            self.claims[held.claim.domain_key].append(held)
        self.claims[f"name:{held.claim.name_key}"].append(held)

    def _on_customer(self, name_key: str | None, domain_key: str | None) -> list[_Held]:
        seen: dict[int, _Held] = {}
        for key in (domain_key, f"name:{name_key}" if name_key else None):
            for held in self.claims.get(key or "", []):
                if held.claim.status in LIVE:
                    seen[held.claim.id] = held
        return [h for h in seen.values() if same_customer(name_key, domain_key, h.claim)]

    def _direct_deals(self, deals: Sequence[Deal]) -> dict[str, list[_Direct]]:
        """Open deals with no partner on the batch's customers, by customer key: the first
        of each key that can be the same customer (the rule names the oldest). By name, a
        deal with a domain can only be the customer of one without."""
        domains = {d.domain_key for d in deals if d.domain_key}
        names_any = {d.name_key for d in deals if d.name_key and not d.domain_key}
        names_open = {d.name_key for d in deals if d.name_key and d.domain_key}
        by_key: dict[str, list[_Direct]] = defaultdict(list)
        for column, keys, prefix, no_domain, index in (
            (Opportunity.customer_domain_key, domains, "", False, "domain"),
            (Opportunity.customer_name_key, names_any, "name:", False, "name"),
            (Opportunity.customer_name_key, names_open, "name:", True, "name"),
        ):
            if not keys:
                continue
            conditions = [
                one_of(column, keys, self.dialect),
                Opportunity.partner_id.is_(None),
                Opportunity.partner_ref.is_(None),
                Opportunity.is_closed.is_(False),
                Opportunity.deleted.is_(False),
            ]
            if no_domain:
                conditions.append(Opportunity.customer_domain_key.is_(None))
            # The oldest of each key, on the partial index alone (a window over every open
            # deal of a popular customer costs four times as much).
            first = (
                select(func.min(Opportunity.id).label("id"))
                .where(*conditions)
                .group_by(column)
                .with_hint(
                    Opportunity, f"INDEXED BY ix_opportunities_open_direct_{index}", "sqlite"
                )
                .subquery()
            )
            rows = self._rows(select(*_DIRECT_COLUMNS).join(first, first.c.id == Opportunity.id))
            for row in rows:
                deal = _Direct(*row)
                key = deal.domain_key if prefix == "" else deal.name_key
                by_key[f"{prefix}{key}"].append(deal)
        return by_key

    def _direct_on(self, deal: Deal) -> tuple[DirectDeal, ...]:
        """The open direct deals on ``deal``'s customer (read once per batch, so the
        answer for a deal never changes within it)."""
        known = self.direct_on.get(deal.id)
        if known is None:
            known = self.direct_on[deal.id] = self._find_direct(deal)
        return known

    def _find_direct(self, deal: Deal) -> tuple[DirectDeal, ...]:
        found: dict[int, DirectDeal] = {}
        for key in (deal.domain_key, f"name:{deal.name_key}" if deal.name_key else None):
            for other in self.direct.get(key or "", []):
                if other.id in found or other.id == deal.id:
                    continue
                probe = Claim(0, "", RegistrationStatus.PENDING, other.name_key, other.domain_key)
                if same_customer(deal.name_key, deal.domain_key, probe):
                    found[other.id] = DirectDeal(str(other.crm), other.crm_id, other.name)
        return tuple(found[k] for k in sorted(found))[:5]

    def _read_fuzzy(self, words: set[str], *, with_domain: bool) -> None:
        """Live registrations sharing a name word, for the words not read yet, as a
        submission's look-up reads them: per word, the newest :data:`FUZZY_CANDIDATES`
        without a domain (all a deal with a domain is compared with) and, ``with_domain``
        (for a deal without one), as many with a domain too."""
        words = {w[:64] for w in words}
        for has_domain, read in ((False, self.fuzzy_read), (True, self.fuzzy_read_domain)):
            if has_domain and not with_domain:
                continue
            wanted = words - read
            if wanted:
                read |= wanted
                self._read_fuzzy_part(wanted, has_domain)

    def _read_fuzzy_part(self, words: set[str], has_domain: bool) -> None:
        token = RegistrationToken.token
        domain = Registration.customer_domain_key
        rank = func.row_number().over(
            partition_by=token, order_by=RegistrationToken.registration_id.desc()
        )
        ranked = (
            select(token, RegistrationToken.registration_id, rank.label("rank"))
            .join(Registration, Registration.id == RegistrationToken.registration_id)
            # The domain tested as an expression: no index serves it, so the planners start
            # from the words (a few hundred rows each), not from every claim without one.
            .where(one_of(token, sorted(words), self.dialect), Registration.status.in_(_LIVE),
                   (func.coalesce(domain, "") != "") == has_domain)
            .subquery()
        )  # fmt: skip
        rows = self._rows(
            select(ranked.c.token, Registration.id, Registration.partner_id,
                   Registration.status, Registration.customer_name_key,
                   Registration.customer_domain_key)
            .join(Registration, Registration.id == ranked.c.registration_id)
            .where(ranked.c.rank <= FUZZY_CANDIDATES)
        )  # fmt: skip
        # What a fuzzy match weighs of a claim (its state, partner, keys): the batch's own
        # copy where it holds one (its state may have changed here), else a plain one.
        for word, id_, partner_id, status, name, domain_key in rows:
            held = self.held.get(id_)
            if held is None:
                held = _Held(Claim(id_, partner_id, status, name, domain_key), None, None)
            self.fuzzy[word].append(held)
            if not held.claim.domain_key:
                self.fuzzy_no_domain[word].append(held)

    def _may_fall_through(self, deal: Deal) -> bool:
        """Whether registering ``deal`` may reach the fuzzy check, on the facts read."""
        partner = self.partners.get(deal.partner_id or "")
        if partner is None or not deal.name_key or deal.id in self.by_deal:
            return False
        situation = self._situation(deal, fuzzy=())
        try:
            submission = self._submission(deal, partner)
            decision = decide_submission(submission, situation, self.policy, self.now.date())
        except RegistrationError:
            return False
        self.predicted[deal.id] = (submission, situation, decision)
        return fuzzy_can_change(decision)

    def _touch(self, claim: Claim) -> None:
        """``claim`` is new, or changed its state: the decisions predicted on its customer
        keys no longer hold."""
        if claim.domain_key:
            self.touched.add(claim.domain_key)
        self.touched.add(f"name:{claim.name_key}")

    def _word_index(self, held: _Held) -> None:
        """Later deals of the batch find ``held`` by the words of its name, fuzzily."""
        for word in name_tokens(held.claim.name_key or ""):
            self.fuzzy[word[:64]].append(held)  # as the index holds it
            if not held.claim.domain_key:
                self.fuzzy_no_domain[word[:64]].append(held)

    def _fuzzy(self, deal: Deal) -> tuple[FuzzyMatch, ...]:
        if not deal.name_key or self.policy.fuzzy_threshold <= 0:
            return ()
        words = name_tokens(deal.name_key)
        self._read_fuzzy(set(words), with_domain=not deal.domain_key)
        # A fuzzy match counts only where a domain is missing on one side: a deal with a
        # domain is compared with the claims that have none.
        index = self.fuzzy_no_domain if deal.domain_key else self.fuzzy
        seen: dict[int, _Held] = {}
        for word in words:
            for held in index.get(word[:64], ()):
                claim = held.claim
                if claim.status in LIVE and claim.partner_id != deal.partner_id:
                    seen.setdefault(claim.id, held)
        # The newest first, as a submission's look-up: this batch's (temporary ids, below
        # zero), then by id, highest first.
        candidates = sorted(seen.values(), key=lambda h: (h.claim.id >= 0, -abs(h.claim.id)))
        candidates = candidates[:FUZZY_CANDIDATES]
        found = close_names(deal.name_key, [h.claim.name_key or "" for h in candidates],
                            self.policy.fuzzy_threshold)  # fmt: skip
        return tuple(FuzzyMatch(candidates[index].claim, score) for index, score in found)

    # --- deciding ---------------------------------------------------------------------

    def handle(self, deal: Deal) -> None:
        """A deal keeps the registration it was linked to, live or over (an expired one is
        not renewed by a later edit of the deal); one never linked gets one."""
        held = self.by_deal.get(deal.id)
        if held is None:
            held = self._made_for(deal)
        if held is None:
            if deal.partner_id is None:
                return
            held = self._own_claim(deal) or self._register(deal)
            if held is None:
                return
        if deal.is_closed and held.claim.status in LIVE:
            self._close(deal, held)

    def _made_for(self, deal: Deal) -> _Held | None:
        """The registration partnersync created this deal for, when it has no deal yet."""
        if not deal.registration_key:
            return None
        registration_id = self.created.get((deal.crm, deal.registration_key))
        held = self.held.get(registration_id or 0)
        if held is None or held.opportunity_id not in (None, deal.id):
            return None
        self.found[deal.crm][deal.registration_key] = deal.crm_id
        return self._link(deal, held, f"linked to the {deal.crm.value} deal {deal.crm_id} "
                                      "created for it")  # fmt: skip

    def _own_claim(self, deal: Deal) -> _Held | None:
        """The partner's live registration on this customer that no deal holds yet."""
        for held in self._on_customer(deal.name_key, deal.domain_key):
            if held.claim.partner_id == deal.partner_id and held.opportunity_id is None:
                return self._link(deal, held, f"linked to the partner's {deal.crm.value} deal "
                                              f"{deal.crm_id}")  # fmt: skip
        return None

    def _link(self, deal: Deal, held: _Held, why: str) -> _Held:
        held.opportunity_id = deal.id
        if held.row is not None:
            held.row["opportunity_id"] = deal.id
        else:
            held.update = {**(held.update or {}), "opportunity_id": deal.id}
        self.by_deal[deal.id] = held
        self.audits.append((
            held, "link", {},
            {"opportunity_id": deal.id, "crm": deal.crm.value, "crm_id": deal.crm_id}, why,
        ))  # fmt: skip
        self.staged[deal.id] = (deal, held)
        self.counts["linked"] += 1
        return held

    def _submission(self, deal: Deal, partner: Partner) -> Submission:
        return Submission(
            partner_id=partner.id, tier=partner.tier, name_key=deal.name_key or "",
            domain_key=deal.domain_key, partner_active=partner.active, amount=deal.amount,
            currency=deal.currency if deal.amount is not None else None,
            practice=deal.practice,
        )  # fmt: skip

    def _situation(self, deal: Deal, fuzzy: tuple[FuzzyMatch, ...]) -> Situation:
        claims = tuple(h.claim for h in self._on_customer(deal.name_key, deal.domain_key))
        return Situation(blocks=tuple(self.blocks), claims=claims,
                         direct_deals=self._direct_on(deal), fuzzy=fuzzy)  # fmt: skip

    def _register(self, deal: Deal) -> _Held | None:
        """A registration from the deal (``register_from_crm``), through the same rules."""
        if not self.program.register_from_crm or deal.partner_id is None:
            return None
        partner = self.partners.get(deal.partner_id)
        if partner is None or not deal.name_key:
            return None  # no customer name to register: the deal stays as it is
        # The decision predicted while loading holds unless a deal before this one added a
        # claim on its customer's keys or changed one (most of a page's customers are
        # different): each deal is decided once.
        predicted = self.predicted.pop(deal.id, None)
        keys = {deal.domain_key, f"name:{deal.name_key}"}
        try:
            if predicted is not None and not keys & self.touched:
                submission, situation, decision = predicted
            else:
                submission = self._submission(deal, partner)
                situation = self._situation(deal, fuzzy=())
                decision = decide_submission(submission, situation, self.policy, self.now.date())
            if fuzzy_can_change(decision):  # weighed last: looked up only when it may count
                situation = replace(situation, fuzzy=self._fuzzy(deal))
                decision = decide_submission(submission, situation, self.policy, self.now.date())
        except RegistrationError as exc:  # an unknown tier: the partner's record is wrong
            log.warning("deal_links.not_registered", deal=deal.crm_id, reason=str(exc))
            self.counts["not_registered"] += 1
            return None
        change = decision.main
        decided = change.status is not RegistrationStatus.PENDING
        temporary = -(len(self.held) + 1)
        while temporary in self.held:
            temporary -= 1
        reason = change.reason.value if change.reason else None
        row = {
            "partner_id": partner.id, "customer_name": (deal.account_name or deal.name)[:255],
            "customer_domain": deal.account_domain[:255] if deal.account_domain else None,
            "customer_name_key": deal.name_key, "customer_domain_key": deal.domain_key,
            "customer_key": customer_key(deal.name_key, deal.domain_key),
            "amount": deal.amount if deal.currency else None,
            "currency": deal.currency if deal.amount is not None else None,
            "practice": deal.practice, "close_date": deal.close_date, "source": "crm",
            "status": change.status, "reason": reason,
            "protected_until": change.protected_until, "extensions_used": 0,
            "conflict_with": None, "opportunity_id": deal.id, "submitted_at": self.now,
            "decided_at": self.now if decided else None,
            "decided_by": self.actor if decided else None, "updated_at": self.now,
        }  # fmt: skip
        claim = Claim(temporary, partner.id, change.status, deal.name_key, deal.domain_key,
                      change.protected_until, 0, partner.tier, change.conflict_with)  # fmt: skip
        held = self.held[temporary] = _Held(claim, reason, deal.id, row=row)
        after = dict(change.audit.after)
        if decision.matched:
            after["matched"] = list(decision.matched)
        why = f"from {deal.crm.value} deal {deal.crm_id}: {change.audit.reason}"
        self.audits.append((held, "submit", {}, after, why))
        self.by_deal[deal.id] = held
        self._index(held)
        self._touch(held.claim)
        self._word_index(held)
        self.staged[deal.id] = (deal, held)
        self.counts[f"registered_{change.status.value}"] += 1
        return held

    def _close(self, deal: Deal, held: _Held) -> None:
        decision = close(held.claim, deal.is_won)
        if decision is None:
            return
        change = decision.main
        held.claim = apply(held.claim, change)
        self._touch(held.claim)
        held.reason = change.reason.value if change.reason else None
        values = {"status": change.status, "reason": held.reason, "decided_at": self.now,
                  "decided_by": self.actor}  # fmt: skip
        if held.row is not None:
            held.row.update(values)
        else:
            held.update = {**(held.update or {}), **values}
        audit = change.audit
        self.audits.append((held, audit.action, dict(audit.before), dict(audit.after),
                            audit.reason))  # fmt: skip
        self.staged[deal.id] = (deal, held)
        self.counts["closed"] += 1

    # --- writing ----------------------------------------------------------------------

    def finish(self) -> None:
        """Insert the new registrations together (one statement), update the changed
        ones, then write what names them: audit rows, name words; then stage every
        changed deal's CRM fields."""
        real = self._insert_new()
        self._update_changed()
        ended = [
            h.claim.id for h in self.held.values()
            if h.row is None and h.update and h.claim.status not in LIVE
        ]  # fmt: skip
        drop_tokens(self.session, ended)
        for crm, found in self.found.items():
            mark_found(self.session, crm, found, self.now)
        for *_, after, _reason in self.audits:
            if isinstance(after.get("conflict_with"), int) and after["conflict_with"] < 0:
                after["conflict_with"] = real[after["conflict_with"]]
        record_many(
            self.session,
            [
                AuditRow(AuditEntity.REGISTRATION, held.claim.id, action, before or None, after,
                         reason, self.actor)
                for held, action, before, after, reason in self.audits
            ],
            at=self.now,
        )  # fmt: skip
        holders = self._holders()
        stage_many(
            self.session,
            [
                Staged(deal.id, deal.crm, deal.crm_id, _fields(held, holders))
                for deal, held in self.staged.values()
            ],
        )

    def _insert_new(self) -> dict[int, int]:
        """Insert this batch's registrations in one statement; temporary id -> real id."""
        new = [h for h in self.held.values() if h.row is not None]
        if not new:
            return {}
        table = cast(Table, Registration.__table__)
        ids = new_ids(self.session, table, len(new))
        real = {h.claim.id: rid for h, rid in zip(new, ids, strict=True)}
        rows = []
        for held, rid in zip(new, ids, strict=True):
            conflict = held.claim.conflict_with
            mapped = real.get(conflict, conflict) if conflict else None
            held.claim = replace(held.claim, id=rid, conflict_with=mapped)
            rows.append({**(held.row or {}), "id": rid, "conflict_with": mapped})
        # A row naming another of the batch (conflict_with) goes in after the one it names.
        by_id = {row["id"]: row for row in rows}

        def depth(row: dict[str, Any], seen: int = 0) -> int:
            named = by_id.get(row["conflict_with"])
            return 0 if named is None or seen > len(rows) else 1 + depth(named, seen + 1)

        rows.sort(key=depth)
        insert(self.session, table, rows)
        tokens = [  # the fuzzy index holds live claims only
            {
                "token": word[:64],
                "registration_id": held.claim.id,
                "domainless": not held.claim.domain_key,
            }
            for held in new
            if held.claim.status in LIVE
            for word in name_tokens(held.claim.name_key or "")
        ]
        if tokens:
            insert(self.session, cast(Table, RegistrationToken.__table__), tokens)
        return real

    def _update_changed(self) -> None:
        """The existing registrations' changes, grouped by the columns they set."""
        table = cast(Table, Registration.__table__)
        by_columns: dict[tuple[str, ...], list[dict[str, Any]]] = defaultdict(list)
        for held in self.held.values():
            if held.row is None and held.update:
                columns = tuple(sorted(held.update))
                by_columns[columns].append({"key": held.claim.id, **held.update})
        for columns, rows in by_columns.items():
            self.session.execute(
                update(table).where(table.c.id == bindparam("key"))
                .values({c: bindparam(c) for c in columns}),
                rows,
            )  # fmt: skip

    def _holders(self) -> dict[int, str]:
        """The partner of each registration a staged one is in conflict with."""
        wanted = {h.claim.conflict_with for _, h in self.staged.values() if h.claim.conflict_with}
        known = {i: self.held[i].claim.partner_id for i in wanted if i in self.held}
        missing = [i for i in wanted if i not in known]
        if missing:
            rows = self.session.execute(
                select(Registration.id, Registration.partner_id).where(Registration.id.in_(missing))
            )
            known.update(rows.tuples().all())
        return known


def _fields(held: _Held, holders: Mapping[int, str]) -> dict[str, Any]:
    """The CRM fields a deal shows of its registration."""
    claim = held.claim
    conflict = claim.status is RegistrationStatus.CONFLICT and claim.conflict_with
    return {
        "registration.id": str(claim.id),
        "registration.status": claim.status,
        "registration.reason": held.reason,
        "registration.protected_until": claim.protected_until,
        "registration.partner_id": claim.partner_id,
        "registration.conflict_partner_id": holders.get(claim.conflict_with or 0)
        if conflict
        else None,
    }
