"""Helpers of the HubSpot sandbox tests: a controllable clock, raw HTTP, error bodies."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

import requests

__all__ = ["T0", "Clock", "Http", "error_body"]

#: The instant the test clock starts at.
T0 = datetime(2024, 1, 2, tzinfo=UTC)


class Clock:
    """A settable clock for ``sandbox.clock``: time moves only when a test says so."""

    def __init__(self, start: datetime = T0) -> None:
        self.now = start

    def __call__(self) -> datetime:
        return self.now

    def tick(self, **delta: float) -> datetime:
        self.now += timedelta(**delta)
        return self.now


class Http:
    """Raw HTTP to the served sandbox, for what hubspot-api-client has no method for."""

    def __init__(self, base: str, token: str = "sandbox") -> None:
        self.base = base
        self.session = requests.Session()
        self.session.headers["Authorization"] = f"Bearer {token}"

    def __call__(self, method: str, path: str, **kwargs: Any) -> requests.Response:
        return self.session.request(method, self.base + path, timeout=10, **kwargs)


def error_body(exc: BaseException) -> dict[str, Any]:
    """The JSON body of a hubspot-api-client exception."""
    body = json.loads(exc.body)  # type: ignore[attr-defined]
    assert isinstance(body, dict)
    return body
