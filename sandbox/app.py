"""The sandbox's ASGI app: both CRM APIs on one port, behind the realism middleware.

Order for every API call: on arrival, Salesforce's concurrent long-running request
limit (403 ``REQUEST_LIMIT_EXCEEDED`` "ConcurrentRequests Limit exceeded." while
``salesforce_concurrent_limit`` calls that have each run longer than
``salesforce_long_request_seconds`` are in flight; the latency counts as running time);
then latency; then authentication (401 for a missing, unknown or expired token); then
rate limits (HubSpot: 429 ``DAILY`` once the daily allocation is spent, 429
``TEN_SECONDLY_ROLLING`` over the rolling window, 429 ``SECONDLY`` over the search
endpoints' per-token rate; Salesforce: 403 ``REQUEST_LIMIT_EXCEEDED`` "TotalRequests"
once the daily allocation is spent); then injected faults; then the handler. Every call,
served or refused, is counted at ``GET /_sandbox/stats`` (see :mod:`sandbox.admin`).
"""

from __future__ import annotations

import asyncio
import re
from typing import Any

from starlette.applications import Starlette
from starlette.responses import Response
from starlette.routing import BaseRoute, Match, Route
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from sandbox.admin import admin_routes
from sandbox.core import Api, Sandbox
from sandbox.responses import (
    hubspot_error,
    hubspot_rate_limited,
    salesforce_error,
)

__all__ = ["create_app"]

_SALESFORCE_DATA = ("/services/data/", "/services/apexrest/")
_HUBSPOT_DATA = ("/crm/",)
_AUTH = ("/services/oauth2/", "/services/Soap/", "/oauth/")
_SEARCH = re.compile(r"/crm/v3/objects/[^/]+/search/?")


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

    def too_busy(self) -> Response | None:
        """Salesforce's concurrent long-running request limit, checked on arrival."""
        config = self.sandbox.config
        running = self.sandbox.in_flight.running_longer_than(config.salesforce_long_request_seconds)
        if running >= config.salesforce_concurrent_limit:
            return salesforce_error(
                403, "REQUEST_LIMIT_EXCEEDED", "ConcurrentRequests Limit exceeded."
            )
        return None

    def refuse(self, api: Api, scope: Scope) -> tuple[Response | None, list[tuple[str, str]]]:
        """The refusal to answer instead of serving the call (or None), and headers to
        add to the answer either way."""
        sandbox = self.sandbox
        token = _bearer(scope)
        state = sandbox.sessions.use(api, token)
        if state != "ok":
            if api == "salesforce":
                refusal = salesforce_error(401, "INVALID_SESSION_ID", "Session expired or invalid")
            elif state == "expired":
                refusal = hubspot_error(
                    401,
                    "EXPIRED_AUTHENTICATION",
                    "The OAuth token used to make this call expired.",
                )
            else:
                refusal = hubspot_error(
                    401,
                    "INVALID_AUTHENTICATION",
                    "Authentication credentials not found. This API supports OAuth 2.0 "
                    "authentication.",
                )
            return refusal, []
        used = sandbox.count_usage(api)
        extra: list[tuple[str, str]] = []
        if api == "salesforce":
            if used > sandbox.config.salesforce_daily_limit:
                return salesforce_error(
                    403,
                    "REQUEST_LIMIT_EXCEEDED",
                    f"TotalRequests Limit exceeded. ({sandbox.config.salesforce_daily_limit})",
                ), extra
        else:
            if used > sandbox.config.hubspot_daily_limit:
                return hubspot_rate_limited("DAILY", 60), extra
            if sandbox.hubspot_window is not None:
                allowed, _, wait = sandbox.hubspot_window.acquire()
                if not allowed:
                    return hubspot_rate_limited("TEN_SECONDLY_ROLLING", wait), extra
            spec = sandbox.search_limiter.spec
            if spec is not None and _is_search(scope):
                allowed, remaining, wait = sandbox.search_limiter.acquire(token or "")
                extra = [
                    ("X-HubSpot-RateLimit-Secondly", str(spec.max_calls)),
                    ("X-HubSpot-RateLimit-Secondly-Remaining", str(remaining)),
                ]
                if not allowed:
                    return hubspot_rate_limited("SECONDLY", wait), extra
        status = sandbox.faults.draw_status(allow_429=api == "hubspot")
        if status is None:
            return None, extra
        if status == 429:
            retry_after = sandbox.config.faults.retry_after
            return hubspot_rate_limited("TEN_SECONDLY_ROLLING", retry_after), extra
        if api == "salesforce":
            code = "SERVER_UNAVAILABLE" if status == 503 else "UNKNOWN_EXCEPTION"
            return salesforce_error(status, code, f"Injected fault: HTTP {status}"), extra
        return hubspot_error(status, "INTERNAL_ERROR", f"Injected fault: HTTP {status}"), extra


def _is_search(scope: Scope) -> bool:
    return scope["method"] == "POST" and _SEARCH.fullmatch(scope["path"]) is not None


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
        endpoint = self._endpoint(scope)
        if kind != "salesforce":
            await self._serve(kind, endpoint, scope, receive, send)
            return
        busy = self.gate.too_busy()
        if busy is not None:
            sandbox.stats.record(kind, endpoint, busy.status_code)
            self._limit_headers("salesforce", busy.headers)
            await busy(scope, receive, send)
            return
        ticket = sandbox.in_flight.enter()
        try:
            await self._serve(kind, endpoint, scope, receive, send)
        finally:
            sandbox.in_flight.leave(ticket)

    async def _serve(
        self, kind: str, endpoint: str, scope: Scope, receive: Receive, send: Send
    ) -> None:
        sandbox = self.sandbox
        if sandbox.config.latency_ms > 0:
            await asyncio.sleep(sandbox.config.latency_ms / 1000.0)
        api: Api | None = None
        extra: list[tuple[str, str]] = []
        if kind in ("salesforce", "hubspot"):
            api = "salesforce" if kind == "salesforce" else "hubspot"
            refusal, extra = self.gate.refuse(api, scope)
            if refusal is not None:
                sandbox.stats.record(kind, endpoint, refusal.status_code)
                self._limit_headers(api, refusal.headers)
                for name, value in extra:
                    refusal.headers[name] = value
                await refusal(scope, receive, send)
                return
        status_seen = 500

        async def send_with_headers(message: Message) -> None:
            nonlocal status_seen
            if message["type"] == "http.response.start":
                status_seen = message["status"]
                if api is not None:
                    headers = list(message.get("headers", []))
                    for name, value in [*self._limit_pairs(api), *extra]:
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


def create_app(sandbox: Sandbox) -> ASGIApp:
    """The ASGI app serving ``sandbox``: Salesforce REST, HubSpot CRM v3 and ``/_sandbox``."""
    from sandbox.hubspot.routes import routes as hubspot_routes
    from sandbox.salesforce.routes import routes as salesforce_routes

    routes = [*salesforce_routes(sandbox), *hubspot_routes(sandbox), *admin_routes(sandbox)]
    app = Starlette(routes=routes)
    return SandboxMiddleware(app, sandbox, routes)
