"""What the command modules share: settings and logging, the store, options, printing."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Annotated, Any

import typer
from sqlalchemy.orm import Session, sessionmaker

from sync.cli.app import state
from sync.settings import ConfigError, Settings, load_settings

__all__ = [
    "CrmOption",
    "FormatOption",
    "actor",
    "check_format",
    "echo_json",
    "echo_result",
    "echo_sections",
    "load",
    "open_store",
]

FormatOption = Annotated[str, typer.Option("--format", help="table, csv or json.")]
CrmOption = Annotated[str, typer.Option(help="salesforce, hubspot or all.")]


def load(default_level: str = "warning") -> Settings:
    """The settings, with logging configured (``default_level`` unless the user chose)."""
    from sync.log import configure_logging

    settings = load_settings(state.settings_file, notice=lambda line: typer.echo(line, err=True))
    configure_logging(state.log_level or default_level, secrets=settings.secrets())
    return settings


def open_store(settings: Settings) -> sessionmaker[Session]:
    """Sessions on the configured store, its schema brought up to date (SQLite) or checked."""
    from sync.store import ensure_schema, make_engine, session_factory

    ensure_schema(settings.store.url)
    return session_factory(make_engine(settings.store.url))


def check_format(value: str) -> str:
    from sync.cli.output import FORMATS

    if value not in FORMATS:
        raise ConfigError(f"--format must be one of: {', '.join(FORMATS)} (got {value!r})")
    return value


def echo_json(document: Any) -> None:
    from sync.plain import plain

    typer.echo(json.dumps(plain(document, floats=True), indent=2, ensure_ascii=False))


def echo_sections(
    sections: Sequence[tuple[str, Sequence[dict[str, Any]]]],
    fmt: str,
    *,
    titles: Mapping[str, str] | None = None,
    optional: Mapping[str, Sequence[str]] | None = None,
) -> None:
    """Print several result listings: JSON ``{name: rows}``; one CSV table (with a last
    ``table`` column naming each row's listing when there are several); a terminal table
    each (``titles`` by name; ``optional``: the columns a narrow terminal may drop)."""
    from sync.cli.output import render, render_sections

    if fmt == "json":
        echo_json({name: list(rows) for name, rows in sections})
    elif fmt == "csv":
        if len(sections) == 1:
            typer.echo(render(sections[0][1], fmt))
        else:
            typer.echo(render_sections(sections))
    else:
        for name, rows in sections:
            if rows:
                title = (titles or {}).get(name, name)
                typer.echo(render(rows, fmt, title=title, optional=(optional or {}).get(name, ())))


def actor() -> str:
    """Who acts from this command line: ``cli:<the operating-system user>``."""
    import getpass

    try:
        return f"cli:{getpass.getuser()}"
    except (KeyError, OSError):  # no user name in this environment (a container)
        return "cli"


def echo_result(row: Mapping[str, Any], fmt: str) -> None:
    """One created or changed thing: a two-column table (field, value), a JSON object, or
    a one-row CSV table."""
    from sync.cli.output import render

    if fmt == "table":
        pairs = [{"field": k, "value": v} for k, v in row.items()]
        typer.echo(render(pairs, fmt))
    else:
        typer.echo(render([dict(row)], fmt))


def echo_rows(
    rows: Sequence[Mapping[str, Any]],
    fmt: str,
    *,
    title: str,
    optional: Sequence[str] = (),
    empty: str,
) -> None:
    """A listing: a table (or CSV, JSON) of ``rows``; for no rows as a table, the hint
    ``empty`` on stderr instead (CSV and JSON print their empty forms, for scripts)."""
    from sync.cli.output import render

    if not rows and fmt == "table":
        typer.echo(empty, err=True)
        return
    typer.echo(render(rows, fmt, title=title, optional=optional))
