"""Request plumbing shared by the Salesforce route modules.

:func:`route` wraps handlers so that every REST answer has Salesforce's shape: the API
version in the path is checked (``vNN.N``), other HTTP methods get a JSON 405, and
:class:`~.errors.RecordError` / ``SoqlError`` become the JSON error arrays with their
real statuses (an ambiguous external id: 300 with the candidate URLs).
"""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

import orjson
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from sandbox.responses import json_response, salesforce_error
from sandbox.salesforce.errors import AmbiguousKey, RecordError, not_found
from sandbox.salesforce.render import sobject_url
from sandbox.soql import SoqlError

__all__ = [
    "DATA",
    "Handler",
    "api_version",
    "json_body",
    "json_object",
    "major_version",
    "route",
]

#: Route template prefix of the versioned REST API (``v59.0`` etc. in the path).
DATA = "/services/data/v{version}"
Handler = Callable[[Request], Awaitable[Response]]
_VERSION = re.compile(r"[1-9]\d\.\d")
_METHODS = ("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS")


def api_version(request: Request) -> str:
    """The ``NN.N`` of the request's path."""
    return str(request.path_params["version"])


def major_version(request: Request) -> int:
    """The major API version of the request (``59`` for ``v59.0``)."""
    return int(api_version(request).partition(".")[0])


async def json_body(request: Request) -> Any:
    """The request body as JSON, or ``JSON_PARSER_ERROR`` as Salesforce answers it."""
    raw = await request.body()
    try:
        return orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise RecordError("JSON_PARSER_ERROR", f"Unexpected character in the body: {exc}") from None


async def json_object(request: Request) -> dict[str, Any]:
    """The request body as a JSON object (one record's fields)."""
    body = await json_body(request)
    if not isinstance(body, dict):
        raise RecordError("JSON_PARSER_ERROR", "The request body must be a JSON object")
    return body


def _failure(request: Request, exc: Exception) -> Response:
    if isinstance(exc, AmbiguousKey):
        sobject = str(request.path_params.get("sobject", ""))
        urls = [sobject_url(api_version(request), sobject, record_id) for record_id in exc.ids]
        return json_response(urls, 300)
    if isinstance(exc, RecordError):
        return salesforce_error(exc.status, exc.code, exc.message, exc.fields or None)
    assert isinstance(exc, SoqlError)
    return salesforce_error(400, exc.error_code, exc.message)


def _dispatch(handlers: Mapping[str, Handler]) -> Handler:
    allowed = ",".join(handlers)

    async def handle(request: Request) -> Response:
        version = request.path_params.get("version")
        if version is not None and not _VERSION.fullmatch(str(version)):
            error = not_found()
            return salesforce_error(error.status, error.code, error.message)
        handler = handlers.get(request.method)
        if handler is None:
            return salesforce_error(
                405,
                "METHOD_NOT_ALLOWED",
                f"HTTP Method '{request.method}' not allowed. Allowed are {allowed}",
                headers={"Allow": allowed},
            )
        try:
            return await handler(request)
        except (RecordError, SoqlError) as exc:
            return _failure(request, exc)

    return handle


def route(path: str, **handlers: Handler) -> Route:
    """A route answering ``handlers`` by HTTP method (``GET=...``, ``PATCH=...``); it
    matches every method so that the others get Salesforce's 405, not Starlette's."""
    return Route(path, _dispatch(handlers), methods=_METHODS)
