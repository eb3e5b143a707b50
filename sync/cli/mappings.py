"""``partnersync mappings``: check mapping files, preview what a push would write."""

from __future__ import annotations

from typing import Annotated

import typer

from sync.cli.app import app
from sync.cli.common import CrmOption, FormatOption, check_format, echo_json, load, open_store
from sync.cli.output import render

__all__: list[str] = []

mappings_app = typer.Typer(help="Declarative field mappings.", no_args_is_help=True)
app.add_typer(mappings_app, name="mappings")


@mappings_app.command("check")
def mappings_check(
    crm: CrmOption = "all",
    offline: Annotated[bool, typer.Option(help="Check the files only.")] = False,
) -> None:
    """Validate mapping files (online: against the CRM's metadata); exit 2 on problems."""
    from sync.crm import links
    from sync.mapping.check import check_mapping

    problems = []
    for link in links(load(), crm):
        if not offline:
            problems.extend(check_mapping(link.mapping, link.connector))
        state = "checked against the CRM" if not offline else "valid (offline)"
        typer.echo(f"{link.mapping.source}: {link.mapping.crm} {link.mapping.object}: {state}")
    for problem in problems:
        typer.echo(str(problem), err=True)
    if problems:
        typer.echo(f"partnersync: {len(problems)} mapping problem(s)", err=True)
        raise typer.Exit(2)


@mappings_app.command("preview")
def mappings_preview(
    crm: CrmOption = "all",
    limit: Annotated[int, typer.Option(help="Records to show (0: all).", min=0)] = 20,
    fmt: FormatOption = "table",
) -> None:
    """Dry run: the writes a push would make (record, field, CRM value now, value to write)."""
    from sync.crm import links
    from sync.writeback.preview import preview_writes

    settings = load()
    fmt = check_format(fmt)
    factory = open_store(settings)
    rows = []
    for link in links(settings, crm):
        rows.extend(preview_writes(factory, link.mapping, limit=limit or None))
    if fmt == "json":
        echo_json(rows)
        return
    if not rows:
        typer.echo("nothing to write: the CRM already shows every staged value", err=True)
        return
    typer.echo(render(rows, fmt, title="writes a push would make", optional=("crm", "name")))
