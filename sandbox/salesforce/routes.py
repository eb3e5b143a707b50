"""The Salesforce half of the sandbox's routes (any ``vNN.N`` API version).

Here: the versions list, the resources of a version, ``limits/``, ``query`` and
``queryAll`` with their ``nextRecordsUrl`` pages, and the JSON 404 every unknown path
under ``/services/data`` answers. The sObject, collection and login routes come from
``sobjects.py``, ``collections.py`` and ``auth.py``. The app's middleware has already
authenticated, counted and possibly refused each call before a handler runs.
"""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from sandbox.core import Sandbox
from sandbox.responses import json_response, salesforce_error
from sandbox.salesforce.auth import auth_routes
from sandbox.salesforce.collections import collection_routes
from sandbox.salesforce.endpoints import DATA, Handler, api_version, route
from sandbox.salesforce.errors import RecordError
from sandbox.salesforce.ids import ORG_ID, USER_ID
from sandbox.salesforce.org import SalesforceOrg
from sandbox.salesforce.query import QueryService, batch_size
from sandbox.salesforce.sobjects import sobject_routes

__all__ = ["LATEST_VERSION", "routes"]

OLDEST_VERSION = 20
LATEST_VERSION = 64
_RECORD_BYTES = 2048  # Salesforce counts most records as 2 KB of data storage
_DATA_STORAGE_MB = 1024
_ALL_METHODS = ("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS")
_RESOURCES = ("sobjects", "query", "queryAll", "limits", "composite", "search", "recent")


def _release(major: int) -> str:
    """The release name of an API version: v20.0 was Winter '11, three releases a year."""
    index = major - OLDEST_VERSION
    return f"{('Winter', 'Spring', 'Summer')[index % 3]} '{11 + index // 3:02d}"


def routes(sandbox: Sandbox) -> list[BaseRoute]:
    """Every Salesforce route of ``sandbox``: REST API and logins."""
    org: SalesforceOrg = sandbox.salesforce
    queries = QueryService(org)

    async def versions(_: Request) -> Response:
        return json_response(
            [
                {"label": _release(v), "url": f"/services/data/v{v}.0", "version": f"{v}.0"}
                for v in range(OLDEST_VERSION, LATEST_VERSION + 1)
            ]
        )

    async def resources(request: Request) -> Response:
        base = f"/services/data/v{api_version(request)}"
        answer = {name: f"{base}/{name}" for name in _RESOURCES}
        answer["identity"] = f"https://{request.headers.get('host')}/id/{ORG_ID}/{USER_ID}"
        return json_response(answer)

    async def limits(_: Request) -> Response:
        daily = sandbox.config.salesforce_daily_limit
        used = sandbox.api_usage["salesforce"]
        stored = sum(org.count(o.name, include_deleted=True) for o in org.schema.objects)
        storage_used = stored * _RECORD_BYTES // (1024 * 1024)
        return json_response(
            {
                "DailyApiRequests": {"Max": daily, "Remaining": max(0, daily - used)},
                "DataStorageMB": {
                    "Max": _DATA_STORAGE_MB,
                    "Remaining": max(0, _DATA_STORAGE_MB - storage_used),
                },
            }
        )

    def query(include_deleted: bool) -> Handler:
        async def start(request: Request) -> Response:
            soql = request.query_params.get("q")
            if not soql or not soql.strip():
                raise RecordError("MALFORMED_QUERY", "A query string has to be specified")
            batch = batch_size(request.headers.get("sforce-query-options"))
            version = api_version(request)
            return json_response(
                queries.start(soql, include_deleted=include_deleted, batch=batch, version=version)
            )

        return start

    async def more(request: Request) -> Response:
        locator = str(request.path_params["locator"])
        return json_response(queries.page(locator, api_version(request)))

    async def not_found(_: Request) -> Response:
        return salesforce_error(404, "NOT_FOUND", "The requested resource does not exist")

    return [
        Route("/services/data", versions, methods=["GET"]),
        Route("/services/data/", versions, methods=["GET"]),
        route(DATA, GET=resources),
        route(f"{DATA}/", GET=resources),
        route(f"{DATA}/limits", GET=limits),
        route(f"{DATA}/limits/", GET=limits),
        route(f"{DATA}/query", GET=query(False)),
        route(f"{DATA}/query/", GET=query(False)),
        route(f"{DATA}/query/{{locator}}", GET=more),
        route(f"{DATA}/queryAll", GET=query(True)),
        route(f"{DATA}/queryAll/", GET=query(True)),
        route(f"{DATA}/queryAll/{{locator}}", GET=more),
        *sobject_routes(sandbox),
        *collection_routes(sandbox),
        *auth_routes(sandbox),
        Route("/services/data/{rest:path}", not_found, methods=list(_ALL_METHODS)),
    ]
