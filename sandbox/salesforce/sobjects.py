"""sObject REST resources: records by id or external id, describe, updated / deleted.

``/sobjects/{Obj}/{id}`` reads (``?fields=``), updates (204) and deletes (204) one record;
``/sobjects/{Obj}/`` creates (201); ``/sobjects/{Obj}/{ExtField}/{value}`` reads, upserts
(201 created / 200 updated, 300 when the key is ambiguous) and deletes by external id.
Single-record writes fail whole: 400 with the record's error (404 for ``NOT_FOUND`` and
``ENTITY_IS_DELETED``), including an injected ``UNABLE_TO_LOCK_ROW``.
"""

from __future__ import annotations

from datetime import UTC, datetime
from itertools import islice

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute

from sandbox.core import Sandbox
from sandbox.responses import json_response
from sandbox.salesforce.describe import describe_object, object_info
from sandbox.salesforce.endpoints import (
    DATA,
    api_version,
    json_object,
    major_version,
    route,
)
from sandbox.salesforce.errors import (
    AmbiguousKey,
    RecordError,
    malformed_id,
    not_found,
)
from sandbox.salesforce.ids import parse_id
from sandbox.salesforce.org import SalesforceOrg
from sandbox.salesforce.render import RecordRenderer, sobject_url
from sandbox.salesforce.schema import ObjectDef, Row
from sandbox.salesforce.table import Table
from sandbox.salesforce.values import wire_datetime

__all__ = ["sobject_routes"]

_UPSERT_CREATED_FLAG = 46  # API version from which an upsert update answers 200 + body


def _object(org: SalesforceOrg, request: Request) -> ObjectDef:
    """The path's sObject; unknown ones are NOT_FOUND, as the REST API answers."""
    obj = org.schema.object(str(request.path_params["sobject"]))
    if obj is None:
        raise not_found()
    return obj


def _instant(request: Request, name: str) -> datetime:
    raw = request.query_params.get(name)
    if not raw:
        raise RecordError("MISSING_ARGUMENT", f"{name} parameter is required", [name])
    try:
        moment = datetime.fromisoformat(raw.replace(" ", "+"))
    except ValueError:
        raise RecordError(
            "INVALID_REPLICATION_DATE", f"{name}: not a valid date-time: {raw}", [name]
        ) from None
    if moment.tzinfo is None:
        raise RecordError("INVALID_REPLICATION_DATE", f"{name}: a time zone is required", [name])
    return moment.astimezone(UTC)


def _minute(moment: datetime) -> datetime:
    return moment.replace(second=0, microsecond=0)


def sobject_routes(sandbox: Sandbox) -> list[BaseRoute]:
    """The ``/sobjects`` routes of ``sandbox``'s org."""
    org: SalesforceOrg = sandbox.salesforce

    def render(table: Table, request: Request, row: Row, fields: str | None) -> Response:
        names = [f.strip() for f in fields.split(",") if f.strip()] if fields else list(table.slots)
        renderer = RecordRenderer(org, table.obj.name, [(n,) for n in names], api_version(request))
        with sandbox.lock:
            return json_response(renderer(row))

    async def global_describe(request: Request) -> Response:
        return json_response(
            {
                "encoding": "UTF-8",
                "maxBatchSize": 200,
                "sobjects": [object_info(o, api_version(request)) for o in org.schema.objects],
            }
        )

    async def metadata(request: Request) -> Response:
        obj = _object(org, request)
        table = org.table(obj.name)
        version = api_version(request)
        name_slot = table.slots["Name"]
        with sandbox.lock:
            recent = [
                {
                    "attributes": {
                        "type": obj.name,
                        "url": sobject_url(version, obj.name, r[table.ID]),
                    },
                    "Id": r[table.ID],
                    "Name": r[name_slot],
                }
                for r in islice(
                    (r for r in reversed(table.rows.values()) if not r[table.IS_DELETED]), 5
                )
            ]
        return json_response({"objectDescribe": object_info(obj, version), "recentItems": recent})

    async def describe(request: Request) -> Response:
        obj = _object(org, request)
        return json_response(describe_object(obj, org.schema, api_version(request)))

    async def create(request: Request) -> Response:
        obj = _object(org, request)
        body = await json_object(request)
        with sandbox.lock:
            batch = org.batch()
            planned = batch.create(obj.name, body)
            batch.commit()
        return json_response({"id": planned.record_id, "success": True, "errors": []}, 201)

    def existing(table: Table, raw: str) -> Row:
        record_id = parse_id(raw)
        if record_id is None or record_id[:3] != table.obj.key_prefix:
            raise malformed_id(f"{table.obj.name} ID", raw, ["Id"])
        row = table.get(record_id)
        if row is None or row[table.IS_DELETED]:
            raise not_found()
        return row

    async def read(request: Request) -> Response:
        table = org.table(_object(org, request).name)
        with sandbox.lock:
            row = existing(table, str(request.path_params["record_id"]))
        return render(table, request, row, request.query_params.get("fields"))

    async def update(request: Request) -> Response:
        obj = _object(org, request)
        body = await json_object(request)
        with sandbox.lock:
            batch = org.batch()
            batch.update(obj.name, str(request.path_params["record_id"]), body)
            batch.commit()
        return Response(status_code=204)

    async def delete(request: Request) -> Response:
        obj = _object(org, request)
        with sandbox.lock:
            batch = org.batch()
            batch.delete(obj.name, str(request.path_params["record_id"]))
            batch.commit()
        return Response(status_code=204)

    def by_key(table: Table, request: Request) -> Row:
        field, key = str(request.path_params["field"]), str(request.path_params["value"])
        spec = table.obj.get(field)
        if spec is None or not (spec.external_id or spec.name == "Id"):
            raise RecordError(
                "NOT_FOUND",
                f"Provided external ID field does not exist or is not accessible: {field}",
            )
        if spec.name == "Id":
            return existing(table, key)
        matches = table.find(spec.name, key)
        if len(matches) > 1:
            raise AmbiguousKey(spec.name, [r[table.ID] for r in matches])
        if not matches:
            raise not_found()
        return matches[0]

    async def read_by_key(request: Request) -> Response:
        table = org.table(_object(org, request).name)
        with sandbox.lock:
            row = by_key(table, request)
        return render(table, request, row, request.query_params.get("fields"))

    async def upsert(request: Request) -> Response:
        obj = _object(org, request)
        body = await json_object(request)
        field, key = str(request.path_params["field"]), str(request.path_params["value"])
        with sandbox.lock:
            batch = org.batch()
            planned = batch.upsert(obj.name, field, key, body)
            batch.commit()
        answer = {
            "id": planned.record_id,
            "success": True,
            "errors": [],
            "created": planned.created,
        }
        if planned.created:
            return json_response(answer, 201)
        if major_version(request) < _UPSERT_CREATED_FLAG:
            return Response(status_code=204)
        return json_response(answer, 200)

    async def delete_by_key(request: Request) -> Response:
        table = org.table(_object(org, request).name)
        with sandbox.lock:
            row = by_key(table, request)
            batch = org.batch()
            batch.delete(table.obj.name, row[table.ID])
            batch.commit()
        return Response(status_code=204)

    async def updated(request: Request) -> Response:
        return changes(request, deleted=False)

    async def deleted(request: Request) -> Response:
        return changes(request, deleted=True)

    def changes(request: Request, *, deleted: bool) -> Response:
        """``updated/`` and ``deleted/``: ids changed or deleted within [start, end]."""
        table = org.table(_object(org, request).name)
        start, end = _instant(request, "start"), _instant(request, "end")
        if end < start:
            raise RecordError("INVALID_REPLICATION_DATE", "end date must be after start date")
        covered = wire_datetime(_minute(min(end, sandbox.now())))
        stamp, gone = table.MODSTAMP, table.IS_DELETED
        with sandbox.lock:
            rows = [
                r
                for r in table.rows.values()
                if start <= r[stamp] <= end and bool(r[gone]) == deleted
            ]
        if not deleted:
            return json_response({"ids": [r[table.ID] for r in rows], "latestDateCovered": covered})
        return json_response(
            {
                "deletedRecords": [
                    {"id": r[table.ID], "deletedDate": wire_datetime(r[stamp])} for r in rows
                ],
                "earliestDateAvailable": wire_datetime(_minute(org.created_at)),
                "latestDateCovered": covered,
            }
        )

    base = f"{DATA}/sobjects"
    return [
        route(base, GET=global_describe),
        route(f"{base}/", GET=global_describe),
        route(f"{base}/{{sobject}}", GET=metadata, POST=create),
        route(f"{base}/{{sobject}}/", GET=metadata, POST=create),
        route(f"{base}/{{sobject}}/describe", GET=describe),
        route(f"{base}/{{sobject}}/describe/", GET=describe),
        route(f"{base}/{{sobject}}/updated", GET=updated),
        route(f"{base}/{{sobject}}/updated/", GET=updated),
        route(f"{base}/{{sobject}}/deleted", GET=deleted),
        route(f"{base}/{{sobject}}/deleted/", GET=deleted),
        route(f"{base}/{{sobject}}/{{record_id}}", GET=read, PATCH=update, DELETE=delete),
        route(
            f"{base}/{{sobject}}/{{field}}/{{value:path}}",
            GET=read_by_key,
            PATCH=upsert,
            DELETE=delete_by_key,
        ),
    ]
