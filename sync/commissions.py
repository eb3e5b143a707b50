"""Agreements and the commission ledger's service: import, show and amend agreements,
replay the ledger, explain a deal's commission (store + ``rules.commission``).

An agreement file (DESIGN.md's format) is the whole history of its partner's current
agreement version: importing it again may add rules and close open ones
(``effective_to``), never change a stored rule's terms or dates in place (a rule edit is
a closed row and a new one). ``amend`` starts a new version on a date, from a file: the
prior version ends that day and is frozen, read-only for good; the deals the change
touches are settled in the same transaction (``--dry-run`` lists them, deal by deal,
and writes nothing).
"""

from __future__ import annotations

import tomllib
from collections import Counter, deque
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import replace
from datetime import UTC, date, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

from sqlalchemy import ColumnElement, or_, select, text
from sqlalchemy.orm import Session, sessionmaker

from rules.commission import (
    AgreementError,
    AgreementTerms,
    RuleTerms,
    commission,
    first_overlap,
    parse_agreement,
)
from sync.audit import record
from sync.ledger import deal_of, figure, partner_rules, rule_terms, settle, shown
from sync.mirror.pipeline import garbage_collector_spares_existing
from sync.program import Conflict, NotFound, ProgramError, checked_id
from sync.store import (
    Agreement,
    AgreementRule,
    AuditEntity,
    Crm,
    LedgerEntry,
    Opportunity,
    Partner,
    Payout,
    transaction,
)

__all__ = ["AgreementFrozen", "CommissionService"]

_REPLAY_CHUNK = 2000
#: Replay chunks settled at once on PostgreSQL (see ``CommissionService.replay``).
_REPLAY_WORKERS = 2
#: Ledger rows a replay writes from which it refreshes the PostgreSQL planner's
#: statistics of the ledger.
_ANALYZE_AFTER = 10_000


class AgreementFrozen(Conflict):
    """A change to an agreement version an amendment superseded."""

    code = "agreement_frozen"


def _read(path: Path) -> AgreementTerms:
    name = str(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ProgramError(f"{name}: cannot read: {exc.strerror or exc}", field="file") from None
    except UnicodeDecodeError:
        raise ProgramError(f"{name}: not UTF-8 text", field="file") from None
    return _parse(text, name)


def _parse(text: str, name: str) -> AgreementTerms:
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ProgramError(f"{name}: not valid TOML: {exc}", field="file") from None
    try:
        return parse_agreement(data, name)
    except AgreementError as exc:
        raise ProgramError(str(exc), field="file") from None


def _rule_view(rule: RuleTerms | AgreementRule) -> dict[str, Any]:
    return {
        "id": rule.id, "practice": rule.practice, "direction": rule.direction.value,
        "basis": rule.basis.value, "percent": figure(rule.percent), "floor": figure(rule.floor),
        "ceiling": figure(rule.ceiling), "flow": rule.flow.value, "trigger": rule.trigger.value,
        "payout_delay_days": rule.payout_delay_days, "effective_from": rule.effective_from,
        "effective_to": rule.effective_to,
    }  # fmt: skip


def _same(stored: AgreementRule, given: RuleTerms) -> bool:
    """Whether a stored rule is the file's rule (its terms and its start)."""
    return (
        stored.practice, stored.direction, stored.basis, stored.percent, stored.floor,
        stored.ceiling, stored.flow, stored.trigger, stored.payout_delay_days,
        stored.effective_from,
    ) == (*given.same_terms, given.effective_from)  # fmt: skip


class CommissionService:
    """Agreements, replay and explanations against the store of ``factory``."""

    def __init__(
        self,
        factory: sessionmaker[Session],
        *,
        default_currency: str = "",
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self.factory = factory
        self.default_currency = default_currency
        self.clock = clock

    # --- agreements -------------------------------------------------------------------------

    def import_file(self, path: Path, *, actor: str) -> dict[str, Any]:
        """Store the agreement of ``path``: version 1 for a partner without one, else the
        current version brought to the file (rules added, open rules closed), and settle
        the partner's deals under it. Nothing is written when anything is refused."""
        return self._import(_read(path), str(path), actor=actor)

    def import_text(self, text: str, source: str, *, actor: str) -> dict[str, Any]:
        """:meth:`import_file` for an agreement given as text (``source`` names it in
        errors): an upload through the API, the demo."""
        return self._import(_parse(text, source), source, actor=actor)

    def _import(self, terms: AgreementTerms, path: str, *, actor: str) -> dict[str, Any]:
        now = self.clock()
        with transaction(self.factory) as session:
            self._partner(session, terms.partner, str(path))
            current = self._current(session, terms.partner)
            if current is None:
                agreement = Agreement(partner_id=terms.partner, name=terms.name, version=1,
                                      effective_from=terms.effective_from,
                                      effective_to=terms.effective_to)  # fmt: skip
                session.add(agreement)
                session.flush()
                added, closed = self._add_rules(session, agreement, terms.rules), 0
                action = "created"
            else:
                agreement = current
                if (terms.effective_from, terms.effective_to) != (
                    agreement.effective_from, agreement.effective_to,
                ):  # fmt: skip
                    raise ProgramError(
                        f"{path}: effective_from / effective_to differ from version "
                        f"{agreement.version}'s ({agreement.effective_from} to "
                        f"{agreement.effective_to or 'open'}): start a new version with "
                        f"`agreements amend {terms.partner} FILE --effective DATE`",
                        field="file",
                    )
                added, closed = self._bring_to(session, agreement, terms, str(path))
                agreement.name = terms.name
                action = "updated"
            record(session, AuditEntity.AGREEMENT, agreement.id, action, None,
                   {"partner_id": terms.partner, "version": agreement.version,
                    "rules_added": added, "rules_closed": closed, "file": str(path)},
                   None, actor, at=now)  # fmt: skip
            counts = self._settle_partner(session, terms.partner, now=now, actor=actor)
            return {**self._agreement_view(session, agreement), "rules_added": added,
                    "rules_closed": closed, "ledger": dict(counts)}  # fmt: skip

    def show(self, partner_id: str, *, as_of: date | None = None) -> dict[str, Any]:
        """The partner's agreement versions and their rules; with ``as_of``, only the
        version and the rules in force that day."""
        with self.factory() as session:
            self._partner(session, partner_id)
            versions = session.scalars(
                select(Agreement).where(Agreement.partner_id == partner_id)
                .order_by(Agreement.version)
            ).all()  # fmt: skip
            if not versions:
                raise NotFound(f"partner {partner_id!r} has no agreement", field="partner_id")
            shown = []
            for agreement in versions:
                view = self._agreement_view(session, agreement)
                if as_of is not None:
                    if not _in_force(agreement.effective_from, agreement.effective_to, as_of):
                        continue
                    view["rules"] = [
                        r for r in view["rules"]
                        if _in_force(r["effective_from"], r["effective_to"], as_of)
                    ]  # fmt: skip
                shown.append(view)
            return {"partner_id": partner_id, "as_of": as_of, "versions": shown}

    def amend(
        self, partner_id: str, path: Path, *, effective: date, actor: str, dry_run: bool = False
    ) -> dict[str, Any]:
        """Version n + 1 of the partner's agreement from ``path``, in force from
        ``effective``; version n ends that day and is frozen. Returns the deals whose
        ledger changes, deal by deal (and, without ``dry_run``, what was written)."""
        terms = _read(path)
        if terms.partner != partner_id:
            raise ProgramError(
                f"{path}: partner {terms.partner!r} is not {partner_id!r}", field="file"
            )
        now = self.clock()
        with transaction(self.factory) as session:
            self._partner(session, partner_id, str(path))
            current = self._current(session, partner_id)
            if current is None:
                raise NotFound(
                    f"partner {partner_id!r} has no agreement to amend: import one first",
                    field="partner_id",
                )
            if effective <= current.effective_from:
                raise ProgramError(
                    f"--effective {effective} must be after version {current.version}'s "
                    f"start ({current.effective_from})", field="effective",
                )  # fmt: skip
            if current.effective_to is not None and effective > current.effective_to:
                raise ProgramError(
                    f"--effective {effective} is after version {current.version}'s end "
                    f"({current.effective_to})", field="effective",
                )  # fmt: skip
            clipped = _from(terms, effective)
            old_rules = partner_rules(session, [partner_id])[partner_id]
            kept = [_ending(r, effective) for r in old_rules]
            new_rules = [
                replace(r, id=-(i + 1), version=current.version + 1)
                for i, r in enumerate(clipped.rules)
            ]
            proposed = {partner_id: [r for r in kept if r is not None] + new_rules}
            touched = self._partner_deals(session, partner_id, since=effective)
            _, changes = settle(session, touched, now=now, actor=actor, rules=proposed,
                                default_currency=self.default_currency, dry_run=True)  # fmt: skip
            preview = [_change_view(deal, due, moves) for deal, due, moves in changes]
            result: dict[str, Any] = {"partner_id": partner_id, "version": current.version + 1,
                                      "effective": effective, "dry_run": dry_run,
                                      "deals": preview}  # fmt: skip
            if dry_run:
                return result  # nothing was written: the block commits nothing
            current.effective_to = effective
            current.frozen = True
            agreement = Agreement(partner_id=partner_id, name=clipped.name,
                                  version=current.version + 1, effective_from=effective,
                                  effective_to=clipped.effective_to)  # fmt: skip
            session.add(agreement)
            session.flush()
            self._add_rules(session, agreement, clipped.rules)
            record(session, AuditEntity.AGREEMENT, current.id, "frozen",
                   {"frozen": False}, {"frozen": True, "effective_to": effective},
                   f"amended by version {agreement.version}", actor, at=now)  # fmt: skip
            record(session, AuditEntity.AGREEMENT, agreement.id, "created", None,
                   {"partner_id": partner_id, "version": agreement.version,
                    "effective_from": effective, "file": str(path)}, None, actor,
                   at=now)  # fmt: skip
            counts, _ = settle(session, touched, now=now, actor=actor,
                               default_currency=self.default_currency)  # fmt: skip
            result["ledger"] = dict(counts)
            return result

    def close_rule(self, rule_id: int, *, on: date, actor: str) -> dict[str, Any]:
        """End one rule on ``on`` (its ``effective_to``); refused on a frozen version."""
        now = self.clock()
        with transaction(self.factory) as session:
            rule = session.get(AgreementRule, rule_id)
            if rule is None:
                raise NotFound(f"no agreement rule {rule_id}", field="rule_id")
            agreement = rule.agreement
            self._editable(agreement)
            if rule.effective_to is not None and rule.effective_to <= on:
                raise Conflict(f"rule #{rule_id} already ended on {rule.effective_to}")
            if on < rule.effective_from:
                raise ProgramError(f"rule #{rule_id} starts on {rule.effective_from}, after {on}")
            before = rule.effective_to
            rule.effective_to = on
            record(session, AuditEntity.AGREEMENT_RULE, rule.id, "closed",
                   {"effective_to": before}, {"effective_to": on}, None, actor,
                   at=now)  # fmt: skip
            self._settle_partner(session, agreement.partner_id, now=now, actor=actor)
            return _rule_view(rule)

    # --- the ledger -------------------------------------------------------------------------

    def replay(
        self,
        *,
        partner_id: str | None = None,
        since: date | None = None,
        actor: str,
        workers: int | None = None,
    ) -> dict[str, int]:
        """Bring every partner deal's ledger (of ``partner_id``, triggered on or after
        ``since``) to what the rules say, writing only the correcting rows; a second run
        writes nothing. One transaction per few thousand deals; on PostgreSQL ``workers``
        of them (default 2) at once, on connections of their own, so one chunk's rows are
        worked out while the store writes another's (a chunk's deals are no other's, and
        a chunk is all or nothing, as is every one before a failure)."""
        if partner_id is not None:
            checked_id(partner_id, "partner")
            with self.factory() as session:
                self._partner(session, partner_id)
        if workers is None:
            workers = _REPLAY_WORKERS if self._on_postgresql() else 1
        if workers < 1:
            raise ProgramError(f"workers: at least 1 (not {workers})")
        totals: Counter[str] = Counter()

        def settled(ids: list[int]) -> Counter[str]:
            with transaction(self.factory) as session:
                counts, _ = settle(session, ids, now=self.clock(), actor=actor,
                                   default_currency=self.default_currency)  # fmt: skip
                return counts

        chunks = self._replay_chunks(partner_id, since)
        # A replay makes and drops a few hundred thousand objects; the collector's full
        # passes over all else the process holds were a fifth of its time.
        with garbage_collector_spares_existing():
            self._settle_chunks(chunks, settled, workers, totals)
        totals.setdefault("deals", 0)
        written = sum(totals[k] for k in ("accrual", "adjustment", "reversal"))
        if written >= _ANALYZE_AFTER and self._on_postgresql():
            # The planner's picture of the ledger, now rather than when the autovacuum
            # comes by: a report read just after a first replay otherwise sorts the
            # ledger it takes for a few thousand rows on disk (twice as slow). It samples
            # a bounded number of rows whatever the ledger's size (0.45 s at 100,000).
            # The payouts' and the outbox's statements are planned well without (and
            # their analysis cost a further second).
            with transaction(self.factory) as session:
                session.execute(text(f"ANALYZE {LedgerEntry.__tablename__}"))
        return {**totals, "rows_written": written}

    @staticmethod
    def _settle_chunks(
        chunks: Iterator[list[int]],
        settled: Callable[[list[int]], Counter[str]],
        workers: int,
        totals: Counter[str],
    ) -> None:
        """``settled`` on each chunk, ``workers`` at once, their counts added up in order."""
        if workers == 1:  # here, in this thread (an in-memory SQLite is one connection)
            for ids in chunks:
                totals.update(settled(ids))
            return
        with ThreadPoolExecutor(workers, thread_name_prefix="replay") as pool:
            running: deque[Future[Counter[str]]] = deque()
            try:
                for ids in chunks:
                    running.append(pool.submit(settled, ids))
                    if len(running) >= workers:
                        totals.update(running.popleft().result())
                while running:
                    totals.update(running.popleft().result())
            finally:
                for future in running:
                    future.cancel()

    def _replay_chunks(self, partner_id: str | None, since: date | None) -> Iterator[list[int]]:
        """The ids of the deals a replay settles, a chunk at a time, in id order."""
        last = 0
        while True:
            with self.factory() as session:
                query = (
                    select(Opportunity.id)
                    .where(Opportunity.id > last, or_(
                        Opportunity.partner_id.is_not(None),
                        Opportunity.id.in_(select(LedgerEntry.opportunity_id)),
                    ))
                    .order_by(Opportunity.id)
                    .limit(_REPLAY_CHUNK)
                )  # fmt: skip
                ids = list(session.scalars(query.where(*_deal_filter(partner_id, since))))
            if not ids:
                return
            yield ids
            last = ids[-1]

    def explain(self, crm_id: str, *, crm: str | None = None) -> dict[str, Any]:
        """How a deal's commission is computed (agreement version, rule, basis, percent,
        clamp, rounding) and every ledger row and payout it has."""
        with self.factory() as session:
            deal = self._deal(session, crm_id, crm)
            return explanation(session, deal, self.default_currency)

    # --- helpers ----------------------------------------------------------------------------

    def _on_postgresql(self) -> bool:
        bind = self.factory.kw.get("bind")
        return bind is not None and bind.dialect.name == "postgresql"

    @staticmethod
    def _partner(session: Session, partner_id: str, source: str | None = None) -> Partner:
        checked_id(partner_id, "partner")
        partner = session.get(Partner, partner_id)
        if partner is None:
            where = f"{source}: partner: " if source else ""
            raise NotFound(f"{where}no partner {partner_id!r}", field="partner_id")
        return partner

    @staticmethod
    def _current(session: Session, partner_id: str) -> Agreement | None:
        return session.scalars(
            select(Agreement).where(Agreement.partner_id == partner_id)
            .order_by(Agreement.version.desc()).limit(1)
        ).first()  # fmt: skip

    @staticmethod
    def _editable(agreement: Agreement) -> None:
        if agreement.frozen:
            raise AgreementFrozen(
                f"agreement {agreement.partner_id} version {agreement.version} is frozen "
                f"(superseded by an amendment): change the current version instead"
            )

    def _add_rules(self, session: Session, agreement: Agreement, rules: Sequence[RuleTerms]) -> int:
        self._editable(agreement)
        for rule in rules:
            session.add(AgreementRule(
                agreement_id=agreement.id, practice=rule.practice, direction=rule.direction,
                basis=rule.basis, percent=rule.percent, floor=rule.floor, ceiling=rule.ceiling,
                flow=rule.flow, trigger=rule.trigger, payout_delay_days=rule.payout_delay_days,
                effective_from=rule.effective_from, effective_to=rule.effective_to,
            ))  # fmt: skip
        session.flush()
        return len(rules)

    def _bring_to(
        self, session: Session, agreement: Agreement, terms: AgreementTerms, source: str
    ) -> tuple[int, int]:
        """Bring ``agreement``'s rules to the file's: each stored rule must be in the file
        (its terms and start), open or closed; the file may close an open one and add new
        ones. Returns (added, closed)."""
        self._editable(agreement)
        stored = list(agreement.rules)
        unmatched = list(range(len(terms.rules)))
        closing: list[tuple[AgreementRule, date]] = []
        for rule in stored:
            match = next((i for i in unmatched if _same(rule, terms.rules[i])), None)
            if match is None:
                raise ProgramError(
                    f"{source}: rule #{rule.id} (practice {rule.practice!r}, direction "
                    f"{rule.direction.value}, from {rule.effective_from}) is missing or "
                    f"changed: stored rules are never edited in place; close it with "
                    f"effective_to and add the new terms as a new rule", field="file",
                )  # fmt: skip
            unmatched.remove(match)
            wanted = terms.rules[match].effective_to
            if wanted == rule.effective_to:
                continue
            if rule.effective_to is not None:
                raise ProgramError(
                    f"{source}: rules[{match}]: rule #{rule.id} already ended on "
                    f"{rule.effective_to}; its end is not moved", field="file",
                )  # fmt: skip
            assert wanted is not None
            closing.append((rule, wanted))
        for rule, on in closing:
            rule.effective_to = on
        added = [terms.rules[i] for i in unmatched]
        self._add_rules(session, agreement, added)
        all_rules = [rule_terms(r, agreement.version, agreement.effective_from, None)
                     for r in agreement.rules]  # fmt: skip
        if first_overlap([r for r in all_rules if r is not None]) is not None:
            raise ProgramError(f"{source}: rules overlap the stored ones", field="file")
        return len(added), len(closing)

    def _agreement_view(self, session: Session, agreement: Agreement) -> dict[str, Any]:
        session.flush()
        session.refresh(agreement, ["rules"])
        return {
            "id": agreement.id, "partner_id": agreement.partner_id, "name": agreement.name,
            "version": agreement.version, "effective_from": agreement.effective_from,
            "effective_to": agreement.effective_to, "frozen": agreement.frozen,
            "rules": [_rule_view(r) for r in agreement.rules],
        }  # fmt: skip

    def _partner_deals(
        self, session: Session, partner_id: str, *, since: date | None = None
    ) -> list[int]:
        return list(session.scalars(select(Opportunity.id).where(*_deal_filter(partner_id, since))))

    def _settle_partner(
        self, session: Session, partner_id: str, *, now: datetime, actor: str
    ) -> Counter[str]:
        session.flush()
        counts, _ = settle(session, self._partner_deals(session, partner_id), now=now,
                           actor=actor, default_currency=self.default_currency)  # fmt: skip
        return counts

    @staticmethod
    def _deal(session: Session, crm_id: str, crm: str | None) -> Opportunity:
        query = select(Opportunity).where(Opportunity.crm_id == crm_id)
        if crm is not None and crm != "all":
            try:
                query = query.where(Opportunity.crm == Crm(crm))
            except ValueError:
                raise ProgramError(f"crm: one of salesforce, hubspot (got {crm!r})") from None
        found = session.scalars(query).all()
        if not found:
            raise NotFound(f"no deal {crm_id!r} in the mirror", field="crm_id")
        if len(found) > 1:
            raise ProgramError(f"{crm_id} is a deal in more than one CRM: say which (--crm)")
        return found[0]


def _deal_filter(partner_id: str | None, since: date | None) -> list[ColumnElement[bool]]:
    """The deals of ``partner_id`` (named on the deal, or on its ledger rows) triggered on
    or after ``since``; no condition for what is ``None``."""
    found: list[ColumnElement[bool]] = []
    if partner_id is not None:
        found.append(or_(
            Opportunity.partner_id == partner_id,
            Opportunity.id.in_(select(LedgerEntry.opportunity_id)
                               .where(LedgerEntry.partner_id == partner_id)),
        ))  # fmt: skip
    if since is not None:
        found.append(or_(Opportunity.close_date >= since, Opportunity.paid_date >= since))
    return found


def _in_force(starts: date, ends: date | None, on: date) -> bool:
    return starts <= on and (ends is None or on < ends)


def _from(terms: AgreementTerms, effective: date) -> AgreementTerms:
    """An amendment's terms from ``effective`` on: rules ending before it dropped, rules
    starting before it starting on it."""
    rules = tuple(
        replace(rule, effective_from=max(rule.effective_from, effective))
        for rule in terms.rules
        if rule.effective_to is None or rule.effective_to > effective
    )
    if not rules:
        raise ProgramError(f"no rule of the file is in force on or after {effective}")
    return replace(terms, effective_from=effective, rules=rules)


def _ending(rule: RuleTerms, on: date) -> RuleTerms | None:
    """``rule`` as it stands once its version ends ``on``."""
    if rule.effective_from >= on:
        return None
    if rule.effective_to is not None and rule.effective_to <= on:
        return rule
    return replace(rule, effective_to=on)


def _change_view(deal: Any, due: Any, moves: Sequence[Any]) -> dict[str, Any]:
    return {
        "crm": deal.crm.value, "crm_id": deal.crm_id, "partner_id": deal.partner_id,
        "outcome": due.outcome.value, "rule_id": due.rule.id if due.rule else None,
        "currency": due.currency, "expected": due.amount if due.accrues else Decimal(0),
        "change": sum((m.amount for m in moves), Decimal(0)),
        "rows": [{"kind": m.kind.value, "amount": m.amount, "currency": m.currency,
                  "reason": m.reason} for m in moves],
    }  # fmt: skip


def explanation(session: Session, deal: Opportunity, default_currency: str) -> dict[str, Any]:
    """A deal's commission, computed and explained, with its ledger rows and payouts."""
    rules = partner_rules(session, [deal.partner_id] if deal.partner_id else [])
    due = commission(deal_of(deal, default_currency), rules.get(deal.partner_id or "", ()))
    rule = due.rule
    entries = session.scalars(
        select(LedgerEntry).where(LedgerEntry.opportunity_id == deal.id).order_by(LedgerEntry.id)
    ).all()
    payouts = session.scalars(
        select(Payout).where(Payout.opportunity_id == deal.id).order_by(Payout.id)
    ).all()
    net: dict[str, Decimal] = {}
    for entry in entries:
        net[entry.currency] = net.get(entry.currency, Decimal(0)) + entry.amount
    clamp = None
    if rule is not None and due.raw is not None and due.clamped not in (None, due.raw):
        clamp = "floor" if rule.floor is not None and due.clamped == rule.floor else "ceiling"
    return {
        "crm": deal.crm.value, "crm_id": deal.crm_id, "partner_id": deal.partner_id,
        "outcome": due.outcome.value,
        "agreement_version": rule.version if rule else None,
        "rule": _rule_view(rule) if rule else None,
        "trigger_date": due.trigger_date, "currency": due.currency,
        "basis": rule.basis.value if rule else None, "basis_amount": due.basis_amount,
        "percent": figure(rule.percent) if rule else None, "raw": due.raw, "clamped": due.clamped,
        "clamp": clamp, "amount": due.amount if due.accrues else None,
        "rounding": f"half-up to {due.currency}'s minor unit" if due.accrues else None,
        "due_on": due.due_on,
        "ledger": [{"id": e.id, "kind": e.kind.value, "amount": shown(e.amount, e.currency),
                    "currency": e.currency, "rule_id": e.agreement_rule_id,
                    "flow": e.flow.value, "reverses": e.reverses_entry_id, "reason": e.reason,
                    "key": e.idempotency_key, "occurred_at": e.occurred_at,
                    "created_at": e.created_at} for e in entries],
        "net": {currency: shown(amount, currency) for currency, amount in net.items()},
        "payouts": [{"id": p.id, "amount": shown(p.amount, p.currency), "currency": p.currency,
                     "status": p.status.value, "due_on": p.due_on,
                     "scheduled_for": p.scheduled_for, "paid_at": p.paid_at,
                     "reference": p.reference} for p in payouts],
    }  # fmt: skip
