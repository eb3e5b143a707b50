"""``partnersync``: the command line, one module per command group.

- :mod:`~sync.cli.app`: the root command, global options, exit statuses;
- :mod:`~sync.cli.local`: ``demo``, ``sandbox``;
- :mod:`~sync.cli.store`: ``db``;
- :mod:`~sync.cli.cycle`: ``sync``, ``push``;
- :mod:`~sync.cli.mappings`: ``mappings check|preview``;
- :mod:`~sync.cli.audit`: ``audit``;
- :mod:`~sync.cli.partners`: ``partners``, ``accounts``;
- :mod:`~sync.cli.registrations`: ``registrations``;
- :mod:`~sync.cli.deals`: ``deals list|show``, the deal inspector;
- :mod:`~sync.cli.money`: ``agreements``, ``commissions``, ``payouts``;
- :mod:`~sync.cli.api`: ``api-keys``, ``api``;
- :mod:`~sync.cli.daemon`: ``run``, ``scheduler``, ``status``.
"""

from __future__ import annotations

from sync.cli import (
    api,
    audit,
    cycle,
    daemon,
    deals,
    local,
    mappings,
    money,
    partners,
    registrations,
    store,
)
from sync.cli.app import app, main

__all__ = [
    "api",
    "app",
    "audit",
    "cycle",
    "daemon",
    "deals",
    "local",
    "main",
    "mappings",
    "money",
    "partners",
    "registrations",
    "store",
]
