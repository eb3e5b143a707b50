"""``partnersync deals``: the deal inspector ("why does this deal show Conflict?")."""

from __future__ import annotations

from typing import Annotated

import typer

from sync.cli.app import app
from sync.cli.common import (
    FormatOption,
    check_format,
    echo_json,
    echo_result,
    echo_rows,
    load,
    open_store,
)

__all__: list[str] = []

deals_app = typer.Typer(help="The deal inspector.", no_args_is_help=True)
app.add_typer(deals_app, name="deals")


@deals_app.command("list")
def deals_list(
    crm: Annotated[str | None, typer.Option(help="salesforce or hubspot.")] = None,
    partner: Annotated[str | None, typer.Option(help="Only deals of this partner.")] = None,
    status: Annotated[
        str | None, typer.Option(help="Only deals showing this registration state.")
    ] = None,
    customer: Annotated[
        str | None, typer.Option(help="A customer's name, domain or address.")
    ] = None,
    limit: Annotated[int, typer.Option(help="At most this many, newest first.", min=1)] = 100,
    fmt: FormatOption = "table",
) -> None:
    """Mirrored deals with the registration each shows."""
    from sync.deals import list_deals

    settings = load()
    fmt = check_format(fmt)
    rows = list_deals(open_store(settings), crm=crm, partner_id=partner, status=status,
                      customer=customer, limit=limit)  # fmt: skip
    echo_rows(rows, fmt, title="deals", optional=("deleted", "stage", "currency", "amount"),
              empty="no mirrored deal matches")  # fmt: skip


@deals_app.command("show")
def deals_show(
    crm_id: Annotated[str, typer.Argument(metavar="CRM_ID", help="The deal's id in its CRM.")],
    crm: Annotated[str | None, typer.Option(help="Its CRM, when the id is in both.")] = None,
    fmt: FormatOption = "table",
) -> None:
    """One deal: mirrored values, customer keys, registration, outbox, quarantine, audit."""
    from sync.cli.output import render
    from sync.deals import show_deal

    settings = load()
    fmt = check_format(fmt)
    shown = show_deal(open_store(settings), crm_id, crm=crm,
                      default_currency=settings.program.default_currency)  # fmt: skip
    if fmt == "json":
        echo_json(shown)
        return
    commission = shown.pop("commission")
    ledger, payouts = commission.pop("ledger"), commission.pop("payouts")
    commission.pop("rule", None)
    listed = ("registrations", "live_on_customer", "quarantine", "audit")
    sections = {k: shown.pop(k) for k in listed if k in shown}
    registration = shown.pop("registration", None)
    outbox = shown.pop("outbox", None)
    echo_result(shown, fmt)
    if registration:
        typer.echo(render([{"field": k, "value": v} for k, v in registration.items()], fmt,
                          title="registration shown in the CRM"))  # fmt: skip
    if outbox:
        typer.echo(render([{"field": k, "value": v} for k, v in outbox.items()], fmt,
                          title="outbox (what the CRM must show; the last push)"))  # fmt: skip
    titles = {"registrations": "every registration of this deal",
              "live_on_customer": "other live registrations on its customer",
              "quarantine": "quarantine", "audit": "audit trail"}  # fmt: skip
    for key, rows in sections.items():
        if rows:
            typer.echo(render(rows, fmt, title=titles[key]))
    if commission["partner_id"] or ledger:
        shown_fields = (
            "outcome",
            "agreement_version",
            "trigger_date",
            "currency",
            "basis",
            "basis_amount",
            "percent",
            "raw",
            "clamp",
            "amount",
            "due_on",
            "net",
        )
        typer.echo(render([{"field": k, "value": commission[k]} for k in shown_fields], fmt,
                          title="commission (partnersync commissions explain)"))  # fmt: skip
        if ledger:
            typer.echo(render(ledger, fmt, title="ledger", optional=("key", "occurred_at")))
        if payouts:
            typer.echo(render(payouts, fmt, title="payouts"))
