"""sObject Collections: up to 200 records per call, one result per record, HTTP 200.

``POST``/``PATCH``/``DELETE /composite/sobjects`` create, update and delete;
``PATCH /composite/sobjects/{Obj}/{ExtField}`` upserts (results add ``created``);
``POST``/``GET /composite/sobjects/{Obj}`` retrieves (up to 2,000 ids, as Salesforce allows).
Results come in input order. With ``allOrNone`` false each record succeeds or fails on its
own; with ``allOrNone`` true one failure fails the call and nothing is written, the other
records reporting ``ALL_OR_NONE_OPERATION_ROLLED_BACK``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute

from sandbox.core import Sandbox
from sandbox.responses import json_response
from sandbox.salesforce.endpoints import (
    DATA,
    api_version,
    json_body,
    major_version,
    route,
)
from sandbox.salesforce.errors import RecordError, not_found
from sandbox.salesforce.ids import parse_id
from sandbox.salesforce.org import SalesforceOrg
from sandbox.salesforce.render import RecordRenderer
from sandbox.salesforce.writes import PlannedWrite, WriteBatch

__all__ = ["COLLECTION_LIMIT", "RETRIEVE_LIMIT", "collection_routes"]

COLLECTION_LIMIT = 200
RETRIEVE_LIMIT = 2000
_MIN_VERSION = 42  # sObject Collections exist from API 42.0
_MIN_UPSERT_VERSION = 46  # and upsert from 46.0
_ROLLED_BACK = RecordError(
    "ALL_OR_NONE_OPERATION_ROLLED_BACK",
    "Record rolled back because not all records were valid and the request was using "
    "AllOrNone header",
)

#: Plans one record's write in a batch; returns the planned write.
Planner = Callable[[WriteBatch, Any], PlannedWrite]


def _too_many(limit: int) -> RecordError:
    return RecordError(
        "EXCEEDED_ID_LIMIT",
        f"record limit reached. cannot submit more than {limit} records into this call",
    )


def _malformed(raw: Any) -> RecordError:
    return RecordError("MALFORMED_ID", f"malformed id {raw}")


def _known_id(raw: Any) -> str | None:
    return parse_id(raw) if isinstance(raw, str) else None


def _run(
    org: SalesforceOrg,
    items: list[Any],
    all_or_none: bool,
    plan: Planner,
    *,
    upsert: bool = False,
) -> list[dict[str, Any]]:
    """Plan every item, then commit the successes (or nothing); results in input order."""
    with org.sandbox.lock:
        batch = org.batch(collection=True)
        outcomes: list[PlannedWrite | tuple[RecordError, str | None]] = []
        for item in items:
            try:
                outcomes.append(plan(batch, item))
            except RecordError as exc:
                outcomes.append((exc, _item_id(item)))
        failed = any(isinstance(o, tuple) for o in outcomes)
        if not (failed and all_or_none):
            batch.commit()
    results: list[dict[str, Any]] = []
    for outcome in outcomes:
        if isinstance(outcome, tuple):
            error, known = outcome
            results.append(_failure(error, known))
        elif failed and all_or_none:
            results.append(_failure(_ROLLED_BACK, None if outcome.created else outcome.record_id))
        else:
            result: dict[str, Any] = {"id": outcome.record_id, "success": True, "errors": []}
            if upsert:
                result["created"] = outcome.created
            results.append(result)
    return results


def _item_id(item: Any) -> str | None:
    """The canonical id an item names, for its failure result (None for creates)."""
    if isinstance(item, dict):
        return _known_id(item.get("id", item.get("Id")))
    return _known_id(item)


def _failure(error: RecordError, record_id: str | None) -> dict[str, Any]:
    result: dict[str, Any] = {"success": False, "errors": [error.as_result_error()]}
    return {"id": record_id, **result} if record_id else result


def _record_type(record: dict[str, Any], default: str | None = None) -> str:
    attributes = record.get("attributes")
    kind = attributes.get("type") if isinstance(attributes, dict) else None
    if isinstance(kind, str) and kind:
        return kind
    if default is not None:
        return default
    raise RecordError("INVALID_TYPE", "sObject type not specified in the record's attributes")


def _fields(record: Any) -> dict[str, Any]:
    if not isinstance(record, dict):
        raise RecordError("JSON_PARSER_ERROR", "each record must be a JSON object")
    return {k: v for k, v in record.items() if k != "attributes"}


def collection_routes(sandbox: Sandbox) -> list[BaseRoute]:
    """The ``/composite/sobjects`` routes of ``sandbox``'s org."""
    org: SalesforceOrg = sandbox.salesforce

    async def records_of(request: Request, minimum: int = _MIN_VERSION) -> tuple[list[Any], bool]:
        if major_version(request) < minimum:
            raise not_found()
        body = await json_body(request)
        records = body.get("records") if isinstance(body, dict) else None
        if not isinstance(records, list):
            raise RecordError("JSON_PARSER_ERROR", 'expected {"allOrNone": ..., "records": [...]}')
        if len(records) > COLLECTION_LIMIT:
            raise _too_many(COLLECTION_LIMIT)
        return records, body.get("allOrNone") is True

    async def create(request: Request) -> Response:
        records, all_or_none = await records_of(request)

        def plan(batch: WriteBatch, record: Any) -> PlannedWrite:
            if isinstance(record, dict) and ("id" in record or "Id" in record):
                raise RecordError("INVALID_FIELD", "cannot specify Id in an insert call", ["Id"])
            return batch.create(_record_type(record), _fields(record))

        return json_response(_run(org, records, all_or_none, plan))

    async def update(request: Request) -> Response:
        records, all_or_none = await records_of(request)

        def plan(batch: WriteBatch, record: Any) -> PlannedWrite:
            fields = _fields(record)
            raw = fields.pop("id", fields.pop("Id", None))
            if raw is None:
                raise RecordError("MISSING_ARGUMENT", "Id not specified in an update call")
            known = _known_id(raw)
            if known is None:
                raise _malformed(raw)
            obj = org.schema.object_for_id(known)
            kind = _record_type(record, obj.name if obj else None)
            if obj is None or org.schema.object_name(kind) != obj.name:
                raise _malformed(raw)
            return batch.update(kind, known, fields)

        return json_response(_run(org, records, all_or_none, plan))

    async def upsert(request: Request) -> Response:
        records, all_or_none = await records_of(request, _MIN_UPSERT_VERSION)
        sobject, field = str(request.path_params["sobject"]), str(request.path_params["field"])
        obj = org.schema.object(sobject)
        if obj is None:
            raise not_found()
        spec = obj.get(field)
        if spec is None or not (spec.external_id or spec.name == "Id"):
            raise RecordError(
                "INVALID_FIELD",
                f"Field name provided, {field} is not an External ID or indexed field for "
                f"{obj.name}",
            )

        def plan(batch: WriteBatch, record: Any) -> PlannedWrite:
            fields = _fields(record)
            key = next((v for k, v in fields.items() if k.casefold() == spec.name.casefold()), None)
            return batch.upsert(obj.name, spec.name, key, fields)

        return json_response(_run(org, records, all_or_none, plan, upsert=True))

    async def delete(request: Request) -> Response:
        if major_version(request) < _MIN_VERSION:
            raise not_found()
        ids = [i for i in (request.query_params.get("ids") or "").split(",") if i]
        if not ids:
            raise RecordError("MISSING_ARGUMENT", "ids parameter is required", ["ids"])
        if len(ids) > COLLECTION_LIMIT:
            raise _too_many(COLLECTION_LIMIT)
        all_or_none = (request.query_params.get("allOrNone") or "").lower() == "true"

        def plan(batch: WriteBatch, raw: Any) -> PlannedWrite:
            known = _known_id(raw)
            obj = org.schema.object_for_id(known) if known else None
            if known is None or obj is None:
                raise _malformed(raw)
            return batch.delete(obj.name, known)

        return json_response(_run(org, ids, all_or_none, plan))

    async def retrieve(request: Request) -> Response:
        if major_version(request) < _MIN_VERSION:
            raise not_found()
        obj = org.schema.object(str(request.path_params["sobject"]))
        if obj is None:
            raise not_found()
        if request.method == "GET":
            ids: Any = (request.query_params.get("ids") or "").split(",")
            fields: Any = (request.query_params.get("fields") or "").split(",")
        else:
            body = await json_body(request)
            ids = body.get("ids") if isinstance(body, dict) else None
            fields = body.get("fields") if isinstance(body, dict) else None
        if not isinstance(ids, list) or not isinstance(fields, list):
            raise RecordError("JSON_PARSER_ERROR", 'expected {"ids": [...], "fields": [...]}')
        fields = [f.strip() for f in fields if isinstance(f, str) and f.strip()]
        if not fields:
            raise RecordError("MISSING_ARGUMENT", "fields parameter is required", ["fields"])
        if len(ids) > RETRIEVE_LIMIT:
            raise _too_many(RETRIEVE_LIMIT)
        table = org.table(obj.name)
        render = RecordRenderer(org, obj.name, [(f,) for f in fields], api_version(request))
        out: list[dict[str, Any] | None] = []
        with sandbox.lock:
            for raw in ids:
                known = _known_id(raw)
                row = table.get(known) if known else None
                out.append(None if row is None or row[table.IS_DELETED] else render(row))
        return json_response(out)

    base = f"{DATA}/composite/sobjects"
    return [
        route(base, POST=create, PATCH=update, DELETE=delete),
        route(f"{base}/", POST=create, PATCH=update, DELETE=delete),
        route(f"{base}/{{sobject}}", GET=retrieve, POST=retrieve),
        route(f"{base}/{{sobject}}/{{field}}", PATCH=upsert),
    ]
