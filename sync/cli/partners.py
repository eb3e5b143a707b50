"""``partnersync partners`` and ``partnersync accounts``: the program's partners, and the
customers partners may not claim."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Annotated

import typer
from sqlalchemy.orm import Session

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
from sync.settings import Settings

__all__: list[str] = []

partners_app = typer.Typer(help="Partners and their CRM references.", no_args_is_help=True)
accounts_app = typer.Typer(help="House and do-not-contact accounts.", no_args_is_help=True)
app.add_typer(partners_app, name="partners")
app.add_typer(accounts_app, name="accounts")


@partners_app.command("add")
def partners_add(
    partner_id: Annotated[str, typer.Argument(metavar="ID", help="Short id, e.g. ACME.")],
    name: Annotated[str, typer.Option(help="The partner's company name.")],
    tier: Annotated[str, typer.Option(help="A tier of [program] protection_days.")],
    salesforce_account_id: Annotated[
        str | None, typer.Option(help="The partner's Account id in Salesforce.")
    ] = None,
    hubspot_company_id: Annotated[
        str | None, typer.Option(help="The partner's company id in HubSpot.")
    ] = None,
    fmt: FormatOption = "table",
) -> None:
    """Add a partner; the mirrored deals that already name it are linked to it."""
    from sync.partners import PartnerInput, add_partner

    settings = load()
    fmt = check_format(fmt)
    given = PartnerInput(partner_id, name, tier, salesforce_account_id, hubspot_company_id)
    added = add_partner(open_store(settings), given, settings.program, actor=actor(),
                        on_linked=_on_linked(settings))  # fmt: skip
    echo_result(added, fmt)


def _on_linked(settings: Settings) -> Callable[[Session, Sequence[int]], None]:
    """Deals just linked to a partner get their registrations, as the mirror would."""
    from sync.deal_links import registration_links

    return registration_links(settings)


@partners_app.command("import")
def partners_import(
    file: Annotated[Path, typer.Argument(metavar="FILE.csv", help="id,name,tier,... per line.")],
    fmt: FormatOption = "table",
) -> None:
    """Add or update partners from a CSV file, all or nothing (every bad line is listed)."""
    from sync.partners import PartnersFileError, import_partners

    settings = load()
    fmt = check_format(fmt)
    try:
        counts = import_partners(open_store(settings), file, settings.program, actor=actor(),
                                 on_linked=_on_linked(settings))  # fmt: skip
    except PartnersFileError as exc:
        for problem in exc.problems:
            typer.echo(f"{file}: {problem}", err=True)
        raise
    echo_result(counts, fmt)


@partners_app.command("list")
def partners_list(fmt: FormatOption = "table") -> None:
    """Every partner."""
    from sync.partners import list_partners

    fmt = check_format(fmt)  # before the store is opened
    rows = list_partners(open_store(load()))
    echo_rows(rows, fmt, title="partners",
              optional=("created_at", "hubspot_company_id"),
              empty="no partners yet: partnersync partners add ID --name N --tier T")  # fmt: skip


@partners_app.command("show")
def partners_show(
    partner_id: Annotated[str, typer.Argument(metavar="ID")], fmt: FormatOption = "table"
) -> None:
    """One partner, with its deal and registration counts."""
    from sync.partners import show_partner

    settings = load()
    echo_result(show_partner(open_store(settings), partner_id), check_format(fmt))


@partners_app.command("deactivate")
def partners_deactivate(
    partner_id: Annotated[str, typer.Argument(metavar="ID")],
    reason: Annotated[str | None, typer.Option(help="Why (kept in the audit log).")] = None,
    fmt: FormatOption = "table",
) -> None:
    """Stop a partner registering anything new (what it holds stays until decided)."""
    from sync.partners import deactivate_partner

    settings = load()
    done = deactivate_partner(open_store(settings), partner_id, actor=actor(), reason=reason)
    echo_result(done, check_format(fmt))


@accounts_app.command("block")
def accounts_block(
    domain: Annotated[str, typer.Option(help="The customer's domain, website or an address.")],
    kind: Annotated[str, typer.Option(help="house or do_not_contact.")],
    name: Annotated[str | None, typer.Option(help="The customer's name.")] = None,
    reason: Annotated[str | None, typer.Option(help="Why (kept in the audit log).")] = None,
    fmt: FormatOption = "table",
) -> None:
    """Keep partners off a customer: a house account, or one not to be contacted."""
    from sync.partners import block_account

    settings = load()
    done = block_account(open_store(settings), domain=domain, kind=kind, name=name,
                         reason=reason, actor=actor())  # fmt: skip
    echo_result(done, check_format(fmt))


@accounts_app.command("list")
def accounts_list(fmt: FormatOption = "table") -> None:
    """Every blocked account."""
    from sync.partners import blocked_accounts

    fmt = check_format(fmt)  # before the store is opened
    rows = blocked_accounts(open_store(load()))
    echo_rows(rows, fmt, title="blocked accounts",
              optional=("created_at", "reason"), empty="no blocked accounts")  # fmt: skip


@accounts_app.command("unblock")
def accounts_unblock(
    domain: Annotated[str, typer.Option(help="The blocked customer's domain.")],
    fmt: FormatOption = "table",
) -> None:
    """Let partners register a blocked customer again."""
    from sync.partners import unblock_account

    settings = load()
    echo_result(unblock_account(open_store(settings), domain=domain, actor=actor()),
                check_format(fmt))  # fmt: skip
