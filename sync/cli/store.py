"""``partnersync db``: the partner store's schema."""

from __future__ import annotations

import typer

from sync.cli.app import app
from sync.cli.common import load

__all__: list[str] = []

db_app = typer.Typer(help="The partner store.", no_args_is_help=True)
app.add_typer(db_app, name="db")


@db_app.command("upgrade")
def db_upgrade() -> None:
    """Migrate the store to the latest schema."""
    from sync.store import current_revision, upgrade

    settings = load()
    upgrade(settings.store.url)
    typer.echo(f"store at revision {current_revision(settings.store.url)}")
