"""The sandbox's own endpoints under ``/_sandbox`` (no auth, no limits, not counted).

- ``GET /_sandbox/stats``: calls per endpoint and API, record writes per API's journal
  (``writes``) and webhook deliveries per API (``webhooks``: events queued, requests
  acknowledged, events delivered, failed attempts, events dropped, events waiting);
  ``DELETE`` resets the call and webhook counters (not the journal);
- ``GET /_sandbox/config``: every knob; ``PUT`` a JSON object of knobs to change some
  (the names and forms of :data:`KNOBS`; an unknown name or a bad value is a 400 naming
  it, and nothing changes);
- ``GET /_sandbox/health``: record counts.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from sandbox.core import Sandbox, SandboxConfig
from sandbox.knobs import (
    FaultSpecError,
    RateLimitSpec,
    check_count,
    check_org_id,
    check_seconds,
    check_url,
    parse_faults,
    parse_rate,
)
from sandbox.responses import json_response

__all__ = ["KNOBS", "admin_routes", "knob_values", "parse_knobs"]


def _number(name: str, unit: str = "seconds") -> Callable[[Any], float]:
    def parse(raw: Any) -> float:
        return check_seconds(name, raw, unit=unit)

    return parse


def _secret(raw: Any) -> str:
    if not isinstance(raw, str) or not raw:
        raise FaultSpecError("hubspot_client_secret: expected a non-empty string")
    return raw


def _rate(name: str) -> Callable[[Any], RateLimitSpec | None]:
    def parse(raw: Any) -> RateLimitSpec | None:
        if raw is not None and not isinstance(raw, str):
            raise FaultSpecError(f"{name}: expected CALLS/SECONDSs, e.g. 5/1s, or null")
        return parse_rate(raw)

    return parse


#: Knob name -> how its JSON value becomes a :class:`SandboxConfig` value.
KNOBS: dict[str, Callable[[Any], Any]] = {
    "latency_ms": _number("latency_ms", "milliseconds"),
    "faults": lambda raw: parse_faults(None if raw is None else str(raw)),
    "hubspot_rate": _rate("hubspot_rate"),
    "hubspot_search_rate": _rate("hubspot_search_rate"),
    "salesforce_daily_limit": lambda raw: check_count("salesforce_daily_limit", raw, minimum=0),
    "hubspot_daily_limit": lambda raw: check_count("hubspot_daily_limit", raw, minimum=0),
    "search_lag_seconds": _number("search_lag_seconds"),
    "salesforce_concurrent_limit": lambda raw: check_count("salesforce_concurrent_limit", raw),
    "salesforce_long_request_seconds": _number("salesforce_long_request_seconds"),
    "hubspot_webhook_url": lambda raw: check_url("hubspot_webhook_url", raw),
    "hubspot_client_secret": _secret,
    "salesforce_outbound_url": lambda raw: check_url("salesforce_outbound_url", raw),
    "salesforce_organization_id": lambda raw: check_org_id("salesforce_organization_id", raw),
    "webhook_debounce_seconds": _number("webhook_debounce_seconds"),
    "webhook_retry_seconds": lambda raw: check_seconds("webhook_retry_seconds", raw, positive=True),
    "webhook_attempts": lambda raw: check_count("webhook_attempts", raw),
}


def parse_knobs(body: Any) -> dict[str, Any]:
    """The changes a ``PUT /_sandbox/config`` body asks for; :class:`FaultSpecError`
    names the first unknown knob or bad value."""
    if not isinstance(body, dict):
        raise FaultSpecError("expected a JSON object of knobs")
    unknown = sorted(set(body) - set(KNOBS))
    if unknown:
        raise FaultSpecError(f"unknown knob {unknown[0]!r} (expected one of: {', '.join(KNOBS)})")
    return {name: KNOBS[name](raw) for name, raw in body.items()}


def _rate_text(spec: RateLimitSpec | None) -> str | None:
    return None if spec is None else f"{spec.max_calls}/{spec.interval_seconds:g}s"


def knob_values(config: SandboxConfig) -> dict[str, Any]:
    """Every knob, in the form ``PUT`` takes (the client secret is not shown)."""
    values = {name: getattr(config, name) for name in KNOBS if name != "hubspot_client_secret"}
    values["faults"] = str(config.faults)
    values["hubspot_rate"] = _rate_text(config.hubspot_rate)
    values["hubspot_search_rate"] = _rate_text(config.hubspot_search_rate)
    return values


def admin_routes(sandbox: Sandbox) -> list[BaseRoute]:
    """The ``/_sandbox`` routes of ``sandbox``."""

    async def stats(request: Request) -> Response:
        if request.method == "DELETE":
            sandbox.stats.reset()
            sandbox.webhooks.reset()
            return Response(status_code=204)
        writes = {api: sandbox.journal.count(api) for api in ("salesforce", "hubspot")}
        return json_response(
            {**sandbox.stats.snapshot(), "writes": writes, "webhooks": sandbox.webhooks.snapshot()}
        )

    async def config(request: Request) -> Response:
        if request.method == "PUT":
            try:
                sandbox.reconfigure(**parse_knobs(await request.json()))
            except (FaultSpecError, TypeError, ValueError) as exc:
                return json_response({"error": str(exc)}, 400)
        return json_response(knob_values(sandbox.config))

    async def health(_: Request) -> Response:
        return json_response(
            {
                "status": "ok",
                "salesforce_records": sandbox.salesforce.count(),
                "hubspot_records": sandbox.hubspot.count(),
            }
        )

    return [
        Route("/_sandbox/stats", stats, methods=["GET", "DELETE"]),
        Route("/_sandbox/config", config, methods=["GET", "PUT"]),
        Route("/_sandbox/health", health, methods=["GET"]),
    ]
