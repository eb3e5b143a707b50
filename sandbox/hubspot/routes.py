"""The HubSpot half of the sandbox's HTTP API: CRM v3 objects, search, batch, properties,
v4 associations and OAuth, as Starlette routes.

Handlers only parse the request (query parameters the way hubspot-api-client sends them:
repeated ``properties=a&properties=b``, ``archived=False``), run one portal operation under
``sandbox.lock`` and answer its result with the exact success status of PROTOCOLS B1-B5 --
the client silently returns ``None`` on any other. A :class:`PortalError` becomes HubSpot's
JSON error object. Anything under ``/crm/`` that no route serves is a JSON 404 (405 for a
known path with another method) rather than Starlette's plain-text one.

Auth, rate limits and injected faults happen before these handlers, in the app middleware.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import orjson
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Match, Route

from sandbox.core import Sandbox
from sandbox.hubspot import associations, batch, objects, properties
from sandbox.hubspot.errors import PortalError, bad_request
from sandbox.hubspot.oauth import token_route
from sandbox.hubspot.portal import HubSpotPortal
from sandbox.hubspot.search import search
from sandbox.responses import json_response

__all__ = ["routes"]

Handler = Callable[[Request], Awaitable[Response]]
_ALL_METHODS = ["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"]
_V3 = "/crm/v3/objects/{object_type}"
_PROPS = "/crm/v3/properties/{object_type}"
_V4 = "/crm/v4/objects/{from_type}/{from_id}/associations"


def _strings(request: Request, name: str) -> list[str]:
    """A list parameter: repeated keys and comma-separated values both count."""
    return [p for v in request.query_params.getlist(name) for p in v.split(",") if p]


def _flag(request: Request, name: str) -> bool:
    return request.query_params.get(name, "false").strip().lower() == "true"


def _number(request: Request, name: str, default: int) -> int:
    raw = request.query_params.get(name)
    if raw is None or raw == "":
        return default
    if not raw.lstrip("-").isdigit():
        raise bad_request(f"Invalid value for {name}: {raw}", context={name: [raw]})
    return int(raw)


async def _json(request: Request) -> Any:
    raw = await request.body()
    if not raw.strip():
        return None
    try:
        return orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        where = f"line {exc.lineno}, column {exc.colno}"
        raise bad_request(f"Invalid input JSON on {where}: {exc.msg}") from None


def _empty(status: int = 204) -> Response:
    return Response(status_code=status)


class _Api:
    """The handlers, bound to one sandbox (the portal is looked up per request)."""

    def __init__(self, sandbox: Sandbox) -> None:
        self.sandbox = sandbox

    @property
    def portal(self) -> HubSpotPortal:
        return self.sandbox.hubspot

    def guarded(self, handler: Handler) -> Handler:
        """Answer a :class:`PortalError` raised by ``handler`` as HubSpot's error object."""

        async def endpoint(request: Request) -> Response:
            try:
                return await handler(request)
            except PortalError as exc:
                return json_response(exc.body(), exc.status)

        return endpoint

    # --- objects ------------------------------------------------------------------------

    async def collection(self, request: Request) -> Response:
        kind = request.path_params["object_type"]
        if request.method == "POST":
            body = await _json(request)
            with self.sandbox.lock:
                return json_response(objects.create_object(self.portal, kind, body), 201)
        limit = _number(request, "limit", objects.LIST_DEFAULT_LIMIT)
        with self.sandbox.lock:
            page = objects.list_objects(
                self.portal,
                kind,
                limit=limit,
                after=request.query_params.get("after"),
                properties=_strings(request, "properties"),
                associations=_strings(request, "associations"),
                history=_strings(request, "propertiesWithHistory"),
                archived=_flag(request, "archived"),
                link=lambda after: str(request.url.include_query_params(after=after)),
            )
        return json_response(page)

    async def single(self, request: Request) -> Response:
        kind = request.path_params["object_type"]
        object_id = request.path_params["object_id"]
        id_property = request.query_params.get("idProperty")
        if request.method == "DELETE":
            with self.sandbox.lock:
                objects.archive_object(self.portal, kind, object_id)
            return _empty()
        if request.method == "PATCH":
            body = await _json(request)
            with self.sandbox.lock:
                answer = objects.update_object(self.portal, kind, object_id, body, id_property)
            return json_response(answer)
        with self.sandbox.lock:
            found = objects.read_object(
                self.portal,
                kind,
                object_id,
                properties=_strings(request, "properties"),
                associations=_strings(request, "associations"),
                history=_strings(request, "propertiesWithHistory"),
                archived=_flag(request, "archived"),
                id_property=id_property,
            )
        return json_response(found)

    async def search(self, request: Request) -> Response:
        body = await _json(request)
        with self.sandbox.lock:
            return json_response(search(self.portal, request.path_params["object_type"], body))

    def batch(self, action: str) -> Handler:
        async def handler(request: Request) -> Response:
            kind = request.path_params["object_type"]
            body = await _json(request)
            with self.sandbox.lock:
                if action == "archive":
                    batch.archive(self.portal, kind, body)
                    return _empty()
                if action == "read":
                    status, answer = batch.read(
                        self.portal, kind, body, archived=_flag(request, "archived")
                    )
                else:
                    status, answer = _BATCH_WRITES[action](self.portal, kind, body)
            return json_response(answer, status)

        return handler

    # --- properties -----------------------------------------------------------------------

    async def property_collection(self, request: Request) -> Response:
        kind = request.path_params["object_type"]
        if request.method == "POST":
            body = await _json(request)
            with self.sandbox.lock:
                return json_response(properties.create_property(self.portal, kind, body), 201)
        with self.sandbox.lock:
            answer = properties.list_properties(
                self.portal, kind, archived=_flag(request, "archived")
            )
        return json_response(answer)

    async def property_groups(self, request: Request) -> Response:
        with self.sandbox.lock:
            answer = properties.list_groups(self.portal, request.path_params["object_type"])
        return json_response(answer)

    async def property_single(self, request: Request) -> Response:
        kind = request.path_params["object_type"]
        name = request.path_params["property_name"]
        if request.method == "DELETE":
            with self.sandbox.lock:
                properties.archive_property(self.portal, kind, name)
            return _empty()
        if request.method == "PATCH":
            body = await _json(request)
            with self.sandbox.lock:
                answer = properties.update_property(self.portal, kind, name, body)
            return json_response(answer)
        with self.sandbox.lock:
            answer = properties.get_property(
                self.portal, kind, name, archived=_flag(request, "archived")
            )
        return json_response(answer)

    # --- associations v4 ------------------------------------------------------------------

    async def assoc_list(self, request: Request) -> Response:
        p = request.path_params
        limit = _number(request, "limit", associations.V4_MAX_LIMIT)
        with self.sandbox.lock:
            answer = associations.list_page(
                self.portal,
                p["from_type"],
                p["from_id"],
                p["to_type"],
                limit=limit,
                after=request.query_params.get("after"),
            )
        return json_response(answer)

    async def assoc_default(self, request: Request) -> Response:
        p = request.path_params
        with self.sandbox.lock:
            answer = associations.create_default(
                self.portal, p["from_type"], p["from_id"], p["to_type"], p["to_id"]
            )
        return json_response(answer)

    async def assoc_pair(self, request: Request) -> Response:
        p = request.path_params
        ends = (p["from_type"], p["from_id"], p["to_type"], p["to_id"])
        if request.method == "DELETE":
            with self.sandbox.lock:
                associations.archive_pair(self.portal, *ends)
            return _empty()
        body = await _json(request)
        with self.sandbox.lock:
            answer = associations.create_labelled(self.portal, *ends, body)
        return json_response(answer, 201)

    async def assoc_batch_read(self, request: Request) -> Response:
        p = request.path_params
        body = await _json(request)
        with self.sandbox.lock:
            status, answer = associations.batch_read(
                self.portal, p["from_type"], p["to_type"], body
            )
        return json_response(answer, status)


_BATCH_WRITES: dict[str, Callable[[HubSpotPortal, str, Any], tuple[int, dict[str, Any]]]] = {
    "create": batch.create,
    "update": batch.update,
    "upsert": batch.upsert,
}


def _fallback(served: list[BaseRoute]) -> Route:
    """A JSON 404 (or 405) for every ``/crm/`` path the routes above do not serve."""

    async def unknown(request: Request) -> Response:
        for route in served:
            match, _ = route.matches(request.scope)
            if match == Match.PARTIAL:
                return json_response(
                    PortalError(
                        405, "VALIDATION_ERROR", f"HTTP {request.method} is not supported here"
                    ).body(),
                    405,
                )
        return json_response(
            PortalError(
                404,
                "OBJECT_NOT_FOUND",
                f"Resource not found: {request.method} {request.url.path}",
            ).body(),
            404,
        )

    return Route("/crm/{path:path}", unknown, methods=_ALL_METHODS)


def routes(sandbox: Sandbox) -> list[BaseRoute]:
    """Every HubSpot route of ``sandbox``, catch-all last."""
    api = _Api(sandbox)
    g = api.guarded
    served: list[BaseRoute] = [
        token_route(sandbox),
        Route(f"{_V3}/search", g(api.search), methods=["POST"]),
        *(
            Route(f"{_V3}/batch/{action}", g(api.batch(action)), methods=["POST"])
            for action in ("read", "create", "update", "upsert", "archive")
        ),
        Route(_V3, g(api.collection), methods=["GET", "POST"]),
        Route(f"{_V3}/{{object_id}}", g(api.single), methods=["GET", "PATCH", "DELETE"]),
        Route(f"{_PROPS}/groups", g(api.property_groups), methods=["GET"]),
        Route(_PROPS, g(api.property_collection), methods=["GET", "POST"]),
        Route(
            f"{_PROPS}/{{property_name}}",
            g(api.property_single),
            methods=["GET", "PATCH", "DELETE"],
        ),
        Route(f"{_V4}/default/{{to_type}}/{{to_id}}", g(api.assoc_default), methods=["PUT"]),
        Route(f"{_V4}/{{to_type}}", g(api.assoc_list), methods=["GET"]),
        Route(f"{_V4}/{{to_type}}/{{to_id}}", g(api.assoc_pair), methods=["PUT", "DELETE"]),
        Route(
            "/crm/v4/associations/{from_type}/{to_type}/batch/read",
            g(api.assoc_batch_read),
            methods=["POST"],
        ),
    ]
    return [*served, _fallback(served)]
