"""The partner program's command group still to come: API keys (partners, accounts,
registrations, the deal inspector, agreements, commissions, payouts and reports are
built).

Until a capability is built its commands exist (so scripts and ``--help`` show the whole
product) and say plainly that it is not built yet, exit status 2.
"""

from __future__ import annotations

from collections.abc import Callable

import typer

from sync.cli.app import app
from sync.cli.common import not_built

__all__: list[str] = []

_PASS_THROUGH = {"allow_extra_args": True, "ignore_unknown_options": True}


def _placeholder(command: str, capability: str) -> Callable[[typer.Context], None]:
    def handler(ctx: typer.Context) -> None:
        not_built(command, capability)

    return handler


def _group(name: str, help_text: str, capability: str, commands: list[str]) -> None:
    """A command group whose commands all say their capability is not built yet."""
    group = typer.Typer(help=help_text, no_args_is_help=True)
    for command in commands:
        group.command(command, context_settings=_PASS_THROUGH, help="(not built yet)")(
            _placeholder(f"{name} {command}", capability)
        )
    app.add_typer(group, name=name)


_group("api-keys", "HTTP API keys.", "the HTTP API", ["create", "list", "revoke"])
