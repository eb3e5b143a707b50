"""The ``partnersync`` command: the root of the command groups, global options, exit codes.

Commands stay thin: decode options, call one service, print its result. Exit status 0 on
success, 2 on a usage or configuration error (one line, no traceback), 1 on any other
failure. Commands whose capability is not built yet say so and exit 2; they never print
made-up output. One-shot commands print their result on stdout and log only warnings on
stderr (``-v`` / ``--log-level info`` for more); the daemon logs at info.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Annotated

import typer

from sync.settings import ConfigError

__all__ = ["LOG_LEVELS", "app", "main", "state"]

LOG_LEVELS = ("debug", "info", "warning", "error")

app = typer.Typer(
    name="partnersync",
    help="Sync a CRM (Salesforce, HubSpot) with your partner program.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)


class _State:
    """The global options, for the commands that read settings and configure logging."""

    settings_file: Path | None = None
    log_level: str | None = None  # None: the command's own default


state = _State()


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
        str | None,
        typer.Option(
            "--log-level", help="debug, info, warning or error (default: warning; run: info)."
        ),
    ] = None,
    verbose: Annotated[
        bool, typer.Option("-v", "--verbose", help="Log at info (same as --log-level info).")
    ] = False,
) -> None:
    if log_level is not None and log_level.lower() not in LOG_LEVELS:
        raise ConfigError(
            f"--log-level must be one of: {', '.join(LOG_LEVELS)} (got {log_level!r})"
        )
    state.settings_file = settings
    state.log_level = log_level.lower() if log_level else ("info" if verbose else None)


def main(argv: list[str] | None = None) -> None:
    """Console entry point: maps errors to exit statuses and one-line messages."""
    import sync.cli  # noqa: F401 - registers the command groups
    from connectors.errors import ConfigurationError, CrmError, QuotaExhausted
    from sync.files import FileError
    from sync.program import ProgramError
    from sync.store import StoreError

    try:
        app(args=argv, prog_name="partnersync")
    except ConfigError as exc:
        typer.echo(f"partnersync: configuration error: {exc}", err=True)
        sys.exit(2)
    except FileError as exc:
        for problem in exc.problems:
            typer.echo(str(problem), err=True)
        sys.exit(2)
    except ProgramError as exc:
        typer.echo(f"partnersync: {exc}", err=True)
        sys.exit(2)
    except ConfigurationError as exc:
        typer.echo(f"partnersync: CRM configuration error: {exc}", err=True)
        sys.exit(2)
    except QuotaExhausted as exc:
        code = f" [{exc.code}]" if exc.code else ""
        typer.echo(
            f"partnersync: {exc.crm or 'CRM'}: the daily API allocation is spent "
            f"({exc.message}{code}); stopped with nothing lost: what is left waits for the "
            "next run after the reset",
            err=True,
        )
        sys.exit(1)
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
