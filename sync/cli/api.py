"""``partnersync api-keys`` (create, list, revoke the HTTP API's keys) and ``partnersync
api`` (serve the HTTP API)."""

from __future__ import annotations

from typing import Annotated

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

__all__: list[str] = []

keys_app = typer.Typer(help="The HTTP API's bearer keys.", no_args_is_help=True)
app.add_typer(keys_app, name="api-keys")


@keys_app.command("create")
def create(
    partner: Annotated[
        str | None, typer.Option("--partner", metavar="ID", help="A key for this partner.")
    ] = None,
    admin: Annotated[bool, typer.Option("--admin", help="An admin key.")] = False,
    name: Annotated[str | None, typer.Option(help="What the key is for.")] = None,
    fmt: FormatOption = "table",
) -> None:
    """Create a key; it is printed this once (only its hash is stored)."""
    from sync.api.keys import create_key

    settings = load()
    fmt = check_format(fmt)
    view, secret = create_key(open_store(settings), partner_id=partner, admin=admin, name=name,
                              actor=actor())  # fmt: skip
    echo_result({"key": secret, **view}, fmt)
    if fmt == "table":
        typer.echo("Keep the key now: partnersync stores only its hash.", err=True)


@keys_app.command("list")
def list_(fmt: FormatOption = "table") -> None:
    """Every key by its prefix (never the key), revoked ones included."""
    from sync.api.keys import list_keys

    settings = load()
    fmt = check_format(fmt)
    echo_rows(list_keys(open_store(settings)), fmt, title="API keys",
              empty="No API keys yet: partnersync api-keys create --admin")  # fmt: skip


@keys_app.command("revoke")
def revoke(
    prefix: Annotated[str, typer.Argument(metavar="PREFIX", help="The key's prefix, ps_...")],
    fmt: FormatOption = "table",
) -> None:
    """Revoke a key: its next request is refused (401)."""
    from sync.api.keys import revoke_key

    settings = load()
    fmt = check_format(fmt)
    echo_result(revoke_key(open_store(settings), prefix, actor=actor()), fmt)


@app.command()
def api(
    host: Annotated[str | None, typer.Option(help="Default: [api] host.")] = None,
    port: Annotated[int | None, typer.Option(help="Default: [api] port.")] = None,
    workers: Annotated[int, typer.Option(min=1, help="Server processes.")] = 1,
) -> None:
    """Serve the HTTP API (docs at /docs, the OpenAPI document at /openapi.json)."""
    import os

    import uvicorn

    from sync.cli.app import state
    from sync.settings import ENV_PREFIX

    settings = load(default_level="info")
    if state.settings_file:  # each server process reads the same file
        os.environ[f"{ENV_PREFIX}SETTINGS"] = str(state.settings_file)
    open_store(settings)  # the schema is current before the first request
    uvicorn.run(
        "sync.api.serve:app", factory=True, host=host or settings.api.host,
        port=port or settings.api.port, workers=workers, log_config=None, access_log=False,
    )  # fmt: skip
