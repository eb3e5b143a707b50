"""Helpers of the Salesforce sandbox tests: a settable clock, seeding, clients, errors."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, date, datetime, timedelta
from typing import Any

from simple_salesforce import Salesforce

from connectors.transport import session_for
from sandbox.salesforce.org import SalesforceOrg
from sandbox.server import SandboxServer

__all__ = ["T0", "VALID", "Clock", "code_of", "collection", "login_client", "opportunity", "seed"]

#: The instant the test clock starts at.
T0 = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
#: A JSON body the REST API accepts for a new Opportunity.
VALID: dict[str, Any] = {"Name": "Deal", "StageName": "Prospecting", "CloseDate": "2026-06-30"}


class Clock:
    """A settable clock for ``sandbox.clock``: time moves only when a test says so."""

    def __init__(self, start: datetime = T0) -> None:
        self.now = start

    def __call__(self) -> datetime:
        return self.now

    def tick(self, **delta: float) -> datetime:
        self.now += timedelta(**delta)
        return self.now


def opportunity(index: int = 0, **extra: Any) -> dict[str, Any]:
    """Typed fields of a valid Opportunity for the Python API."""
    return {
        "Name": f"Deal {index:05d}",
        "StageName": "Prospecting",
        "CloseDate": date(2026, 6, 30),
        "Amount": 100 + index,
        **extra,
    }


def seed(org: SalesforceOrg, n: int, **extra: Any) -> list[str]:
    """``n`` Opportunities named ``Deal 00000``... through the Python API; their ids."""
    return org.insert_many("Opportunity", (opportunity(i, **extra) for i in range(n)))


def collection(
    sf: Salesforce,
    method: str,
    records: Iterable[dict[str, Any]],
    all_or_none: bool = False,
    path: str = "composite/sobjects",
    sobject: str = "Opportunity",
) -> list[dict[str, Any]]:
    """One sObject Collections call through ``sf.restful`` (the client has no helper)."""
    body = {
        "allOrNone": all_or_none,
        "records": [{"attributes": {"type": sobject}, **r} for r in records],
    }
    result = sf.restful(path, method=method, json=body)
    assert isinstance(result, list)
    return result


def code_of(exc: BaseException) -> str:
    """The ``errorCode`` of a simple-salesforce exception's JSON array body."""
    content = exc.content  # type: ignore[attr-defined]
    assert isinstance(content, list), content
    return str(content[0]["errorCode"])


def login_client(server: SandboxServer, domain: str = "login", **kwargs: Any) -> Salesforce:
    """A simple-salesforce client that logs in (SOAP, OAuth or JWT) at the sandbox.

    The session routes ``https://{domain}.salesforce.com`` (and the JWT ``instance_url``
    host, when given) to the sandbox, so expired sessions can be renewed too.
    """
    hosts = [f"{kwargs['instance_url']}.salesforce.com"] if "instance_url" in kwargs else []
    session, _ = session_for(server.url, login_domain=domain, login_hosts=hosts)
    return Salesforce(session=session, domain=domain, version="59.0", **kwargs)
