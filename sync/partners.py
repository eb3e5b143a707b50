"""Partners and blocked accounts: add, import, list, show, deactivate; block and unblock.

Every change writes its audit row in the same transaction. Adding a partner (or giving it
a CRM account id) links, in one statement, the mirrored deals whose ``partner_ref``
already names it (by its id or its account id in that CRM, in any form the CRM writes
it), rather than on the next full pull; ``on_linked`` then handles those deals as the
mirror would (registrations from CRM deals).
"""

from __future__ import annotations

import csv
import io
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import func, or_, select, update
from sqlalchemy.orm import Session, sessionmaker

from connectors import id_aliases
from rules.matching import domain_key, name_key
from rules.registration import LIVE
from rules.vocabulary import BlockKind
from sync.audit import record
from sync.program import NotFound, ProgramError, checked_id, checked_text
from sync.settings import ProgramSettings
from sync.store import (
    AuditEntity,
    BlockedAccount,
    Crm,
    Opportunity,
    Partner,
    Registration,
    transaction,
)
from sync.store.lists import one_of

__all__ = [
    "PartnerInput",
    "PartnersFileError",
    "add_partner",
    "block_account",
    "blocked_accounts",
    "deactivate_partner",
    "import_partners",
    "list_partners",
    "partner_view",
    "show_partner",
    "unblock_account",
]

#: Called with the ids of opportunities just linked to a partner, in the same transaction.
OnLinked = Callable[[Session, Sequence[int]], None]
_CSV_COLUMNS = ("id", "name", "tier", "salesforce_account_id", "hubspot_company_id")


@dataclass(frozen=True)
class PartnerInput:
    """A partner as given on the command line or in a CSV line, not yet checked."""

    id: str
    name: str | None
    tier: str | None
    salesforce_account_id: str | None = None
    hubspot_company_id: str | None = None


class PartnersFileError(ProgramError):
    """A partners file with bad lines; :attr:`problems` lists each, with its line."""

    def __init__(self, source: str, problems: list[str]) -> None:
        super().__init__(f"{source}: {len(problems)} bad line(s); nothing imported")
        self.problems = problems


def partner_view(partner: Partner) -> dict[str, Any]:
    return {
        "id": partner.id,
        "name": partner.name,
        "tier": partner.tier,
        "salesforce_account_id": partner.salesforce_account_id,
        "hubspot_company_id": partner.hubspot_company_id,
        "active": partner.active,
        "created_at": partner.created_at,
    }


def _checked(given: PartnerInput, program: ProgramSettings) -> PartnerInput:
    tier = checked_text(given.tier, "tier", max_length=32)
    if tier not in program.protection_days:
        known = ", ".join(program.protection_days)
        raise ProgramError(f"tier: unknown tier {tier!r} (known tiers: {known})", field="tier")
    return PartnerInput(
        id=checked_id(given.id),
        name=checked_text(given.name, "name"),
        tier=tier,
        salesforce_account_id=checked_text(
            given.salesforce_account_id, "salesforce_account_id", max_length=64, required=False
        ),
        hubspot_company_id=checked_text(
            given.hubspot_company_id, "hubspot_company_id", max_length=64, required=False
        ),
    )


def _link_deals(session: Session, partner: Partner) -> list[int]:
    """Link the mirrored deals naming ``partner`` (and no partner yet): one statement."""
    names = [Opportunity.partner_ref == partner.id]
    for crm in Crm:
        account = getattr(partner, Partner.account_id_column(crm).key)
        if account:
            names.append(
                (Opportunity.crm == crm) & Opportunity.partner_ref.in_(id_aliases(crm, account))
            )
    linked = session.execute(
        update(Opportunity)
        .where(Opportunity.partner_id.is_(None), or_(*names))
        .values(partner_id=partner.id)
        .returning(Opportunity.id)
    )
    return list(linked.scalars())


def _taken(session: Session, given: PartnerInput) -> None:
    """Refuse a CRM account id another partner already has."""
    for crm in Crm:
        column = Partner.account_id_column(crm)
        account = getattr(given, column.key)
        if account:
            other = session.scalar(
                select(Partner.id).where(column == account, Partner.id != given.id)
            )
            if other is not None:
                raise ProgramError(
                    f"{column.key}: {account} is partner {other}'s already", field=column.key
                )


def _write(
    session: Session, given: PartnerInput, actor: str, on_linked: OnLinked | None
) -> tuple[Partner, bool, int]:
    """Insert or update one checked partner; (partner, created, deals linked)."""
    _taken(session, given)
    partner = session.get(Partner, given.id)
    fields = {
        "name": given.name,
        "tier": given.tier,
        "salesforce_account_id": given.salesforce_account_id,
        "hubspot_company_id": given.hubspot_company_id,
    }
    created = partner is None
    if partner is None:
        partner = Partner(id=given.id, active=True, **fields)
        session.add(partner)
        before = None
    else:
        before = {k: getattr(partner, k) for k in fields}
        for key, value in fields.items():
            setattr(partner, key, value)
    session.flush()
    after = {k: getattr(partner, k) for k in fields}
    if before != after:
        changed = {k: v for k, v in after.items() if before is None or before[k] != v}
        prior = None if before is None else {k: before[k] for k in changed}
        action = "add" if created else "update"
        record(session, AuditEntity.PARTNER, partner.id, action, prior, changed, None, actor)
    linked = _link_deals(session, partner)
    if linked and on_linked is not None:
        on_linked(session, linked)
    return partner, created, len(linked)


def add_partner(
    factory: sessionmaker[Session],
    given: PartnerInput,
    program: ProgramSettings,
    *,
    actor: str,
    on_linked: OnLinked | None = None,
) -> dict[str, Any]:
    """Add a partner; ``ProgramError`` if its id exists or its input is bad. The view
    says how many mirrored deals were linked to it."""
    checked = _checked(given, program)
    with transaction(factory) as session:
        if session.get(Partner, checked.id) is not None:
            raise ProgramError(
                f"partner {checked.id} exists (partners import updates partners)",
                code="exists", field="id",
            )  # fmt: skip
        partner, _, linked = _write(session, checked, actor, on_linked)
        return {**partner_view(partner), "deals_linked": linked}


def import_partners(
    factory: sessionmaker[Session],
    path: str | Path,
    program: ProgramSettings,
    *,
    actor: str,
    on_linked: OnLinked | None = None,
) -> dict[str, int]:
    """Upsert every partner of a CSV file (header: id, name, tier, salesforce_account_id,
    hubspot_company_id), all or nothing: :class:`PartnersFileError` lists every bad line."""
    source = str(path)
    try:
        text = Path(path).read_text(encoding="utf-8-sig")
    except OSError as exc:
        raise ProgramError(f"{source}: cannot read: {exc.strerror}") from None
    except UnicodeDecodeError:
        raise ProgramError(f"{source}: not UTF-8 text") from None
    rows, problems = _parse_csv(text)
    checked: list[PartnerInput] = []
    seen: dict[str, int] = {}
    for line, row in rows:
        try:
            one = _checked(PartnerInput(id=row.get("id") or "", **_optional(row)), program)
        except ProgramError as exc:
            problems.append(f"line {line}: {exc}")
            continue
        if one.id in seen:
            problems.append(f"line {line}: id: {one.id} is on line {seen[one.id]} too")
            continue
        seen[one.id] = line
        checked.append(one)
    if problems:
        raise PartnersFileError(source, problems)
    counts = {"created": 0, "updated": 0, "deals_linked": 0}
    with transaction(factory) as session:
        for given in checked:
            try:
                _, created, linked = _write(session, given, actor, on_linked)
            except ProgramError as exc:  # e.g. an account id another partner has
                raise PartnersFileError(source, [f"line {seen[given.id]}: {exc}"]) from None
            counts["created" if created else "updated"] += 1
            counts["deals_linked"] += linked
    return counts


def _optional(row: Mapping[str, str | None]) -> dict[str, str | None]:
    return {k: row.get(k) for k in _CSV_COLUMNS if k != "id"}


def _parse_csv(text: str) -> tuple[list[tuple[int, dict[str, str | None]]], list[str]]:
    reader = csv.DictReader(io.StringIO(text, newline=""))
    header = reader.fieldnames or []
    problems: list[str] = []
    missing = [c for c in ("id", "name", "tier") if c not in header]
    unknown = [c for c in header if c not in _CSV_COLUMNS]
    if missing or unknown:
        what = []
        if missing:
            what.append(f"missing column(s) {', '.join(missing)}")
        if unknown:
            what.append(f"unknown column(s) {', '.join(map(repr, unknown))}")
        problems.append(f"line 1: {'; '.join(what)} (columns: {', '.join(_CSV_COLUMNS)})")
        return [], problems
    rows: list[tuple[int, dict[str, str | None]]] = []
    try:
        for row in reader:
            line = reader.line_num
            if None in row:
                problems.append(f"line {line}: more values than columns")
                continue
            rows.append((line, {k: (v if v is not None else None) for k, v in row.items()}))
    except csv.Error as exc:
        problems.append(f"line {reader.line_num}: not CSV: {exc}")
    if not rows and not problems:
        problems.append("line 2: no partners in the file")
    return rows, problems


def list_partners(factory: sessionmaker[Session]) -> list[dict[str, Any]]:
    with factory() as session:
        return [partner_view(p) for p in session.scalars(select(Partner).order_by(Partner.id))]


def show_partner(factory: sessionmaker[Session], partner_id: str) -> dict[str, Any]:
    """One partner with its deal and registration counts."""
    with factory() as session:
        partner = session.get(Partner, partner_id)
        if partner is None:
            raise NotFound(f"no partner {partner_id!r}", field="id")
        deals = session.scalar(
            select(func.count())
            .select_from(Opportunity)
            .where(Opportunity.partner_id == partner.id)
        )
        by_status = dict(
            session.execute(
                select(Registration.status, func.count())
                .where(Registration.partner_id == partner.id)
                .group_by(Registration.status)
            )
            .tuples()
            .all()
        )
        live = sum(n for status, n in by_status.items() if status in LIVE)
        return {
            **partner_view(partner),
            "deals": deals or 0,
            "registrations": {str(k.value): v for k, v in sorted(by_status.items())},
            "live_registrations": live,
        }


def deactivate_partner(
    factory: sessionmaker[Session], partner_id: str, *, actor: str, reason: str | None = None
) -> dict[str, Any]:
    """A deactivated partner registers nothing new; what it holds stays until decided."""
    with transaction(factory) as session:
        partner = session.get(Partner, partner_id)
        if partner is None:
            raise NotFound(f"no partner {partner_id!r}", field="id")
        if partner.active:
            partner.active = False
            partner.deactivated_at = datetime.now(UTC)
            record(session, AuditEntity.PARTNER, partner.id, "deactivate", {"active": True},
                   {"active": False}, reason, actor)  # fmt: skip
        return partner_view(partner)


# --- blocked accounts ----------------------------------------------------------------------


def _block_view(block: BlockedAccount) -> dict[str, Any]:
    return {
        "domain": block.domain,
        "name": block.name,
        "kind": block.kind.value,
        "reason": block.reason,
        "created_at": block.created_at,
    }


def _domain(value: str) -> str:
    key = domain_key(checked_text(value, "domain"))
    if key is None:
        raise ProgramError(
            f"domain: {value!r} names no customer domain (an IP, a bare word, or free mail)",
            field="domain",
        )
    return key


def block_account(
    factory: sessionmaker[Session],
    *,
    domain: str,
    kind: str,
    name: str | None = None,
    reason: str | None = None,
    actor: str,
) -> dict[str, Any]:
    """Block a customer (by its registrable domain, and its name if given) as a house
    account or do-not-contact; blocking it again changes kind, name and reason."""
    try:
        block_kind = BlockKind(kind)
    except ValueError:
        allowed = ", ".join(k.value for k in BlockKind)
        raise ProgramError(f"kind: one of {allowed} (got {kind!r})", field="kind") from None
    key = _domain(domain)
    shown_name = checked_text(name, "name", required=False)
    why = checked_text(reason, "reason", max_length=2000, required=False)
    with transaction(factory) as session:
        block = session.scalar(select(BlockedAccount).where(BlockedAccount.domain == key))
        before = None if block is None else _block_view(block)
        if block is None:
            block = BlockedAccount(domain=key)
            session.add(block)
        block.name = shown_name
        block.name_key = name_key(shown_name)
        block.kind = block_kind
        block.reason = why
        session.flush()
        after = _block_view(block)
        record(session, AuditEntity.BLOCKED_ACCOUNT, key, "block",
               None if before is None else {k: before[k] for k in ("name", "kind", "reason")},
               {k: after[k] for k in ("name", "kind", "reason")}, why, actor)  # fmt: skip
        return after


def unblock_account(factory: sessionmaker[Session], *, domain: str, actor: str) -> dict[str, Any]:
    key = _domain(domain)
    with transaction(factory) as session:
        block = session.scalar(select(BlockedAccount).where(BlockedAccount.domain == key))
        if block is None:
            raise NotFound(f"{key} is not blocked", field="domain")
        view = _block_view(block)
        session.delete(block)
        record(session, AuditEntity.BLOCKED_ACCOUNT, key, "unblock",
               {k: view[k] for k in ("name", "kind", "reason")}, None, None, actor)  # fmt: skip
        return view


def blocked_accounts(factory: sessionmaker[Session]) -> list[dict[str, Any]]:
    with factory() as session:
        rows = session.scalars(select(BlockedAccount).order_by(BlockedAccount.domain))
        return [_block_view(b) for b in rows]


def blocks_for(
    session: Session, domain_keys: Iterable[str], name_keys: Iterable[str], dialect: str = ""
) -> list[BlockedAccount]:
    """The blocked accounts on any of these keys: one indexed query (long lists written
    for ``dialect``, see :func:`sync.store.lists.one_of`)."""
    domains, names = list(set(domain_keys)), list(set(name_keys))
    if not domains and not names:
        return []
    return list(
        session.scalars(
            select(BlockedAccount).where(
                or_(
                    one_of(BlockedAccount.domain, domains, dialect),
                    one_of(BlockedAccount.name_key, names, dialect),
                )
            )
        )
    )


def partner_facts(session: Session, partner_ids: Iterable[str]) -> Mapping[str, Partner]:
    """The partners of these ids: one query."""
    wanted = list(set(partner_ids))
    if not wanted:
        return {}
    return {p.id: p for p in session.scalars(select(Partner).where(Partner.id.in_(wanted)))}
