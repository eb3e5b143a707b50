"""``partnersync registrations``: submit, decide, expire and explain deal registrations."""

from __future__ import annotations

from datetime import date
from typing import TYPE_CHECKING, Annotated

import typer

from sync.cli.app import app
from sync.cli.common import (
    FormatOption,
    actor,
    check_format,
    echo_result,
    echo_rows,
    load,
    open_store,
)
from sync.settings import ConfigError

if TYPE_CHECKING:
    from sync.registrations import RegistrationService

__all__: list[str] = []

registrations_app = typer.Typer(help="Deal registrations.", no_args_is_help=True)
app.add_typer(registrations_app, name="registrations")

IdArgument = Annotated[int, typer.Argument(metavar="ID", help="The registration's number.")]
ReasonOption = Annotated[str | None, typer.Option(help="Why (shown in the audit log).")]


def _service() -> RegistrationService:
    from sync.registrations import RegistrationService

    settings = load()
    return RegistrationService(open_store(settings), settings.program)


@registrations_app.command("submit")
def submit(
    partner: Annotated[str, typer.Option(help="The partner's id.")],
    customer: Annotated[str, typer.Option(help="The customer's company name.")],
    amount: Annotated[str, typer.Option(help="The deal's expected amount, e.g. 25000.00.")],
    domain: Annotated[
        str | None, typer.Option(help="The customer's domain, website or an e-mail address.")
    ] = None,
    currency: Annotated[str, typer.Option(help="ISO code of the amount.")] = "USD",
    practice: Annotated[str | None, typer.Option(help="The practice, e.g. Cloud.")] = None,
    close_date: Annotated[
        str | None, typer.Option("--close-date", help="Expected close, YYYY-MM-DD.")
    ] = None,
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Say what would happen; register nothing.")
    ] = False,
    fmt: FormatOption = "table",
) -> None:
    """Register a customer for a partner; prints the outcome and its reason."""
    fmt = check_format(fmt)
    if dry_run:
        echo_result(_service().check(partner_id=partner, customer_name=customer,
                                     customer_domain=domain, amount=amount, currency=currency,
                                     practice=practice), fmt)  # fmt: skip
        return
    made = _service().submit(
        partner_id=partner, customer_name=customer, customer_domain=domain, amount=amount,
        currency=currency, practice=practice, close_date=close_date, actor=actor(),
    )  # fmt: skip
    echo_result(made, fmt)


@registrations_app.command("list")
def list_(
    partner: Annotated[str | None, typer.Option(help="Only this partner's.")] = None,
    status: Annotated[str | None, typer.Option(help="Only in this state.")] = None,
    limit: Annotated[int, typer.Option(help="At most this many.", min=1)] = 100,
    after: Annotated[int, typer.Option(help="Those after this number (a cursor).", min=0)] = 0,
    fmt: FormatOption = "table",
) -> None:
    """Registrations, oldest first."""

    fmt = check_format(fmt)
    rows = _service().list(partner_id=partner, status=status, limit=limit, after_id=after)
    optional = ("note", "decided_by", "decided_at", "submitted_at", "opportunity_id", "source",
                "extensions_used", "close_date", "practice", "customer_domain", "currency",
                "amount")  # fmt: skip
    echo_rows(rows, fmt, title="registrations", optional=optional,
              empty="no registrations match")  # fmt: skip


@registrations_app.command("show")
def show(registration_id: IdArgument, fmt: FormatOption = "table") -> None:
    """The registration explained: customer keys, what matched, the reason, the audit."""
    from sync.cli.common import echo_json
    from sync.cli.output import render

    fmt = check_format(fmt)
    explained = _service().show(registration_id)
    if fmt == "json":
        echo_json(explained)
        return
    audit = explained.pop("audit")
    live = explained.pop("live_on_customer")
    echo_result(explained, fmt)
    if live:
        typer.echo(render(live, fmt, title="live registrations on this customer"))
    if audit:
        typer.echo(render(audit, fmt, title="audit trail", optional=("before", "after")))


@registrations_app.command("approve")
def approve(
    registration_id: IdArgument, reason: ReasonOption = None, fmt: FormatOption = "table"
) -> None:
    """Approve: the customer is protected for the partner's tier (first approved wins)."""
    echo_result(_service().approve(registration_id, actor=actor(), note=reason), check_format(fmt))


@registrations_app.command("reject")
def reject(
    registration_id: IdArgument, reason: ReasonOption = None, fmt: FormatOption = "table"
) -> None:
    """Reject; the customer is free for others."""
    echo_result(_service().reject(registration_id, actor=actor(), note=reason), check_format(fmt))


@registrations_app.command("withdraw")
def withdraw(
    registration_id: IdArgument, reason: ReasonOption = None, fmt: FormatOption = "table"
) -> None:
    """The partner withdraws its registration; the customer is free."""
    echo_result(_service().withdraw(registration_id, actor=actor(), note=reason), check_format(fmt))


@registrations_app.command("extend")
def extend(
    registration_id: IdArgument,
    days: Annotated[int | None, typer.Option(help="Days to add (default: extension_days).")] = None,
    reason: ReasonOption = None,
    fmt: FormatOption = "table",
) -> None:
    """Extend an approved registration's protection (at most max_extensions times)."""
    done = _service().extend(registration_id, actor=actor(), days=days, note=reason)
    echo_result(done, check_format(fmt))


@registrations_app.command("expire-due")
def expire_due(
    as_of: Annotated[
        str | None, typer.Option("--as-of", help="The day to expire as of, YYYY-MM-DD (today).")
    ] = None,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Show, change nothing.")] = False,
    fmt: FormatOption = "table",
) -> None:
    """End the protections whose last day has passed (won / lost if the deal closed)."""
    from sync.cli.output import render

    fmt = check_format(fmt)
    try:
        day = date.fromisoformat(as_of) if as_of else None
    except ValueError:
        raise ConfigError(f"--as-of must be a date YYYY-MM-DD (got {as_of!r})") from None
    rows = _service().expire_due(as_of=day, dry_run=dry_run, actor=actor())
    columns = ("id", "partner_id", "customer_name", "protected_until", "becomes", "reason")
    rows = [{k: r[k] for k in columns} for r in rows]
    if fmt == "table" and not rows:
        typer.echo("no registration is due to expire", err=True)
        return
    title = "would change (dry run)" if dry_run else "changed"
    typer.echo(render(rows, fmt, title=title))
