"""``partnersync demo``: an embedded run on the CRM sandbox that prints what happened.

It starts a seeded sandbox in-process, points both CRM connectors at it, and runs the sync
cycle (:class:`~sync.cycle.Cycle`) against a store of its own: a temporary SQLite file,
so a rerun tells the same story and the user's ``partnersync.db`` is never touched. It
mirrors every opportunity / deal, changes a few records "in the CRM" and mirrors again
incrementally. Then it exercises the write-back: it stages a registration status and
protection date for every partner deal (what the registration service of a later version
will do through the same function), pushes them in batches, shows that the next pull sees
only its own writes, and that a field edited by hand in the CRM is restored and audited,
naming the rep. Partners sign the example agreement, the pulls accrue their closed-won
deals, finance approves and bulk pays ACME's payouts, the CRM shows them paid and the
year's summary is reported. A partner key and an admin key go through the HTTP API. Then
the daemon takes over (what ``partnersync run`` runs, in this process): after a few edits
in the CRM (a deal won, a rival's deal, a rep typing over a synced field) it reacts on its
own, and the CRM shows the commission, the conflict and the restored field. CRM field
names come from the mapping files, never from this code. It grows with the product.
"""

from __future__ import annotations

import tempfile
import time
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import cast

from sqlalchemy import func, select

from sandbox import PARTNERS, Api, Sandbox, SandboxServer, seed_sandbox
from sync.commissions import CommissionService
from sync.crm import links
from sync.cycle import Cycle
from sync.mirror.pull import PullReport
from sync.partners import PartnerInput, add_partner
from sync.payouts import PayoutService
from sync.registrations import RegistrationService
from sync.reports import run_report
from sync.settings import Settings, redact_url
from sync.store import (
    AuditEntry,
    CoSellDirection,
    DealCreate,
    Opportunity,
    Registration,
    current_revision,
    ensure_schema,
    make_engine,
    session_factory,
)

__all__ = ["run_demo"]

SHIPPED_MAPPINGS = Path(__file__).resolve().parents[1] / "mappings"
EXAMPLE_AGREEMENT = Path(__file__).resolve().parents[1] / "examples" / "acme-agreement.toml"
#: The sales rep (sandbox user number) who edits a synced field by hand.
REP = 7


def _line(report: PullReport) -> str:
    return (
        f"{report.read:,} read, {report.upserted:,} stored, {report.unchanged:,} unchanged, "
        f"{report.deleted:,} deleted, {report.quarantined:,} quarantined, "
        f"{report.api_calls:,} API calls, {report.seconds:.2f} s"
    )


def _mapping(configured: Path) -> Path:
    """The configured mapping, or the shipped one when run outside the project folder."""
    return configured if configured.exists() else SHIPPED_MAPPINGS / configured.name


@contextmanager
def _store(url: str | None) -> Iterator[str]:
    """``url``, or a SQLite file in a temporary folder removed afterwards."""
    if url is not None:
        yield url
        return
    with tempfile.TemporaryDirectory(prefix="partnersync-demo-") as folder:
        yield f"sqlite:///{Path(folder) / 'demo.db'}"


def _on_sandbox(settings: Settings, url: str) -> Settings:
    """The settings, their CRMs pointed at the sandbox served at ``url``; HubSpot's
    archived deals are listed on every pull, so the story shows a deletion at once."""
    return settings.model_copy(
        update={
            "salesforce": settings.salesforce.model_copy(
                update={
                    "instance_url": url,
                    "auth": "session",
                    "mapping": _mapping(settings.salesforce.mapping),
                }
            ),
            "hubspot": settings.hubspot.model_copy(
                update={"base_url": url, "mapping": _mapping(settings.hubspot.mapping)}
            ),
            "sync": settings.sync.model_copy(update={"deletes_check_seconds": 0}),
            # The story shows a deal created for an approved registration.
            "program": settings.program.model_copy(update={"create_deals_on_approval": True}),
        }
    )


def run_demo(
    settings: Settings,
    *,
    records: int,
    echo: Callable[[str], None],
    store_url: str | None = None,
) -> None:
    """Run the demo against an in-process sandbox seeded with ``records`` per CRM, in the
    store at ``store_url`` (default: a temporary one)."""
    with _store(store_url) as url:
        _run(settings, url, records, echo, temporary=store_url is None)


def _run(
    settings: Settings, url: str, records: int, echo: Callable[[str], None], *, temporary: bool
) -> None:
    ensure_schema(url)
    kept = " (temporary: removed at the end)" if temporary else ""
    echo(f"1. store ready: {redact_url(url)} at revision {current_revision(url)}{kept}")
    engine = make_engine(url)
    factory = session_factory(engine)
    started = time.perf_counter()
    box = Sandbox()
    seed_sandbox(box, records)
    try:
        with SandboxServer(box) as server:
            echo(
                f"2. CRM sandbox on {server.url}: {box.salesforce.count()} Salesforce "
                f"opportunities and {box.hubspot.count()} HubSpot deals, {len(PARTNERS)} "
                f"partner accounts each (seeded in {time.perf_counter() - started:.2f} s)"
            )
            local = _on_sandbox(settings, server.url)
            cycle = Cycle(local, factory, configured=links(local, "all"))
            repriced, expired = _story(cycle, box, echo)
        _summary(cycle, repriced, expired, echo)
    finally:
        engine.dispose()
    echo(
        "next: `partnersync sync` mirrors, registers, accrues and pushes against your "
        "configured CRMs; `partnersync partners`, `registrations`, `agreements`, `payouts`, "
        "`report` and `deals` do what this demo did by hand; `partnersync api` serves the "
        "HTTP API (keys: `partnersync api-keys`); `partnersync run` is the daemon (and "
        "`partnersync status` what it is doing)."
    )


def _partners(cycle: Cycle, box: Sandbox, echo: Callable[[str], None]) -> None:
    """The sandbox's partner accounts become partnersync's partners, CRM ids and all."""
    for partner in PARTNERS:
        accounts: dict[str, str | None] = {"salesforce": None, "hubspot": None}
        for link in cycle:
            crm = cast(Api, link.connector.crm)
            accounts[crm] = box.partner_account(crm, partner.name)
        given = PartnerInput(partner.key, partner.name, partner.tier, accounts["salesforce"],
                             accounts["hubspot"])  # fmt: skip
        add_partner(cycle.factory, given, cycle.settings.program, actor="demo")
    tiers = Counter(p.tier for p in PARTNERS)
    echo(
        f"3. {len(PARTNERS)} partners added from the CRMs' partner accounts "
        f"({', '.join(f'{n} {t}' for t, n in sorted(tiers.items()))}), their CRM ids with them"
    )


def _agreements(cycle: Cycle, echo: Callable[[str], None]) -> None:
    """Every partner signs the example agreement (examples/acme-agreement.toml)."""
    text = EXAMPLE_AGREEMENT.read_text(encoding="utf-8")
    currency = cycle.settings.program.default_currency
    service = CommissionService(cycle.factory, default_currency=currency)
    for partner in PARTNERS:
        own = text.replace('partner = "ACME"', f'partner = "{partner.key}"', 1)
        service.import_text(own, f"{EXAMPLE_AGREEMENT.name} ({partner.key})", actor="demo")
    rules = service.show("ACME")["versions"][0]["rules"]
    echo(
        f"   each signed the example agreement ({EXAMPLE_AGREEMENT.name}: {len(rules)} rules, "
        f"e.g. {rules[0]['percent']} % of the amount of the deals they source, floor "
        f"{rules[0]['floor']}, ceiling {rules[0]['ceiling']}, in force from "
        f"{rules[0]['effective_from']})"
    )


def _accrued(report: PullReport) -> str:
    accrued = report.handled.get("ledger_accrual", 0)
    return f"; {accrued:,} closed-won deals accrued commission" if accrued else ""


def _registered(report: PullReport) -> str:
    made = {k.removeprefix("registered_"): n for k, n in report.handled.items()
            if k.startswith("registered_")}  # fmt: skip
    if not made:
        return ""
    parts = ", ".join(f"{n:,} {state}" for state, n in sorted(made.items()))
    closed = report.handled.get("closed", 0)
    return f"; registered {sum(made.values()):,} partner deals ({parts}), {closed:,} of them closed"


def _story(cycle: Cycle, box: Sandbox, echo: Callable[[str], None]) -> tuple[str | None, int]:
    """Steps 3 to 13; returns the CRM id of the opportunity re-priced in the CRM (if any)
    and the number of the registration that expired."""
    _partners(cycle, box, echo)
    _agreements(cycle, echo)
    for link in cycle:
        report = cycle.pull(link, full=True)
        echo(f"4. mirrored {link.connector.crm} {link.mapping.object}: {_line(report)}"
             f"{_registered(report)}{_accrued(report)}")  # fmt: skip

    # The story's edits happen in the first configured CRM, through its mapping's names.
    told = cycle.links[0]
    crm, obj = cast(Api, told.connector.crm), told.mapping.object
    repriced = None
    amount = told.mapping.inbound.get("amount")
    if amount is not None:
        repriced, deleted = box.record_ids(crm, obj)[:2]
        box.edit(crm, obj, repriced, {amount.crm_field: Decimal("4242.42")}, user=REP)
        box.delete(crm, obj, deleted)
        echo(f"5. in the CRM ({crm}): one {obj} record re-priced to 4242.42, one deleted")
    for link in cycle:
        echo(f"6. incremental {link.connector.crm}: {_line(cycle.pull(link))}")

    # Two partners work the same new customer; each rep logs a deal naming the partner.
    customer = box.add_customer(crm, "Globex Industries", "globex-industries.com")
    deals = {
        key: box.add_deal(crm, name=f"Globex Industries - {key.title()} pilot", customer=customer,
                          partner=box.partner_account(crm, name), amount=Decimal("48000"))
        for key, name in (("ACME", "Acme Cloud Partners"), ("BLUEFIN", "Bluefin Systems"))
    }  # fmt: skip
    cycle.pull(told)
    regs = RegistrationService(cycle.factory, cycle.settings.program)
    listed = {r["partner_id"]: r for r in regs.list(status="pending", limit=10_000)
              if r["customer_name"] == "Globex Industries"}  # fmt: skip
    approved = regs.approve(listed["ACME"]["id"], actor="demo:partner-manager")
    rival = regs.get(listed["BLUEFIN"]["id"])
    echo(
        f"7. ACME and BLUEFIN each logged a deal on Globex Industries; both were registered "
        f"from the CRM; a partner manager approved ACME's (protected until "
        f"{approved['protected_until']}), and BLUEFIN's turned {rival['status']} "
        f"({rival['reason']}, held by registration {rival['conflict_with']})"
    )
    for link in cycle:
        pushed = cycle.push(link)
        echo(
            f"8. pushed to {link.connector.crm}: {pushed.sent:,} records in "
            f"{pushed.api_calls:,} API calls ({link.connector.write_batch_size} a call), "
            f"{pushed.done:,} done, {pushed.rejected:,} rejected"
        )
    status = told.mapping.outbound_for("registration.status")
    holder = told.mapping.outbound_for("registration.conflict_partner_id")
    if status is not None:
        shows = {k: box.value(crm, obj, d, status.crm_field) for k, d in deals.items()}
        held = box.value(crm, obj, deals["BLUEFIN"], holder.crm_field) if holder else None
        echo(f"9. the CRM shows ACME's deal {shows['ACME']}, BLUEFIN's {shows['BLUEFIN']}"
             + (f" (held by {held})" if held else ""))  # fmt: skip
    for link in cycle:
        report = cycle.pull(link)
        again = cycle.push(link)
        echo(
            f"10. next pull of {link.connector.crm} reads our own writes back "
            f"({report.read:,} records): {report.drifted} drifted, and the push after it "
            f"needs {again.api_calls} API calls"
        )

    if status is not None:
        rejected = (status.values or {}).get("rejected", "rejected")
        box.edit(crm, obj, deals["ACME"], {status.crm_field: rejected}, user=REP)
        report = cycle.pull(told)
        restore = cycle.push(told)
        shown = box.value(crm, obj, deals["ACME"], status.crm_field)
        echo(
            f"11. {_editor(cycle)}, a sales rep, set ACME's Globex deal to {rejected} by hand: "
            f"the pull saw {report.drifted} drifted record, the push restored it in "
            f"{restore.api_calls} call (now {shown})"
        )

    day_after = approved["protected_until"] + timedelta(days=1)
    ended = regs.expire_due(as_of=day_after, actor="demo:expire-due")
    cycle.push(told)
    now_shows = box.value(crm, obj, deals["ACME"], status.crm_field) if status else None
    echo(
        f"12. expire-due as of {day_after}: {len(ended):,} protection(s) ended, ACME's on "
        f"Globex Industries among them; after a push the CRM shows {now_shows}"
    )
    _created(cycle, regs, box, echo)
    _paid(cycle, box, echo)
    _api(cycle, echo)
    _daemon(cycle, box, echo)
    return repriced, approved["id"]


def _api(cycle: Cycle, echo: Callable[[str], None]) -> None:
    """The HTTP API on a local port: a partner key submits, an admin key approves, and
    the partner cannot see another partner's registration."""
    import requests

    from sync.api.app import create_app
    from sync.api.keys import create_key
    from sync.api.serve import serving

    partner = create_key(cycle.factory, partner_id="BLUEFIN", name="portal", actor="demo")[1]
    admin = create_key(cycle.factory, admin=True, name="partner-manager", actor="demo")[1]
    app = create_app(cycle.settings, factory=cycle.factory)
    hooli = {"customer_name": "Hooli", "customer_domain": "hooli.com", "amount": "52000.00",
             "currency": "USD"}  # fmt: skip
    as_partner = {"Authorization": f"Bearer {partner}"}
    once = {**as_partner, "Idempotency-Key": "demo-hooli"}
    theirs = RegistrationService(cycle.factory, cycle.settings.program).list(
        partner_id="ACME", limit=1
    )
    with serving(app) as base, requests.Session() as http:
        made = http.post(f"{base}/v1/registrations", json=hooli, headers=once, timeout=30)
        again = http.post(f"{base}/v1/registrations", json=hooli, headers=once, timeout=30)
        number = made.json()["id"]
        decided = http.post(f"{base}/v1/registrations/{number}/approve", timeout=30,
                            headers={"Authorization": f"Bearer {admin}"},
                            json={"reason": "strong fit"})  # fmt: skip
        peek = None
        if theirs:
            peek = http.get(f"{base}/v1/registrations/{theirs[0]['id']}", headers=as_partner,
                            timeout=30)  # fmt: skip
    echo(
        f"16. the HTTP API on {base}: BLUEFIN's key (ps_{partner[3:11]}) submitted Hooli "
        f"({made.status_code} {made.json()['status']}; sent again with the same "
        f"Idempotency-Key: {again.status_code}, registration {again.json()['id']} again), "
        f"an admin key approved it ({decided.status_code} {decided.json()['status']}, "
        f"protected until {decided.json()['protected_until']})"
        + (
            f"; ACME's registration {theirs[0]['id']} is {peek.status_code} for BLUEFIN's key"
            if theirs and peek is not None
            else ""
        )
    )


def _settled(cycle: Cycle, since: datetime) -> bool:
    """Every CRM pulled after ``since`` and pushed after that pull, nothing waiting."""
    from sync.status import facts

    return facts(cycle.factory).settled([link.connector.crm for link in cycle], since, idle=True)


def _wait(cycle: Cycle, since: datetime, seconds: float = 30) -> float:
    """Wait until the daemon has settled since ``since``; the seconds it took."""
    started = time.monotonic()
    while not _settled(cycle, since):
        if time.monotonic() - started > seconds:
            raise RuntimeError(f"the daemon did not settle within {seconds:g} s")
        time.sleep(0.05)
    return time.monotonic() - started


def _daemon(cycle: Cycle, box: Sandbox, echo: Callable[[str], None]) -> None:
    """The daemon (what ``partnersync run`` runs, in this process) takes over: three edits
    in the CRM, and it reacts on its own: a deal won accrues, a rival's deal turns
    conflict, a rep's overwrite of a synced field is restored."""
    from sync.runner import Runner

    told = cycle.links[0]
    crm, obj = cast(Api, told.connector.crm), told.mapping.object
    settings = cycle.settings.model_copy(update={
        "sync": cycle.settings.sync.model_copy(update={"interval_seconds": 1}),
        "queue": cycle.settings.queue.model_copy(update={"broker": "memory", "threads": 4}),
    })  # fmt: skip
    calls = {link.connector.crm: link.connector.calls for link in cycle}
    runner = Runner(settings, cycle.factory, api=False, configured=cycle.links)
    with runner:
        first = _wait(cycle, datetime.now(UTC))
        edited = datetime.now(UTC)
        won = _open_partner_deal(cycle, crm, "ACME")
        stage = told.mapping.inbound.get("stage")
        with cycle.factory() as session:  # the CRM's own label of a won stage, as mirrored
            won_label = session.scalar(select(Opportunity.stage).where(
                Opportunity.crm == crm, Opportunity.is_won.is_(True)).limit(1))  # fmt: skip
        if won is not None and stage is not None and won_label:
            box.edit(crm, obj, won, {stage.crm_field: won_label}, user=REP)
        hooli = box.add_customer(crm, "Hooli", "hooli.com")
        rival = box.add_deal(crm, name="Hooli - Acme expansion", customer=hooli,
                             partner=box.partner_account(crm, "Acme Cloud Partners"),
                             amount=Decimal("61000"))  # fmt: skip
        status = told.mapping.outbound_for("registration.status")
        overwritten = None
        if status is not None:
            overwritten = _open_partner_deal(cycle, crm, "BLUEFIN")
            if overwritten is not None:
                box.edit(crm, obj, overwritten, {status.crm_field: "Hand-typed"}, user=REP)
        reacted = _wait(cycle, edited)
    used = sum(link.connector.calls - calls[link.connector.crm] for link in cycle)
    edits = [what for what, done in (("a rep marked an ACME deal won", won is not None),
                                     ("ACME logged a deal on Hooli", True),
                                     ("a rep typed over a synced field", overwritten is not None))
             if done]  # fmt: skip
    echo(
        f"17. the daemon took over (partnersync run, in this process: in-process queue, 4 "
        f"worker threads, a pull of each CRM every second, a push after each): its first "
        f"cycle settled in {first:.1f} s; then in the CRM {', '.join(edits)}; the daemon "
        f"settled again {reacted:.1f} s later, {used:,} API calls in all"
    )
    shown = []
    accrued = told.mapping.outbound_for("commission.accrued")
    if won is not None and accrued is not None:
        shown.append(f"the won deal shows {box.value(crm, obj, won, accrued.crm_field)} "
                     "commission accrued")  # fmt: skip
    if status is not None:
        shown.append(f"ACME's Hooli deal shows {box.value(crm, obj, rival, status.crm_field)} "
                     "(BLUEFIN holds Hooli)")  # fmt: skip
        if overwritten is not None:
            shown.append(f"the overwritten field is back to "
                         f"{box.value(crm, obj, overwritten, status.crm_field)}")  # fmt: skip
    if shown:
        echo(f"    in the CRM, with no command run: {'; '.join(shown)}")


def _open_partner_deal(cycle: Cycle, crm: str, partner: str) -> str | None:
    """The CRM id of an open, live, registered deal of ``partner`` in ``crm`` that its
    agreement pays on when won (partner-sourced, direct-sold, this year or later)."""
    with cycle.factory() as session:
        return session.scalar(
            select(Opportunity.crm_id)
            .join(Registration, Registration.opportunity_id == Opportunity.id)
            .where(Opportunity.crm == crm, Opportunity.partner_id == partner,
                   Opportunity.is_closed.is_(False), Opportunity.deleted.is_(False),
                   Opportunity.direction == CoSellDirection.PARTNER_SOURCED_DIRECT_SOLD,
                   Opportunity.amount.is_not(None), Opportunity.currency.is_not(None),
                   Opportunity.close_date >= date(2026, 1, 1))
            .order_by(Opportunity.id)
            .limit(1)
        )  # fmt: skip


def _paid(cycle: Cycle, box: Sandbox, echo: Callable[[str], None]) -> None:
    """Finance approves ACME's accrued payouts and pays them in one batch; the CRM shows
    it after a push; the year's summary."""
    payouts = PayoutService(cycle.factory)
    due = [p for p in payouts.list_payouts(partner_id="ACME", status="accrued", limit=10_000)
           if p["flow"] == "payable"]  # fmt: skip
    if not due:
        return
    ids = [p["id"] for p in due]
    payouts.approve(ids, actor="demo:finance")
    paid = payouts.pay(ids, reference="DEMO-WIRE-1", actor="demo:finance")
    totals: Counter[str] = Counter()
    for payout in paid:
        totals[payout["currency"]] += payout["amount"]
    money = ", ".join(f"{amount} {currency}" for currency, amount in sorted(totals.items()))
    first = paid[0]
    link = next(link for link in cycle if link.connector.crm == first["crm"])
    cycle.push(link)
    field = link.mapping.outbound_for("payout.status")
    crm, obj = cast(Api, first["crm"]), link.mapping.object
    shows = box.value(crm, obj, first["deal"], field.crm_field) if field is not None else None
    echo(
        f"14. finance approved ACME's {len(paid)} accrued payouts and paid them in one "
        f"transaction against reference DEMO-WIRE-1 ({money}); after a push the CRM shows "
        f"{shows} on deal {first['deal']}"
    )
    year = max(p["paid_at"] for p in paid).year
    rows = run_report(cycle.factory, "ytd-summary", partner_id="ACME", year=year)
    lines = "; ".join(f"{r['currency']} {r['flow']}: paid {r['paid']}, accrued "
                      f"{r['accrued']}, net {r['net']}" for r in rows)  # fmt: skip
    echo(f"15. report ytd-summary --partner ACME ({year}): {lines or 'nothing due this year'}")


def _created(
    cycle: Cycle, regs: RegistrationService, box: Sandbox, echo: Callable[[str], None]
) -> None:
    """A registration with no deal in the CRM: approved, the push creates the deal."""
    submitted = regs.submit(partner_id="ACME", customer_name="Initech", actor="demo:partner",
                            customer_domain="initech.com", amount="36000",
                            currency="USD")  # fmt: skip
    regs.approve(submitted["id"], actor="demo:partner-manager")
    with cycle.factory() as session:
        create = session.scalar(
            select(DealCreate).where(DealCreate.registration_id == submitted["id"])
        )
    if create is None:
        return
    link = next(link for link in cycle if link.connector.crm == create.crm.value)
    pushed = cycle.push(link)
    cycle.pull(link)
    with cycle.factory() as session:
        made = session.get(DealCreate, create.id)
        deal = session.scalar(select(Opportunity).where(Opportunity.registration_key == create.key))
    linked = regs.get(submitted["id"])["opportunity_id"]
    where = f"{create.crm.value} deal {made.crm_id}" if made is not None else "a deal"
    echo(
        f"13. ACME registered Initech, which the CRM had no deal for; once approved, the push "
        f"created {where} ({pushed.creates.created} create, keyed {create.key} so a retried "
        f"push finds it instead of making a second) and the next pull linked it back"
        + (" to the registration" if deal is not None and linked == deal.id else "")
    )


def _editor(cycle: Cycle) -> str:
    """Who the latest drift audit says edited the record: by name where the CRM tells."""
    with cycle.factory() as session:
        drift = session.scalars(
            select(AuditEntry)
            .where(AuditEntry.action == "crm_drift")
            .order_by(AuditEntry.id.desc())
        ).first()
    after = (drift.after if drift is not None else None) or {}
    if after.get("modified_by_name"):
        return str(after["modified_by_name"])
    return f"user {after['modified_by']}" if after.get("modified_by") else "someone"


def _summary(cycle: Cycle, repriced: str | None, expired: int, echo: Callable[[str], None]) -> None:
    with cycle.factory() as session:
        total = session.scalar(select(func.count()).select_from(Opportunity))
        live = session.scalar(
            select(func.count()).select_from(Opportunity).where(Opportunity.deleted.is_(False))
        )
        amount = session.scalar(select(Opportunity.amount).where(Opportunity.crm_id == repriced))
        registrations = session.scalar(select(func.count()).select_from(Registration))
        drift = session.scalars(
            select(AuditEntry)
            .where(AuditEntry.action == "crm_drift")
            .order_by(AuditEntry.id.desc())
        ).first()
    line = f"18. the store mirrors {total:,} deals ({live:,} live), {registrations:,} registrations"
    echo(line + (f"; the re-priced one reads {amount}" if amount is not None else ""))
    if drift is not None:
        echo(f"19. audit: {drift.reason}")
    echo(f"    `partnersync registrations show {expired}` explains one registration, "
         f"`partnersync deals show CRM_ID` one deal, `partnersync commissions explain "
         f"CRM_ID` its commission")  # fmt: skip
