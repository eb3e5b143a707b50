"""The sandbox's ASGI app: both CRM APIs on one port, behind the realism middleware.

Order for every API call: latency, then authentication (401 for a missing, unknown or
expired token), then rate limits (HubSpot 429 over the rolling window, Salesforce 403
``REQUEST_LIMIT_EXCEEDED`` once the daily allocation is spent), then injected faults, then
the handler. Every call, served or refused, is counted at ``GET /_sandbox/stats``, which
also says how many record writes each API's write journal holds (``writes``; ``DELETE``
resets the call counters only).
"""

from __future__ import annotations

import asyncio
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Match, Route
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from sandbox.core import Api, Sandbox
from sandbox.knobs import FaultSpecError, parse_faults, parse_rate
from sandbox.responses import hubspot_error, json_response, salesforce_error

__all__ = ["create_app"]

_SALESFORCE_DATA = ("/services/data/", "/services/apexrest/")
_HUBSPOT_DATA = ("/crm/",)
_AUTH = ("/services/oauth2/", "/services/Soap/", "/oauth/")


def _classify(path: str) -> str:
    if path.startswith(_SALESFORCE_DATA):
        return "salesforce"
    if path.startswith(_HUBSPOT_DATA):
        return "hubspot"
    if path.startswith(_AUTH):
        return "salesforce-auth" if path.startswith("/services/") else "hubspot-auth"
    return "admin"


def _bearer(scope: Scope) -> str | None:
    for name, value in scope.get("headers", ()):
        if name == b"authorization":
            kind, _, token = value.decode("latin-1").partition(" ")
            if kind.lower() in ("bearer", "oauth"):
                return token.strip() or None
    return None


class _Gate:
    """Decides, before the handler runs, whether an API call is refused."""

    def __init__(self, sandbox: Sandbox) -> None:
        self.sandbox = sandbox

    def refuse(self, api: Api, scope: Scope) -> Response | None:
        sandbox = self.sandbox
        state = sandbox.sessions.use(api, _bearer(scope))
        if state != "ok":
            if api == "salesforce":
                return salesforce_error(401, "INVALID_SESSION_ID", "Session expired or invalid")
            if state == "expired":
                return hubspot_error(
                    401,
                    "EXPIRED_AUTHENTICATION",
                    "The OAuth token used to make this call expired.",
                )
            return hubspot_error(
                401,
                "INVALID_AUTHENTICATION",
                "Authentication credentials not found. This API supports OAuth 2.0 authentication.",
            )
        used = sandbox.count_usage(api)
        if api == "salesforce":
            if used > sandbox.config.salesforce_daily_limit:
                return salesforce_error(
                    403,
                    "REQUEST_LIMIT_EXCEEDED",
                    f"TotalRequests Limit exceeded. ({sandbox.config.salesforce_daily_limit})",
                )
        else:
            if used > sandbox.config.hubspot_daily_limit:
                return self._hubspot_429("DAILY", "You have reached your daily limit.", 60)
            if sandbox.hubspot_window is not None:
                allowed, _, wait = sandbox.hubspot_window.acquire()
                if not allowed:
                    return self._hubspot_429(
                        "TEN_SECONDLY_ROLLING",
                        "You have reached your ten_secondly_rolling limit.",
                        wait,
                    )
        status = sandbox.faults.draw_status(allow_429=api == "hubspot")
        if status is None:
            return None
        if status == 429:
            return self._hubspot_429(
                "TEN_SECONDLY_ROLLING",
                "You have reached your ten_secondly_rolling limit.",
                sandbox.config.faults.retry_after,
            )
        if api == "salesforce":
            code = "SERVER_UNAVAILABLE" if status == 503 else "UNKNOWN_EXCEPTION"
            return salesforce_error(status, code, f"Injected fault: HTTP {status}")
        return hubspot_error(status, "INTERNAL_ERROR", f"Injected fault: HTTP {status}")

    def _hubspot_429(self, policy: str, message: str, retry_after: int) -> Response:
        return hubspot_error(
            429,
            "RATE_LIMITS",
            message,
            headers={"Retry-After": str(retry_after)},
            errorType="RATE_LIMIT",
            policyName=policy,
            requestId=_request_id(),
        )


def _request_id() -> str:
    import uuid

    return str(uuid.uuid4())


class SandboxMiddleware:
    """Latency, gatekeeping, limit headers and call statistics around the routes."""

    def __init__(self, app: ASGIApp, sandbox: Sandbox, routes: list[BaseRoute]) -> None:
        self.app = app
        self.sandbox = sandbox
        self.routes = routes
        self.gate = _Gate(sandbox)

    def _endpoint(self, scope: Scope) -> str:
        for route in self.routes:
            match, _ = route.matches(scope)
            if match == Match.FULL and isinstance(route, Route):
                return f"{scope['method']} {route.path}"
        return f"{scope['method']} {scope['path']}"

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        sandbox = self.sandbox
        kind = _classify(scope["path"])
        if kind == "admin":
            await self.app(scope, receive, send)
            return
        if sandbox.config.latency_ms > 0:
            await asyncio.sleep(sandbox.config.latency_ms / 1000.0)
        endpoint = self._endpoint(scope)
        api: Api | None = None
        if kind in ("salesforce", "hubspot"):
            api = "salesforce" if kind == "salesforce" else "hubspot"
            refusal = self.gate.refuse(api, scope)
            if refusal is not None:
                sandbox.stats.record(kind, endpoint, refusal.status_code)
                self._limit_headers(api, refusal.headers)
                await refusal(scope, receive, send)
                return
        status_seen = 500

        async def send_with_headers(message: Message) -> None:
            nonlocal status_seen
            if message["type"] == "http.response.start":
                status_seen = message["status"]
                if api is not None:
                    headers = list(message.get("headers", []))
                    for name, value in self._limit_pairs(api):
                        headers.append((name.encode(), value.encode()))
                    message["headers"] = headers
            await send(message)

        try:
            await self.app(scope, receive, send_with_headers)
        finally:
            sandbox.stats.record(kind, endpoint, status_seen)

    def _limit_pairs(self, api: Api) -> list[tuple[str, str]]:
        sandbox = self.sandbox
        used = sandbox.api_usage[api]
        if api == "salesforce":
            limit = sandbox.config.salesforce_daily_limit
            return [("Sforce-Limit-Info", f"api-usage={used}/{limit}")]
        daily = sandbox.config.hubspot_daily_limit
        pairs = [
            ("X-HubSpot-RateLimit-Daily", str(daily)),
            ("X-HubSpot-RateLimit-Daily-Remaining", str(max(0, daily - used))),
        ]
        window = sandbox.hubspot_window
        if window is not None:
            spec = window.spec
            pairs += [
                (
                    "X-HubSpot-RateLimit-Interval-Milliseconds",
                    str(int(spec.interval_seconds * 1000)),
                ),
                ("X-HubSpot-RateLimit-Max", str(spec.max_calls)),
                ("X-HubSpot-RateLimit-Remaining", str(max(0, spec.max_calls - len(window._calls)))),
            ]
        return pairs

    def _limit_headers(self, api: Api, headers: Any) -> None:
        for name, value in self._limit_pairs(api):
            headers[name] = value


def _admin_routes(sandbox: Sandbox) -> list[BaseRoute]:
    async def stats(request: Request) -> Response:
        if request.method == "DELETE":
            sandbox.stats.reset()
            return Response(status_code=204)
        writes = {api: sandbox.journal.count(api) for api in ("salesforce", "hubspot")}
        return json_response({**sandbox.stats.snapshot(), "writes": writes})

    async def config(request: Request) -> Response:
        """``PUT`` JSON ``{"latency_ms", "faults", "hubspot_rate"}`` to change knobs."""
        if request.method == "PUT":
            body = await request.json()
            changes: dict[str, Any] = {}
            try:
                if "latency_ms" in body:
                    changes["latency_ms"] = float(body["latency_ms"])
                if "faults" in body:
                    changes["faults"] = parse_faults(body["faults"])
                if "hubspot_rate" in body:
                    changes["hubspot_rate"] = parse_rate(body["hubspot_rate"])
                for key in ("salesforce_daily_limit", "hubspot_daily_limit"):
                    if key in body:
                        changes[key] = int(body[key])
            except (FaultSpecError, TypeError, ValueError) as exc:
                return json_response({"error": str(exc)}, 400)
            sandbox.reconfigure(**changes)
        current = sandbox.config
        return json_response(
            {
                "latency_ms": current.latency_ms,
                "faults": str(current.faults),
                "hubspot_rate": (
                    f"{current.hubspot_rate.max_calls}/{current.hubspot_rate.interval_seconds:g}s"
                    if current.hubspot_rate
                    else None
                ),
                "salesforce_daily_limit": current.salesforce_daily_limit,
                "hubspot_daily_limit": current.hubspot_daily_limit,
            }
        )

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


def create_app(sandbox: Sandbox) -> ASGIApp:
    """The ASGI app serving ``sandbox``: Salesforce REST, HubSpot CRM v3 and ``/_sandbox``."""
    from sandbox.hubspot.routes import routes as hubspot_routes
    from sandbox.salesforce.routes import routes as salesforce_routes

    routes = [*salesforce_routes(sandbox), *hubspot_routes(sandbox), *_admin_routes(sandbox)]
    app = Starlette(routes=routes)
    return SandboxMiddleware(app, sandbox, routes)
