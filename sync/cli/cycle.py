"""``partnersync sync`` and ``partnersync push``: the pull -> push cycle, or its push."""

from __future__ import annotations

from typing import Annotated, Any

import typer

from sync.cli.app import app
from sync.cli.common import (
    CrmOption,
    FormatOption,
    check_format,
    echo_json,
    echo_sections,
    load,
    open_store,
)

__all__: list[str] = []

#: Columns of the reports a narrow terminal may leave out, least useful first.
OPTIONAL = {
    "pull": ("object", "quarantine_reasons", "released", "full", "pages", "unchanged"),
    "push": ("rejections", "considered", "unchanged", "retry", "deals_created"),
}


@app.command("sync")
def sync_command(
    crm: CrmOption = "all",
    full: Annotated[bool, typer.Option(help="Re-read everything.")] = False,
    no_push: Annotated[
        bool, typer.Option("--no-push", help="Only pull: leave the write-back queue as is.")
    ] = False,
    fmt: FormatOption = "table",
) -> None:
    """One cycle, inline: mirror changed CRM records into the store, then push what the CRM
    must show (registration, commission and payout fields)."""
    from sync.cli.progress import pull_progress
    from sync.cycle import Cycle

    settings = load()
    fmt = check_format(fmt)
    cycle = Cycle(settings, open_store(settings), crm=crm)
    report = cycle.run(full=full, push=not no_push, progress=pull_progress)
    pulls = [r.as_dict() for r in report.pulls]
    echo_sections(
        [("pull", pulls), ("push", [r.as_dict() for r in report.pushes])], fmt, optional=OPTIONAL
    )
    for pulled in report.pulls:
        for reason, count in pulled.quarantine_reasons.most_common():
            typer.echo(f"{pulled.crm}: {count} record(s) quarantined: {reason}", err=True)
    _warn_rejections(report.pushes)


@app.command("push")
def push_command(
    crm: CrmOption = "all",
    status: Annotated[
        bool, typer.Option("--status", help="Show the write-back queue instead of pushing.")
    ] = False,
    retry_rejected: Annotated[
        bool,
        typer.Option(
            "--retry-rejected", help="Queue rejected writes again (after fixing the cause)."
        ),
    ] = False,
    fmt: FormatOption = "table",
) -> None:
    """Write the outbox to the CRM: only mapped fields that differ, in API-sized batches."""
    from datetime import UTC, datetime

    from sync.cycle import Cycle
    from sync.store import Crm
    from sync.writeback.creates import create_status
    from sync.writeback.preview import outbox_status
    from sync.writeback.push import reopen_rejected

    settings = load()
    fmt = check_format(fmt)
    cycle = Cycle(settings, open_store(settings), crm=crm)
    crms = [Crm(link.connector.crm) for link in cycle]
    if status:
        counts, attention = outbox_status(cycle.factory, crms, now=datetime.now(UTC))
        creates = create_status(cycle.factory, crms)
        titles = {"queue": "write-back queue", "attention": "rejected and retrying",
                  "creates": "deals to create"}  # fmt: skip
        echo_sections([("queue", counts), ("attention", attention), ("creates", creates)], fmt,
                      titles=titles)  # fmt: skip
        return
    if retry_rejected:
        for crm_name in crms:
            count = reopen_rejected(cycle.factory, crm_name)
            typer.echo(f"{crm_name.value}: {count} rejected write(s) queued again", err=True)
    reports = [cycle.push(link) for link in cycle]
    rows = [r.as_dict() for r in reports]
    if fmt == "json":
        echo_json(rows)
    else:
        echo_sections([("push", rows)], fmt, optional=OPTIONAL)
    _warn_rejections(reports)


def _warn_rejections(pushes: list[Any]) -> None:
    for report in pushes:
        for code, count in sorted(report.rejections.items()):
            typer.echo(
                f"{report.crm}: {count} write(s) rejected: {code} (see: partnersync push --status)",
                err=True,
            )
        creates = report.creates
        if creates.rejected:
            typer.echo(f"{report.crm}: {creates.rejected} deal create(s) rejected (see: "
                       "partnersync push --status)", err=True)  # fmt: skip
        if creates.waiting:
            typer.echo(f"{report.crm}: {creates.waiting} deal create(s) waiting: the mapping "
                       "has no [create] section", err=True)  # fmt: skip
