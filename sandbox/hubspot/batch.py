"""CRM v3 batch endpoints: read, create, update, upsert and archive up to 100 records.

Each function returns ``(status, body)``; the caller holds ``sandbox.lock``. A request
that is malformed or has more than 100 inputs is refused whole (400). Otherwise every good
input is applied and every bad one reported: the answer is the success status (200, or
201 for create) when all went well, else 207 with ``numErrors`` and ``errors`` -- unknown
ids grouped in one ``OBJECT_NOT_FOUND`` whose ``context.ids`` lists them, and one
``VALIDATION_ERROR`` per refused input, naming its id. A duplicate unique value on batch
create refuses the whole batch with 409, as HubSpot does. Every input applied is added to
the sandbox's write journal.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from sandbox.hubspot.errors import (
    PortalError,
    bad_request,
    conflict,
    invalid_record,
    objects_not_found,
    standard_error,
)
from sandbox.hubspot.objects import make_links, new_links, render_rows, resolve
from sandbox.hubspot.records import ObjectTable, Row
from sandbox.hubspot.values import ms_to_iso

if TYPE_CHECKING:
    from sandbox.hubspot.portal import HubSpotPortal

__all__ = ["BATCH_LIMIT", "archive", "create", "read", "update", "upsert"]

#: Inputs one batch request may carry.
BATCH_LIMIT = 100


def _inputs(body: Any) -> list[dict[str, Any]]:
    inputs = body.get("inputs") if isinstance(body, dict) else None
    if not isinstance(inputs, list) or not all(isinstance(i, dict) for i in inputs):
        raise bad_request("The request body must have an 'inputs' array of objects.")
    if len(inputs) > BATCH_LIMIT:
        raise bad_request(
            f"Too many inputs: {len(inputs)}. A batch request accepts at most {BATCH_LIMIT}.",
            context={"inputs": [str(len(inputs))]},
        )
    return inputs


def _names(raw: Any, default: tuple[str, ...]) -> list[str]:
    if raw is None or raw == []:
        return list(default)
    if not isinstance(raw, list):
        raise bad_request("'properties' must be an array of property names.")
    return [str(name) for name in raw]


def _no_duplicates(inputs: list[dict[str, Any]]) -> None:
    seen: set[str] = set()
    duplicates: list[str] = []
    for item in inputs:
        key = str(item.get("id"))
        if key in seen:
            duplicates.append(key)
        seen.add(key)
    if duplicates:
        raise bad_request(
            f"Duplicate IDs found in batch input: {duplicates}. IDs must be unique",
            context={"ids": duplicates},
        )


def _answer(
    portal: HubSpotPortal,
    started: str,
    results: list[dict[str, Any]],
    errors: list[dict[str, Any]],
    ok_status: int,
) -> tuple[int, dict[str, Any]]:
    body: dict[str, Any] = {"status": "COMPLETE", "results": results}
    if errors:
        body["numErrors"] = len(errors)
        body["errors"] = errors
    body["startedAt"] = started
    body["completedAt"] = ms_to_iso(portal.now_ms())
    return (207 if errors else ok_status), body


def _traced(obj: dict[str, Any], item: dict[str, Any]) -> dict[str, Any]:
    trace = item.get("objectWriteTraceId")
    if trace is not None:
        obj["objectWriteTraceId"] = str(trace)
    return obj


def read(
    portal: HubSpotPortal, object_type: str, body: Any, *, archived: bool
) -> tuple[int, dict[str, Any]]:
    """``POST .../batch/read``: the records named by id (or by a unique ``idProperty``)."""
    started = ms_to_iso(portal.now_ms())
    table = portal.table(object_type)
    inputs = _inputs(body)
    names = _names(body.get("properties"), table.schema.defaults)
    history = _names(body.get("propertiesWithHistory"), ())
    id_property = body.get("idProperty")
    rows: list[Row] = []
    seen: set[int] = set()
    missing: list[str] = []
    for item in inputs:
        key = str(item.get("id", ""))
        row = resolve(table, key, id_property, archived=archived)
        if row is None:
            missing.append(key)
        elif row.id not in seen:
            seen.add(row.id)
            rows.append(row)
    results = render_rows(portal, table, rows, names, history=history)
    errors = [objects_not_found(table.schema.singular, missing)] if missing else []
    return _answer(portal, started, results, errors, 200)


def create(portal: HubSpotPortal, object_type: str, body: Any) -> tuple[int, dict[str, Any]]:
    """``POST .../batch/create``: 201, or 207 when some inputs were refused."""
    started = ms_to_iso(portal.now_ms())
    table = portal.table(object_type)
    inputs = _inputs(body)
    plan = table.plan(trusted=False)
    checked: list[tuple[dict[str, Any], Any, Any, Any]] = []
    errors: list[dict[str, Any]] = []
    claimed: dict[tuple[str, str], int] = {}
    for index, item in enumerate(inputs):
        props = item.get("properties")
        if not isinstance(props, dict):
            raise bad_request(f"inputs[{index}] needs a 'properties' object.")
        written, stamps, issues = plan.check(props)
        if issues:
            errors.append(invalid_record(None, issues))
            continue
        for prop, value in written:
            if prop.has_unique_value and value is not None:
                if (prop.name, value) in claimed:
                    raise conflict(
                        f"Duplicate value {value} for unique property {prop.name} in inputs "
                        f"{claimed[(prop.name, value)]} and {index}",
                        context={"propertyName": [prop.name]},
                    )
                claimed[(prop.name, value)] = index
        portal.ensure_unique(table, written, None)
        links = new_links(portal, table, item.get("associations"))
        checked.append((item, written, stamps, links))
    now = portal.now_ms()
    results: list[dict[str, Any]] = []
    for item, written, stamps, links in checked:
        row = portal.insert(table, written, stamps, now)
        make_links(portal, table, row, links)
        portal.journal("create", table, row, item["properties"])
        results.append(_traced(portal.render(table, row, list(item["properties"])), item))
    return _answer(portal, started, results, errors, 201)


def _write(
    portal: HubSpotPortal, table: ObjectTable, row: Row, item: dict[str, Any], key: str
) -> dict[str, Any] | None:
    """Update one row from a batch input; the error entry when it is refused."""
    props = item.get("properties")
    if not isinstance(props, dict):
        return standard_error(
            "VALIDATION_ERROR", "Each input needs a 'properties' object.", {"ids": [key]}
        )
    written, stamps, issues = table.plan(trusted=False).check(props)
    if issues:
        return invalid_record(key, issues)
    try:
        portal.ensure_unique(table, written, row.id)
    except PortalError as exc:
        return standard_error("CONFLICT", exc.message, {"ids": [key]})
    portal.apply(table, row, written, stamps)
    portal.journal("update", table, row, props)
    return None


def update(portal: HubSpotPortal, object_type: str, body: Any) -> tuple[int, dict[str, Any]]:
    """``POST .../batch/update``: 200, or 207 naming unknown ids and refused inputs."""
    started = ms_to_iso(portal.now_ms())
    table = portal.table(object_type)
    inputs = _inputs(body)
    _no_duplicates(inputs)
    results: list[dict[str, Any]] = []
    errors: list[dict[str, Any]] = []
    missing: list[str] = []
    for item in inputs:
        key = str(item.get("id", ""))
        row = resolve(table, key, item.get("idProperty"))
        if row is None:
            missing.append(key)
            continue
        error = _write(portal, table, row, item, key)
        if error is not None:
            errors.append(error)
            continue
        results.append(_traced(portal.render(table, row, list(item["properties"])), item))
    if missing:
        errors.insert(0, objects_not_found(table.schema.singular, missing))
    return _answer(portal, started, results, errors, 200)


def upsert(portal: HubSpotPortal, object_type: str, body: Any) -> tuple[int, dict[str, Any]]:
    """``POST .../batch/upsert``: update by unique ``idProperty`` value, else create.

    Results carry ``new``. Without ``idProperty`` the id is an object id, which must exist.
    """
    started = ms_to_iso(portal.now_ms())
    table = portal.table(object_type)
    inputs = _inputs(body)
    _no_duplicates(inputs)
    results: list[dict[str, Any]] = []
    errors: list[dict[str, Any]] = []
    missing: list[str] = []
    for item in inputs:
        key = str(item.get("id", ""))
        id_property = item.get("idProperty")
        row = resolve(table, key, id_property)
        props = item.get("properties")
        if row is not None:
            error = _write(portal, table, row, item, key)
            if error is not None:
                errors.append(error)
                continue
            rendered = portal.render(table, row, list(props or ()))
            results.append(_traced(rendered | {"new": False}, item))
            continue
        if not id_property or id_property == "hs_object_id":
            missing.append(key)
            continue
        if not isinstance(props, dict):
            errors.append(
                standard_error(
                    "VALIDATION_ERROR", "Each input needs a 'properties' object.", {"ids": [key]}
                )
            )
            continue
        values = {**props, id_property: key}
        written, stamps, issues = table.plan(trusted=False).check(values)
        if issues:
            errors.append(invalid_record(key, issues))
            continue
        try:
            portal.ensure_unique(table, written, None)
        except PortalError as exc:
            errors.append(standard_error("CONFLICT", exc.message, {"ids": [key]}))
            continue
        new = portal.insert(table, written, stamps, portal.now_ms())
        portal.journal("create", table, new, props)  # the idProperty value aside
        results.append(_traced(portal.render(table, new, list(values)) | {"new": True}, item))
    if missing:
        errors.insert(0, objects_not_found(table.schema.singular, missing))
    return _answer(portal, started, results, errors, 200)


def archive(portal: HubSpotPortal, object_type: str, body: Any) -> None:
    """``POST .../batch/archive``: archive every live record named (204, unknown ids too)."""
    table = portal.table(object_type)
    for item in _inputs(body):
        row = table.find(str(item.get("id", "")))
        if row is not None:
            table.archive(row, portal.now_ms())
            portal.journal("delete", table, row, {})
