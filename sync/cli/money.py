"""``partnersync agreements``, ``commissions``, ``payouts`` and ``report``: partner
agreements, the commission ledger, the payouts made from it and the named reports."""

from __future__ import annotations

from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from sync.cli.app import app
from sync.cli.common import (
    FormatOption,
    actor,
    check_format,
    echo_json,
    echo_result,
    echo_rows,
    load,
    open_store,
)
from sync.program import checked_date

if TYPE_CHECKING:
    from sync.commissions import CommissionService
    from sync.payouts import PayoutService

__all__: list[str] = []

agreements_app = typer.Typer(help="Partner agreements.", no_args_is_help=True)
commissions_app = typer.Typer(help="The commission ledger.", no_args_is_help=True)
payouts_app = typer.Typer(help="Commission payouts.", no_args_is_help=True)
app.add_typer(agreements_app, name="agreements")
app.add_typer(commissions_app, name="commissions")
app.add_typer(payouts_app, name="payouts")

FileArgument = Annotated[
    Path, typer.Argument(metavar="FILE.toml", help="An agreement file (see examples/).")
]
IdsArgument = Annotated[list[int], typer.Argument(metavar="ID...", help="Payout numbers.")]


def _commissions() -> CommissionService:
    from sync.commissions import CommissionService

    settings = load()
    return CommissionService(
        open_store(settings), default_currency=settings.program.default_currency
    )


def _payouts() -> PayoutService:
    from sync.payouts import PayoutService

    return PayoutService(open_store(load()))


def _day(value: str | None, field: str) -> date | None:
    return checked_date(value, field)


def _echo_agreement(view: dict[str, Any], fmt: str) -> None:
    from sync.cli.output import render

    if fmt == "json":
        echo_json(view)
        return
    rules = view.pop("rules", [])
    echo_result(view, fmt)
    if rules:
        typer.echo(render(rules, fmt, title="rules", optional=("floor", "ceiling", "trigger")))


@agreements_app.command("import")
def import_(path: FileArgument, fmt: FormatOption = "table") -> None:
    """Store an agreement file: version 1, or the current version brought to the file
    (rules added, open rules closed); the partner's deals are settled under it."""
    fmt = check_format(fmt)
    _echo_agreement(_commissions().import_file(path, actor=actor()), fmt)


@agreements_app.command("show")
def show(
    partner: Annotated[str, typer.Argument(metavar="PARTNER", help="The partner's id.")],
    as_of: Annotated[
        str | None, typer.Option("--as-of", help="Only what is in force that day, YYYY-MM-DD.")
    ] = None,
    fmt: FormatOption = "table",
) -> None:
    """A partner's agreement versions and their rules."""
    fmt = check_format(fmt)
    shown = _commissions().show(partner, as_of=_day(as_of, "as_of"))
    if fmt == "json":
        echo_json(shown)
        return
    if not shown["versions"]:
        typer.echo(f"no agreement version of {partner} is in force on {as_of}", err=True)
    for version in shown["versions"]:
        _echo_agreement(version, fmt)


@agreements_app.command("amend")
def amend(
    partner: Annotated[str, typer.Argument(metavar="PARTNER", help="The partner's id.")],
    path: FileArgument,
    effective: Annotated[str, typer.Option(help="The new version's first day, YYYY-MM-DD.")],
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="List the accruals that would change; write nothing.")
    ] = False,
    fmt: FormatOption = "table",
) -> None:
    """A new agreement version from FILE, in force from --effective; the prior version
    ends that day and is frozen. Prints, deal by deal, the accruals that change."""
    fmt = check_format(fmt)
    day = _day(effective, "effective")
    assert day is not None
    result = _commissions().amend(partner, path, effective=day, actor=actor(), dry_run=dry_run)
    if fmt == "json":
        echo_json(result)
        return
    deals = [{k: v for k, v in d.items() if k != "rows"} for d in result.pop("deals")]
    echo_result(result, fmt)
    echo_rows(deals, fmt, title="accruals that change" + (" (dry run)" if dry_run else ""),
              empty="no deal's accrual changes")  # fmt: skip


@commissions_app.command("replay")
def replay(
    partner: Annotated[str | None, typer.Option(help="Only this partner's deals.")] = None,
    since: Annotated[
        str | None, typer.Option(help="Only deals closed or paid on or after, YYYY-MM-DD.")
    ] = None,
    workers: Annotated[
        int | None,
        typer.Option(help="Chunks of deals settled at once (default: 2 on PostgreSQL, else 1)."),
    ] = None,
    fmt: FormatOption = "table",
) -> None:
    """Recompute every deal's commission from the rules in force at its trigger date and
    write only the correcting ledger rows (a second run writes none)."""
    fmt = check_format(fmt)
    result = _commissions().replay(
        partner_id=partner, since=_day(since, "since"), actor=actor(), workers=workers
    )
    echo_result(result, fmt)


@commissions_app.command("explain")
def explain(
    crm_id: Annotated[str, typer.Argument(metavar="CRM_ID", help="The deal's CRM id.")],
    crm: Annotated[str | None, typer.Option(help="salesforce or hubspot.")] = None,
    fmt: FormatOption = "table",
) -> None:
    """How a deal's commission is computed, and its ledger rows and payouts."""
    from sync.cli.output import render

    fmt = check_format(fmt)
    explained = _commissions().explain(crm_id, crm=crm)
    if fmt == "json":
        echo_json(explained)
        return
    ledger, payouts = explained.pop("ledger"), explained.pop("payouts")
    rule = explained.pop("rule")
    explained["rule"] = (
        None if rule is None else
        f"#{rule['id']} {rule['practice']} / {rule['direction']}: {rule['percent']} % of "
        f"{rule['basis']}, floor {rule['floor']}, ceiling {rule['ceiling']}, {rule['flow']}, "
        f"on {rule['trigger']}, from {rule['effective_from']} to {rule['effective_to'] or 'open'}"
    )  # fmt: skip
    echo_result(explained, fmt)
    if ledger:
        typer.echo(render(ledger, fmt, title="ledger", optional=("key", "occurred_at", "flow")))
    if payouts:
        typer.echo(render(payouts, fmt, title="payouts"))


@payouts_app.command("list")
def list_(
    partner: Annotated[str | None, typer.Option(help="Only this partner's.")] = None,
    status: Annotated[str | None, typer.Option(help="Only in this state.")] = None,
    limit: Annotated[int, typer.Option(help="At most this many.", min=1)] = 100,
    after: Annotated[int, typer.Option(help="Those after this number (a cursor).", min=0)] = 0,
    fmt: FormatOption = "table",
) -> None:
    """Payouts by number."""
    fmt = check_format(fmt)
    rows = _payouts().list_payouts(partner_id=partner, status=status, limit=limit, after=after)
    echo_rows(rows, fmt, title="payouts", optional=("crm", "flow", "due_on", "scheduled_for"),
              empty="no payouts")  # fmt: skip


def _echo_payouts(rows: list[dict[str, Any]], fmt: str) -> None:
    if fmt == "json" and len(rows) == 1:
        echo_json(rows[0])
    else:
        echo_rows(rows, fmt, title="payouts", empty="no payouts")


@payouts_app.command("approve")
def approve(ids: IdsArgument, fmt: FormatOption = "table") -> None:
    """accrued -> approved, all or nothing."""
    _echo_payouts(_payouts().approve(ids, actor=actor()), check_format(fmt))


@payouts_app.command("schedule")
def schedule(
    ids: IdsArgument,
    on: Annotated[
        str | None, typer.Option(help="Pay day, YYYY-MM-DD (default: each one's due date).")
    ] = None,
    fmt: FormatOption = "table",
) -> None:
    """approved -> scheduled, all or nothing."""
    rows = _payouts().schedule(ids, on=_day(on, "on"), actor=actor())
    _echo_payouts(rows, check_format(fmt))


@payouts_app.command("pay")
def pay(
    ids: IdsArgument,
    reference: Annotated[str, typer.Option(help="The payment's reference (one for all).")],
    on: Annotated[str | None, typer.Option(help="Payment date (default today).")] = None,
    fmt: FormatOption = "table",
) -> None:
    """approved or scheduled -> paid against one reference, in one transaction: all or
    nothing."""
    rows = _payouts().pay(ids, reference=reference, on=_day(on, "on"), actor=actor())
    _echo_payouts(rows, check_format(fmt))


@payouts_app.command("reverse")
def reverse(
    ids: IdsArgument,
    reason: Annotated[str, typer.Option(help="Why (kept on the ledger rows and the audit).")],
    fmt: FormatOption = "table",
) -> None:
    """Reverse payouts: a negating ledger row for each entry they cover, plus audit."""
    _echo_payouts(_payouts().reverse(ids, reason=reason, actor=actor()), check_format(fmt))


@app.command("report")
def report(
    name: Annotated[
        str,
        typer.Argument(
            metavar="NAME",
            help="payouts-by-partner, ytd-summary, deal-profitability, commission-received, "
            "combined-revenue or payouts-by-status.",
        ),
    ],
    year: Annotated[int | None, typer.Option(help="The year (default: this year).")] = None,
    partner: Annotated[str | None, typer.Option(help="Only this partner.")] = None,
    fmt: FormatOption = "table",
) -> None:
    """A named report; amounts per currency, never summed across currencies."""
    from sync.reports import run_report

    fmt = check_format(fmt)
    settings = load()
    rows = run_report(open_store(settings), name, year=year, partner_id=partner,
                      default_currency=settings.program.default_currency)  # fmt: skip
    echo_rows(rows, fmt, title=name, empty=f"{name}: nothing in {year or 'this year'}")
