"""``partnersync``: the command line.

Commands stay thin: parse options, call one service function, print its result. Exit
status 0 on success, 2 on a usage or configuration error (one line, no traceback), 1 on
any other failure. Commands whose capability is not built yet say so and exit 2; they
never print made-up output.
"""

from __future__ import annotations

import gc
import os
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any, NoReturn

import typer

from sync.settings import ConfigError, Settings, load_settings

__all__ = ["app", "main"]

app = typer.Typer(
    name="partnersync",
    help="Sync a CRM (Salesforce, HubSpot) with your partner program.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)


class _State:
    settings_file: Path | None = None
    log_level: str = "info"


_state = _State()


@app.callback()
def _global(
    settings: Annotated[
        Path | None,
        typer.Option(
            "--settings",
            help="Settings file (default: $PARTNERSYNC_SETTINGS or ./settings.toml).",
        ),
    ] = None,
    log_level: Annotated[
        str, typer.Option("--log-level", help="debug, info, warning or error.")
    ] = "info",
) -> None:
    _state.settings_file = settings
    _state.log_level = log_level


def _settings() -> Settings:
    settings = load_settings(_state.settings_file)
    from sync.log import configure_logging

    configure_logging(_state.log_level, secrets=settings.secrets())
    return settings


def _not_built(command: str, capability: str) -> NoReturn:
    typer.echo(
        f"partnersync {command}: {capability} is not built yet in this version; "
        "see the project's open issues.",
        err=True,
    )
    raise typer.Exit(2)


# --- demo, run, sandbox ---------------------------------------------------------------


@app.command()
def demo(
    records: Annotated[int, typer.Option(help="Opportunities/deals to seed per CRM.")] = 200,
) -> None:
    """Embedded end-to-end run on the CRM sandbox; prints what happened."""
    from sync.demo import run_demo

    run_demo(_settings(), records=records, echo=typer.echo)


@app.command()
def run() -> None:
    """The daemon: scheduler + workers (+ HTTP API)."""
    _not_built("run", "the queue-driven daemon")


@app.command()
def sandbox(
    host: Annotated[str, typer.Option(help="Address to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port to listen on.")] = 8787,
    seed: Annotated[
        int, typer.Option(help="Seed N opportunities (Salesforce) and N deals (HubSpot).")
    ] = 0,
    random_seed: Annotated[int, typer.Option(help="Random seed of the generated data.")] = 1,
    latency_ms: Annotated[float, typer.Option(help="Milliseconds added to every call.")] = 0.0,
    faults: Annotated[
        str | None,
        typer.Option(help="Fault injection, e.g. '503:0.05,lock:0.02,expire-session-after:500'."),
    ] = None,
    hubspot_rate: Annotated[
        str | None, typer.Option(help="HubSpot rolling rate limit, e.g. '100/10s'.")
    ] = None,
    salesforce_daily_limit: Annotated[
        int, typer.Option(help="Salesforce daily API allocation (403 once spent).")
    ] = 5_000_000,
) -> None:
    """Serve the local Salesforce + HubSpot emulator (state in memory)."""
    from connectors.sandbox.core import Sandbox, SandboxConfig
    from connectors.sandbox.knobs import FaultSpecError, parse_faults, parse_rate
    from connectors.sandbox.seed import seed_sandbox
    from connectors.sandbox.server import serve

    try:
        config = SandboxConfig(
            latency_ms=latency_ms,
            faults=parse_faults(faults),
            hubspot_rate=parse_rate(hubspot_rate),
            salesforce_daily_limit=salesforce_daily_limit,
        )
    except FaultSpecError as exc:
        raise ConfigError(str(exc)) from None
    if seed < 0:
        raise ConfigError("--seed must be 0 or more")
    box = Sandbox(config)
    if seed:
        seed_sandbox(box, seed, random_seed=random_seed)
        # The seeded records live as long as the sandbox: spare them the collector's full
        # passes, whose pauses would otherwise show up as noise in every client's timing.
        gc.freeze()
    typer.echo(
        f"CRM sandbox on http://{host}:{port}: "
        f"{box.salesforce.count()} Salesforce opportunities, "
        f"{box.hubspot.count()} HubSpot deals"
        + (f"; faults {config.faults}" if faults else "")
        + (f"; latency {latency_ms:g} ms" if latency_ms else ""),
        err=True,
    )
    serve(box, host=host, port=port)


# --- db ---------------------------------------------------------------------------------

db_app = typer.Typer(help="The partner store.", no_args_is_help=True)
app.add_typer(db_app, name="db")


@db_app.command("upgrade")
def db_upgrade() -> None:
    """Migrate the store to the latest schema."""
    from sync.store import current_revision, upgrade

    settings = _settings()
    upgrade(settings.store.url)
    typer.echo(f"store at revision {current_revision(settings.store.url)}")


# --- sync, mappings ---------------------------------------------------------------------

FormatOption = Annotated[str, typer.Option("--format", help="table, csv or json.")]


def _format(value: str) -> str:
    from sync.output import FORMATS

    if value not in FORMATS:
        raise ConfigError(f"--format must be one of: {', '.join(FORMATS)} (got {value!r})")
    return value


def _store(settings: Settings) -> Any:
    from sync.store import ensure_schema, make_engine, session_factory

    ensure_schema(settings.store.url)
    return session_factory(make_engine(settings.store.url))


def _crm_command(crm: str, fmt: str) -> tuple[Settings, str, list[Any], Any]:
    """What every CRM command starts with: settings, the checked format, the CRM links
    (connector + mapping) named by ``--crm``, and a session factory on the store."""
    from sync.crm import links

    settings = _settings()
    fmt = _format(fmt)
    configured = links(settings, crm)
    return settings, fmt, configured, _store(settings)


@app.command("sync")
def sync_command(
    crm: Annotated[str, typer.Option(help="salesforce, hubspot or all.")] = "all",
    full: Annotated[bool, typer.Option(help="Re-read everything.")] = False,
    no_push: Annotated[
        bool, typer.Option("--no-push", help="Only pull: leave the write-back queue as is.")
    ] = False,
    fmt: FormatOption = "table",
) -> None:
    """One cycle, inline: mirror changed CRM records into the store, then push what the CRM
    must show (registration, commission and payout fields)."""
    from datetime import timedelta

    from sync.output import render
    from sync.progress import pull_progress
    from sync.pull import pull
    from sync.push import push

    settings, fmt, configured, factory = _crm_command(crm, fmt)
    reports = []
    pushes = []
    for link in configured:
        with pull_progress(link.connector.crm) as on_page:
            report = pull(
                factory,
                link.connector,
                link.mapping,
                full=full,
                on_page=on_page,
                deletes_every=timedelta(seconds=settings.sync.deletes_check_seconds),
            )
            reports.append(report)
        if not no_push:
            pushes.append(
                push(
                    factory,
                    link.connector,
                    link.mapping,
                    concurrency=settings.sync.push_concurrency,
                )
            )
    rows = [r.as_dict() for r in reports]
    pushed = [p.as_dict() for p in pushes]
    if fmt == "json":  # one document: {"pull": [...], "push": [...]}
        _echo_json({"pull": rows, "push": pushed})
    else:
        typer.echo(render(rows, fmt, title="pull"))
        if pushed:
            typer.echo(render(pushed, fmt, title="push"))
    for report in reports:
        for reason, count in report.quarantine_reasons.most_common():
            typer.echo(f"{report.crm}: {count} record(s) quarantined: {reason}", err=True)
    _warn_rejections(pushes)


def _echo_json(document: Any) -> None:
    import json

    from sync.output import plain

    typer.echo(json.dumps(plain(document), indent=2, ensure_ascii=False))


def _warn_rejections(pushes: list[Any]) -> None:
    for report in pushes:
        for code, count in sorted(report.rejections.items()):
            typer.echo(
                f"{report.crm}: {count} write(s) rejected: {code} (see: partnersync push --status)",
                err=True,
            )


@app.command("push")
def push_command(
    crm: Annotated[str, typer.Option(help="salesforce, hubspot or all.")] = "all",
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

    from sync.output import render
    from sync.push import push, reopen_rejected
    from sync.store import Crm
    from sync.writeback import outbox_status

    settings, fmt, configured, factory = _crm_command(crm, fmt)
    if status:
        counts, attention = outbox_status(
            factory, [Crm(link.connector.crm) for link in configured], now=datetime.now(UTC)
        )
        if fmt == "json":
            _echo_json({"queue": counts, "attention": attention})
            return
        typer.echo(render(counts, fmt, title="write-back queue"))
        if attention:
            typer.echo(render(attention, fmt, title="rejected and retrying"))
        return
    if retry_rejected:
        for link in configured:
            count = reopen_rejected(factory, Crm(link.connector.crm))
            typer.echo(f"{link.connector.crm}: {count} rejected write(s) queued again", err=True)
    reports = [
        push(factory, link.connector, link.mapping, concurrency=settings.sync.push_concurrency)
        for link in configured
    ]
    typer.echo(render([r.as_dict() for r in reports], fmt, title="push"))
    _warn_rejections(reports)


mappings_app = typer.Typer(help="Declarative field mappings.", no_args_is_help=True)
app.add_typer(mappings_app, name="mappings")


@mappings_app.command("check")
def mappings_check(
    crm: Annotated[str, typer.Option(help="salesforce, hubspot or all.")] = "all",
    offline: Annotated[bool, typer.Option(help="Check the files only.")] = False,
) -> None:
    """Validate mapping files (online: against the CRM's metadata); exit 2 on problems."""
    from sync.crm import links
    from sync.mapping_check import check_mapping

    settings = _settings()
    problems = []
    for link in links(settings, crm):
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
    crm: Annotated[str, typer.Option(help="salesforce, hubspot or all.")] = "all",
    limit: Annotated[int, typer.Option(help="Records to show (0: all).", min=0)] = 20,
    fmt: FormatOption = "table",
) -> None:
    """Dry run: the writes a push would make (record, field, CRM value now, value to write)."""
    from sync.output import render
    from sync.writeback import preview_writes

    _, fmt, configured, factory = _crm_command(crm, fmt)
    rows = []
    for link in configured:
        rows.extend(preview_writes(factory, link.mapping, limit=limit or None))
    if fmt == "json":
        _echo_json(rows)
        return
    if not rows:
        typer.echo("nothing to write: the CRM already shows every staged value", err=True)
        return
    typer.echo(render(rows, fmt, title="writes a push would make"))


# --- the partner program (later issues) -------------------------------------------------


_PASS_THROUGH = {"allow_extra_args": True, "ignore_unknown_options": True}


def _placeholder(command: str, capability: str) -> Callable[[typer.Context], None]:
    def handler(ctx: typer.Context) -> None:
        _not_built(command, capability)

    return handler


def _group(name: str, help_text: str, capability: str, commands: list[str]) -> None:
    """A command group whose commands all say their capability is not built yet."""
    group = typer.Typer(help=help_text, no_args_is_help=True)
    for command in commands:
        group.command(command, context_settings=_PASS_THROUGH, help="(not built yet)")(
            _placeholder(f"{name} {command}", capability)
        )
    app.add_typer(group, name=name)


_group(
    "partners",
    "Partners and their CRM references.",
    "partner management",
    ["add", "list", "import"],
)
_group("accounts", "House and do-not-contact accounts.", "blocked accounts", ["block"])
_group(
    "registrations",
    "Deal registrations.",
    "deal registration",
    ["submit", "list", "approve", "reject", "extend"],
)
_group("agreements", "Partner agreements.", "agreements", ["import", "show", "amend"])
_group(
    "payouts", "Commission payouts.", "payouts", ["list", "approve", "schedule", "pay", "reverse"]
)


app.command("report", context_settings=_PASS_THROUGH, help="Named reports (not built yet).")(
    _placeholder("report", "reporting")
)


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
    from sync.audit import audit_rows
    from sync.output import render

    settings = _settings()
    fmt = _format(fmt)
    rows = audit_rows(
        _store(settings), entity=entity, entity_id=entity_id, action=action, limit=limit
    )
    if fmt == "json":
        _echo_json(rows)
    elif rows:
        typer.echo(render(rows, fmt, title="audit log"))
    else:
        typer.echo("no audit rows match", err=True)


# --- entry point ------------------------------------------------------------------------


def main(argv: list[str] | None = None) -> None:
    """Console entry point: maps errors to exit statuses and one-line messages."""
    from connectors.errors import ConfigurationError, CrmError
    from sync.mapping import MappingError
    from sync.store import StoreError

    try:
        app(args=argv, prog_name="partnersync")
    except ConfigError as exc:
        typer.echo(f"partnersync: configuration error: {exc}", err=True)
        sys.exit(2)
    except MappingError as exc:
        for problem in exc.problems:
            typer.echo(str(problem), err=True)
        sys.exit(2)
    except ConfigurationError as exc:
        typer.echo(f"partnersync: CRM configuration error: {exc}", err=True)
        sys.exit(2)
    except CrmError as exc:
        typer.echo(f"partnersync: CRM error: {exc}", err=True)
        sys.exit(1)
    except StoreError as exc:
        typer.echo(f"partnersync: store error: {exc}", err=True)
        sys.exit(1)
    except KeyboardInterrupt:
        typer.echo("partnersync: interrupted", err=True)
        sys.exit(130)
    except Exception as exc:
        if os.environ.get("PARTNERSYNC_DEBUG"):
            raise
        typer.echo(
            f"partnersync: error: {type(exc).__name__}: {exc} "
            "(set PARTNERSYNC_DEBUG=1 for a traceback)",
            err=True,
        )
        sys.exit(1)
