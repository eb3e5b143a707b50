"""In-memory Salesforce org (scaffold: replaced by the Salesforce half of the sandbox)."""
from __future__ import annotations
from typing import TYPE_CHECKING
if TYPE_CHECKING:
    from connectors.sandbox.core import Sandbox

class SalesforceOrg:
    def __init__(self, sandbox: Sandbox) -> None:
        self.sandbox = sandbox

    def count(self, sobject: str = "Opportunity") -> int:
        return 0
