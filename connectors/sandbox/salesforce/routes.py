"""Salesforce REST routes (any ``vNN.N``): query, sObjects, describe, collections, limits.

Errors are arrays of ``{"message", "errorCode"[, "fields"]}`` with the real statuses;
unknown paths answer the JSON ``NOT_FOUND`` Salesforce gives, not a text 404.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import orjson
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from connectors.sandbox.core import Sandbox
from connectors.sandbox.responses import json_response, salesforce_error
from connectors.sandbox.salesforce.auth import auth_routes
from connectors.sandbox.salesforce.org import RecordError, SalesforceOrg
from connectors.sandbox.salesforce.query import QueryEngine, batch_size, render_value
from connectors.sandbox.soql import SoqlError

__all__ = ["routes"]

COLLECTION_LIMIT = 200
_STATUS = {"NOT_FOUND": 404, "INVALID_TYPE": 404, "MORE_THAN_ONE": 300}
V = "/services/data/v{version}"


def _error(exc: RecordError) -> Response:
    status = _STATUS.get(exc.code, 400)
    return salesforce_error(status, exc.code, exc.message, exc.fields or None)


async def _json(request: Request) -> Any:
    try:
        return orjson.loads(await request.body())
    except orjson.JSONDecodeError:
        raise RecordError("JSON_PARSER_ERROR", "The request body is not valid JSON") from None


def _instant(raw: str | None, name: str) -> datetime:
    if not raw:
        raise RecordError("MISSING_ARGUMENT", f"{name} parameter is required")
    try:
        moment = datetime.fromisoformat(raw.replace("Z", "+00:00"))
    except ValueError:
        raise RecordError("INVALID_DATE_FORMAT", f"{name}: invalid date-time {raw!r}") from None
    if moment.tzinfo is None:
        raise RecordError("INVALID_DATE_FORMAT", f"{name}: a time zone is required")
    return moment.astimezone(UTC)


def routes(sandbox: Sandbox) -> list[BaseRoute]:
    """The Salesforce REST routes of ``sandbox``."""
    org: SalesforceOrg = sandbox.salesforce
    engine = QueryEngine(org)

    def guarded(handler: Any) -> Any:
        async def run(request: Request) -> Response:
            try:
                return await handler(request)  # type: ignore[no-any-return]
            except RecordError as exc:
                return _error(exc)
            except SoqlError as exc:
                return salesforce_error(400, exc.error_code, exc.message)

        return run

    async def versions(_: Request) -> Response:
        return json_response(
            [
                {"label": f"v{v}", "url": f"/services/data/v{v}", "version": v}
                for v in ("57.0", "58.0", "59.0", "60.0")
            ]
        )

    async def resources(request: Request) -> Response:
        base = f"/services/data/v{request.path_params['version']}"
        return json_response(
            {
                name: f"{base}/{name}"
                for name in ("sobjects", "query", "queryAll", "limits", "composite")
            }
        )

    async def limits(_: Request) -> Response:
        limit = sandbox.config.salesforce_daily_limit
        used = sandbox.api_usage["salesforce"]
        return json_response(
            {"DailyApiRequests": {"Max": limit, "Remaining": max(0, limit - used)}}
        )

    def query_handler(include_deleted: bool) -> Any:
        async def handle(request: Request) -> Response:
            version = request.path_params["version"]
            locator = request.path_params.get("locator")
            if locator:
                ident, _, offset = locator.rpartition("-")
                if not offset.isdigit():
                    raise RecordError("INVALID_QUERY_LOCATOR", "invalid query locator")
                return json_response(
                    engine.page(ident, int(offset), version, include_deleted=include_deleted)
                )
            soql = request.query_params.get("q")
            if not soql:
                raise RecordError("MALFORMED_QUERY", "A query string has to be specified")
            batch = batch_size(request.headers.get("sforce-query-options"))
            return json_response(
                engine.start(soql, include_deleted=include_deleted, batch=batch, version=version)
            )

        return handle

    def _obj(request: Request) -> str:
        name = org.schema.object_name(request.path_params["sobject"])
        if name is None:
            raise RecordError("NOT_FOUND", "The requested resource does not exist")
        return name

    async def global_describe(_: Request) -> Response:
        return json_response(
            {
                "encoding": "UTF-8",
                "maxBatchSize": 200,
                "sobjects": [
                    _object_info(o.name, o.label, o.key_prefix) for o in org.schema.objects.values()
                ],
            }
        )

    async def object_info(request: Request) -> Response:
        name = _obj(request)
        if request.method == "POST":
            record_id = org.write(name, None, await _json(request))
            return json_response({"id": record_id, "success": True, "errors": []}, 201)
        obj = org.schema.object(name)
        assert obj is not None
        recent = [{"attributes": {"type": name}, "Id": r["Id"]} for r in org.records(name)[-5:]]
        return json_response(
            {"objectDescribe": _object_info(name, obj.label, obj.key_prefix), "recentItems": recent}
        )

    async def describe(request: Request) -> Response:
        name = _obj(request)
        obj = org.schema.object(name)
        assert obj is not None
        info = _object_info(name, obj.label, obj.key_prefix)
        info["fields"] = [f.describe() for f in obj.fields]
        return json_response(info)

    async def updated_or_deleted(request: Request) -> Response:
        name = _obj(request)
        start = _instant(request.query_params.get("start"), "start")
        end = _instant(request.query_params.get("end"), "end")
        if end < start:
            raise RecordError("INVALID_REPLICATION_DATE", "end date is before start date")
        rows = org.records(name, include_deleted=True)
        covered = render_value(end.replace(second=0, microsecond=0))
        if request.url.path.rstrip("/").endswith("deleted"):
            gone = [
                {"id": r["Id"], "deletedDate": render_value(r["SystemModstamp"])}
                for r in rows
                if r["IsDeleted"] and start <= r["SystemModstamp"] <= end
            ]
            return json_response(
                {
                    "deletedRecords": gone,
                    "earliestDateAvailable": render_value(start),
                    "latestDateCovered": covered,
                }
            )
        ids = [r["Id"] for r in rows if not r["IsDeleted"] and start <= r["SystemModstamp"] <= end]
        return json_response({"ids": ids, "latestDateCovered": covered})

    async def record(request: Request) -> Response:
        name = _obj(request)
        record_id = request.path_params["record_id"]
        if request.method == "PATCH":
            org.write(name, record_id, await _json(request))
            return Response(status_code=204)
        if request.method == "DELETE":
            org.api_delete(name, record_id)
            return Response(status_code=204)
        row = org.get(name, org.normalise_id(name, record_id))
        if row is None or row["IsDeleted"]:
            raise RecordError("NOT_FOUND", "The requested resource does not exist")
        wanted = request.query_params.get("fields")
        obj = org.schema.object(name)
        assert obj is not None
        names = [f.strip() for f in wanted.split(",")] if wanted else [f.name for f in obj.fields]
        out: dict[str, Any] = {"attributes": {"type": name, "url": request.url.path}}
        for field in names:
            spec = obj.get(field)
            if spec is None:
                raise RecordError("INVALID_FIELD", f"No such column '{field}' on entity '{name}'")
            out[spec.name] = render_value(row.get(spec.name))
        return json_response(out)

    async def by_external_id(request: Request) -> Response:
        name = _obj(request)
        obj = org.schema.object(name)
        assert obj is not None
        spec = obj.get(request.path_params["field"])
        if spec is None or not (spec.external_id or spec.name == "Id"):
            raise RecordError(
                "NOT_FOUND",
                f"Provided external ID field does not exist or is "
                f"not accessible: {request.path_params['field']}",
            )
        value = request.path_params["value"]
        matches = org.find_by(name, spec.name, value)
        if len(matches) > 1:
            return json_response(
                [
                    f"/services/data/v{request.path_params['version']}/sobjects/{name}/{m['Id']}"
                    for m in matches
                ],
                300,
            )
        if request.method == "GET":
            if not matches:
                raise RecordError("NOT_FOUND", "The requested resource does not exist")
            return json_response({k: render_value(v) for k, v in matches[0].items()})
        body = dict(await _json(request))
        if matches:
            org.write(name, matches[0]["Id"], body)
            return json_response(
                {"id": matches[0]["Id"], "success": True, "errors": [], "created": False}, 200
            )
        body[spec.name] = value
        record_id = org.write(name, None, body)
        return json_response({"id": record_id, "success": True, "errors": [], "created": True}, 201)

    async def collections(request: Request) -> Response:
        if request.method == "DELETE":
            ids = [i for i in (request.query_params.get("ids") or "").split(",") if i]
            all_or_none = request.query_params.get("allOrNone", "false").lower() == "true"
            return _collection_delete(org, ids, all_or_none)
        body = await _json(request)
        if not isinstance(body, dict) or not isinstance(body.get("records"), list):
            raise RecordError("JSON_PARSER_ERROR", 'expected {"allOrNone", "records": [...]}')
        records = body["records"]
        if len(records) > COLLECTION_LIMIT:
            raise RecordError(
                "EXCEEDED_ID_LIMIT",
                f"record limit reached. cannot submit more "
                f"than {COLLECTION_LIMIT} records into this call",
            )
        sobject_field = request.path_params.get("sobject")
        ext = request.path_params.get("field")
        return _collection_write(
            org, request.method, records, bool(body.get("allOrNone")), sobject_field, ext
        )

    async def retrieve(request: Request) -> Response:
        name = _obj(request)
        body = await _json(request)
        fields = body.get("fields") or ["Id"]
        out: list[Any] = []
        for record_id in body.get("ids") or []:
            row = org.get(name, record_id)
            out.append(
                None
                if row is None or row["IsDeleted"]
                else {"attributes": {"type": name}, **{f: render_value(row.get(f)) for f in fields}}
            )
        return json_response(out)

    async def not_found(_: Request) -> Response:
        return salesforce_error(404, "NOT_FOUND", "The requested resource does not exist")

    return [
        Route("/services/data", versions, methods=["GET"]),
        Route("/services/data/", versions, methods=["GET"]),
        Route(f"{V}", guarded(resources), methods=["GET"]),
        Route(f"{V}/", guarded(resources), methods=["GET"]),
        Route(f"{V}/limits", guarded(limits), methods=["GET"]),
        Route(f"{V}/limits/", guarded(limits), methods=["GET"]),
        Route(f"{V}/query", guarded(query_handler(False)), methods=["GET"]),
        Route(f"{V}/query/", guarded(query_handler(False)), methods=["GET"]),
        Route(f"{V}/query/{{locator}}", guarded(query_handler(False)), methods=["GET"]),
        Route(f"{V}/queryAll", guarded(query_handler(True)), methods=["GET"]),
        Route(f"{V}/queryAll/", guarded(query_handler(True)), methods=["GET"]),
        Route(f"{V}/queryAll/{{locator}}", guarded(query_handler(True)), methods=["GET"]),
        Route(f"{V}/sobjects", guarded(global_describe), methods=["GET"]),
        Route(f"{V}/sobjects/", guarded(global_describe), methods=["GET"]),
        Route(f"{V}/sobjects/{{sobject}}", guarded(object_info), methods=["GET", "POST"]),
        Route(f"{V}/sobjects/{{sobject}}/", guarded(object_info), methods=["GET", "POST"]),
        Route(f"{V}/sobjects/{{sobject}}/describe", guarded(describe), methods=["GET"]),
        Route(f"{V}/sobjects/{{sobject}}/describe/", guarded(describe), methods=["GET"]),
        Route(f"{V}/sobjects/{{sobject}}/updated", guarded(updated_or_deleted), methods=["GET"]),
        Route(f"{V}/sobjects/{{sobject}}/updated/", guarded(updated_or_deleted), methods=["GET"]),
        Route(f"{V}/sobjects/{{sobject}}/deleted", guarded(updated_or_deleted), methods=["GET"]),
        Route(f"{V}/sobjects/{{sobject}}/deleted/", guarded(updated_or_deleted), methods=["GET"]),
        Route(
            f"{V}/sobjects/{{sobject}}/{{record_id}}",
            guarded(record),
            methods=["GET", "PATCH", "DELETE"],
        ),
        Route(
            f"{V}/sobjects/{{sobject}}/{{field}}/{{value}}",
            guarded(by_external_id),
            methods=["GET", "PATCH"],
        ),
        Route(f"{V}/composite/sobjects", guarded(collections), methods=["POST", "PATCH", "DELETE"]),
        Route(
            f"{V}/composite/sobjects/{{sobject}}/{{field}}", guarded(collections), methods=["PATCH"]
        ),
        Route(f"{V}/composite/sobjects/{{sobject}}", guarded(retrieve), methods=["POST"]),
        *auth_routes(sandbox),
        Route(
            "/services/data/{rest:path}",
            not_found,
            methods=["GET", "POST", "PATCH", "PUT", "DELETE"],
        ),
    ]


def _object_info(name: str, label: str, prefix: str) -> dict[str, Any]:
    return {
        "name": name,
        "label": label,
        "keyPrefix": prefix,
        "queryable": True,
        "createable": True,
        "updateable": True,
        "deletable": True,
        "custom": False,
        "urls": {"describe": f"/services/data/v59.0/sobjects/{name}/describe"},
    }


def _collection_write(
    org: SalesforceOrg,
    method: str,
    records: list[Any],
    all_or_none: bool,
    upsert_object: str | None,
    ext_field: str | None,
) -> Response:
    """Create / update / upsert each record; results in input order, HTTP 200."""
    results: list[dict[str, Any]] = []
    planned: list[tuple[str, str | None, dict[str, Any], bool]] = []
    failed = False
    for raw in records:
        try:
            if not isinstance(raw, dict):
                raise RecordError("JSON_PARSER_ERROR", "each record must be an object")
            sobject = upsert_object or (raw.get("attributes") or {}).get("type")
            if not sobject or org.schema.object_name(sobject) is None:
                raise RecordError("INVALID_TYPE", f"sObject type '{sobject}' is not supported.")
            sobject = org.schema.object_name(sobject) or sobject
            body = {k: v for k, v in raw.items() if k != "attributes"}
            record_id: str | None = None
            created = False
            if upsert_object and ext_field:
                obj = org.schema.object(sobject)
                spec = obj.get(ext_field) if obj else None
                if spec is None or not spec.external_id:
                    raise RecordError("INVALID_FIELD", f"{ext_field} is not an external id field")
                key = body.get(spec.name)
                matches = org.find_by(sobject, spec.name, key) if key is not None else []
                if len(matches) > 1:
                    raise RecordError(
                        "DUPLICATE_EXTERNAL_ID",
                        f"{spec.name}: more than one record found",
                        [spec.name],
                    )
                record_id = matches[0]["Id"] if matches else None
                created = record_id is None
            elif method == "PATCH":
                record_id = body.pop("id", None) or body.pop("Id", None)
                if not record_id:
                    raise RecordError(
                        "MISSING_ARGUMENT", "Id not specified in an update call", ["Id"]
                    )
                record_id = org.normalise_id(sobject, record_id)
            else:
                created = True
            obj = org.schema.object(sobject)
            assert obj is not None
            values = org.validate(obj, body, creating=record_id is None)
            if record_id is not None:
                existing = org.get(sobject, record_id)
                if existing is None:
                    raise RecordError(
                        "INVALID_CROSS_REFERENCE_KEY", "invalid cross reference id", ["Id"]
                    )
                if existing["IsDeleted"]:
                    raise RecordError("ENTITY_IS_DELETED", "entity is deleted")
            if org.sandbox.faults.draw_lock():
                raise RecordError(
                    "UNABLE_TO_LOCK_ROW",
                    f"unable to obtain exclusive access to this record or 1 records: {record_id}",
                )
            planned.append((sobject, record_id, values, created))
            results.append({"id": record_id, "success": True, "errors": []})
        except RecordError as exc:
            failed = True
            planned.append(("", None, {}, False))
            results.append({"success": False, "errors": [exc.as_error()]})
    if all_or_none and failed:
        rolled = {
            "statusCode": "ALL_OR_NONE_OPERATION_ROLLED_BACK",
            "message": "Record rolled back because not all records were valid and the "
            "request was using AllOrNone header",
            "fields": [],
        }
        return json_response(
            [
                r if not r["success"] else {"id": r["id"], "success": False, "errors": [rolled]}
                for r in results
            ]
        )
    with org.sandbox.lock:
        for index, (sobject, record_id, values, created) in enumerate(planned):
            if not results[index]["success"]:
                continue
            if record_id is None:
                results[index]["id"] = org.insert(sobject, values)
            else:
                org.update(sobject, record_id, values)
            if upsert_object:
                results[index]["created"] = created
    return json_response(results)


def _collection_delete(org: SalesforceOrg, ids: list[str], all_or_none: bool) -> Response:
    if len(ids) > COLLECTION_LIMIT:
        return salesforce_error(400, "EXCEEDED_ID_LIMIT", "too many ids")
    results: list[dict[str, Any]] = []
    targets: list[tuple[str, str] | None] = []
    for raw in ids:
        try:
            obj = org.schema.by_prefix.get(raw[:3])
            if obj is None:
                raise RecordError("MALFORMED_ID", f"malformed id {raw}", ["Id"])
            key = org.normalise_id(obj.name, raw)
            row = org.get(obj.name, key)
            if row is None:
                raise RecordError("INVALID_CROSS_REFERENCE_KEY", "invalid cross reference id")
            if row["IsDeleted"]:
                raise RecordError("ENTITY_IS_DELETED", "entity is deleted")
            targets.append((obj.name, key))
            results.append({"id": key, "success": True, "errors": []})
        except RecordError as exc:
            targets.append(None)
            results.append({"success": False, "errors": [exc.as_error()]})
    if all_or_none and any(not r["success"] for r in results):
        return json_response(
            [
                r
                if not r["success"]
                else {
                    "id": r["id"],
                    "success": False,
                    "errors": [
                        {
                            "statusCode": "ALL_OR_NONE_OPERATION_ROLLED_BACK",
                            "message": "rolled back",
                            "fields": [],
                        }
                    ],
                }
                for r in results
            ]
        )
    for target in targets:
        if target is not None:
            org.delete(*target)
    return json_response(results)
