"""In-memory HubSpot portal (scaffold: replaced by the HubSpot half of the sandbox)."""
from __future__ import annotations
from typing import TYPE_CHECKING
if TYPE_CHECKING:
    from connectors.sandbox.core import Sandbox

class HubSpotPortal:
    def __init__(self, sandbox: Sandbox) -> None:
        self.sandbox = sandbox

    def count(self, object_type: str = "deals") -> int:
        return 0
