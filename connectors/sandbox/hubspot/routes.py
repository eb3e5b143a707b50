"""HubSpot CRM v3 routes (scaffold)."""
from __future__ import annotations
from starlette.routing import BaseRoute
from connectors.sandbox.core import Sandbox

def routes(sandbox: Sandbox) -> list[BaseRoute]:
    return []
