"""``partnersync audit``: who changed what, when, before and after, and why."""

from __future__ import annotations

from typing import Annotated

import typer

from sync.cli.app import app
from sync.cli.common import FormatOption, check_format, echo_json, load, open_store
from sync.cli.output import render
from sync.settings import ConfigError

__all__: list[str] = []


@app.command("audit")
def audit_command(
    entity: Annotated[
        str | None, typer.Option(help="Entity kind: opportunity, registration, payout, ...")
    ] = None,
    entity_id: Annotated[str | None, typer.Option("--id", help="Entity id.")] = None,
    action: Annotated[
        str | None, typer.Option(help="Only this action, e.g. crm_drift, crm_write_rejected.")
    ] = None,
    limit: Annotated[int, typer.Option(help="Rows to show, newest first.", min=1)] = 100,
    fmt: FormatOption = "table",
) -> None:
    """The audit log: who changed what, when, before and after, and why."""
    from sync.audit import UnknownEntity, audit_rows
    from sync.store import AuditEntity

    settings = load()
    fmt = check_format(fmt)
    try:
        rows = audit_rows(
            open_store(settings), entity=entity, entity_id=entity_id, action=action, limit=limit
        )
    except UnknownEntity:
        allowed = ", ".join(kind.value for kind in AuditEntity)
        raise ConfigError(f"--entity must be one of: {allowed} (got {entity!r})") from None
    if fmt == "json":
        echo_json(rows)
    elif rows:
        typer.echo(render(rows, fmt, title="audit log", optional=("before", "after", "id")))
    else:
        typer.echo("no audit rows match", err=True)
