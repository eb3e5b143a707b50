"""CRM v3 basic object endpoints: list, read, create, update and archive one record.

The functions take already-parsed request parts and return the JSON body to answer; they
raise :class:`PortalError` for refusals. The caller holds ``sandbox.lock``.

Reads return the requested ``properties`` (unknown names are ignored, as HubSpot does), or
the type's defaults, always with ``createdate``, ``hs_lastmodifieddate`` and
``hs_object_id``; writes return the properties written plus those three. Each write that
succeeds is added to the sandbox's write journal.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

from sandbox.hubspot.associations import PAIRS, pair_for_type, v3_inline
from sandbox.hubspot.errors import bad_request, object_missing
from sandbox.hubspot.records import ObjectTable, Projection, Row

if TYPE_CHECKING:
    from sandbox.hubspot.portal import HubSpotPortal

__all__ = [
    "LIST_DEFAULT_LIMIT",
    "LIST_MAX_LIMIT",
    "archive_object",
    "create_object",
    "list_objects",
    "make_links",
    "new_links",
    "read_object",
    "render_rows",
    "resolve",
    "update_object",
]

LIST_DEFAULT_LIMIT = 10
#: The list endpoint silently caps ``limit`` at this.
LIST_MAX_LIMIT = 100

#: ``(other id, primary, other type)`` of an association to make once a record exists.
Link = tuple[int, bool, str]


def resolve(
    table: ObjectTable, object_id: str, id_property: str | None, *, archived: bool = False
) -> Row | None:
    """The record an id names: its object id, or a value of a unique ``id_property``."""
    if not id_property or id_property == "hs_object_id":
        return table.find(object_id, archived=archived)
    prop = table.schema.get(id_property)
    if prop is None or not prop.has_unique_value or not prop.stored:
        raise bad_request(
            f"{id_property} is not a unique property of {table.schema.name}; "
            "idProperty must name a property with hasUniqueValue",
            context={"idProperty": [id_property]},
        )
    return None if archived else table.find_unique(prop, object_id)


def _history(table: ObjectTable, row: Row, names: Sequence[str]) -> dict[str, list[dict[str, Any]]]:
    """``propertiesWithHistory``: the sandbox keeps no history, only the current value."""
    values, _, updated = Projection(table, names).properties(row)
    history: dict[str, list[dict[str, Any]]] = {}
    for name in names:
        if table.schema.get(name) is None:
            continue
        value = values.get(name)
        history[name] = (
            [] if value is None else [{"value": value, "timestamp": updated, "sourceType": "API"}]
        )
    return history


def render_rows(
    portal: HubSpotPortal,
    table: ObjectTable,
    rows: Sequence[Row],
    names: Sequence[str],
    *,
    associations: Sequence[str] = (),
    history: Sequence[str] = (),
) -> list[dict[str, Any]]:
    """Wire objects of rows, with inline associations / history when asked for."""
    projection = Projection(table, names)
    out: list[dict[str, Any]] = []
    for row in rows:
        obj = projection.render(row)
        if history:
            obj["propertiesWithHistory"] = _history(table, row, history)
        if associations:
            inline = v3_inline(portal, table.schema.name, row.id, associations)
            if inline:
                obj["associations"] = inline
        out.append(obj)
    return out


def list_objects(
    portal: HubSpotPortal,
    object_type: str,
    *,
    limit: int,
    after: str | None,
    properties: Sequence[str],
    associations: Sequence[str],
    history: Sequence[str],
    archived: bool,
    link: Callable[[str], str],
) -> dict[str, Any]:
    """``GET /crm/v3/objects/{type}``: one page in id order; ``paging`` unless the last."""
    table = portal.table(object_type)
    if limit < 1:
        raise bad_request(f"limit must be at least 1, got {limit}")
    if after is not None and after != "" and not after.isdigit():
        raise bad_request(f"Invalid 'after' paging cursor: {after}")
    rows, next_after = table.page(int(after or 0), min(limit, LIST_MAX_LIMIT), archived=archived)
    body: dict[str, Any] = {
        "results": render_rows(
            portal,
            table,
            rows,
            properties or table.schema.defaults,
            associations=associations,
            history=history,
        )
    }
    if next_after is not None:
        body["paging"] = {"next": {"after": str(next_after), "link": link(str(next_after))}}
    return body


def read_object(
    portal: HubSpotPortal,
    object_type: str,
    object_id: str,
    *,
    properties: Sequence[str],
    associations: Sequence[str],
    history: Sequence[str],
    archived: bool,
    id_property: str | None,
) -> dict[str, Any]:
    """``GET /crm/v3/objects/{type}/{id}``: one record, or 404 ``OBJECT_NOT_FOUND``."""
    table = portal.table(object_type)
    row = resolve(table, object_id, id_property, archived=archived)
    if row is None:
        raise object_missing(object_id)
    names = properties or table.schema.defaults
    return render_rows(portal, table, [row], names, associations=associations, history=history)[0]


def new_links(portal: HubSpotPortal, table: ObjectTable, raw: Any) -> list[Link]:
    """Check the ``associations`` of a create: ``[{"to": {"id"}, "types": [...]}]``."""
    if raw is None:
        return []
    if not isinstance(raw, list):
        raise bad_request("'associations' must be an array.")
    links: list[Link] = []
    for item in raw:
        to = item.get("to") if isinstance(item, dict) else None
        types = item.get("types") if isinstance(item, dict) else None
        target_id = str(to.get("id", "")) if isinstance(to, dict) else ""
        if not isinstance(types, list) or not types:
            raise bad_request("Each association needs 'to.id' and a non-empty 'types' array.")
        for spec in types:
            type_id = spec.get("associationTypeId") if isinstance(spec, dict) else None
            found = pair_for_type(table.schema.name, type_id) if isinstance(type_id, int) else None
            if found is None:
                raise bad_request(
                    f"{type_id} is not a valid association type id from {table.schema.name}.",
                    context={"associationTypeId": [str(type_id)]},
                )
            pair, primary = found
            target = portal.table(pair.to_type).find(target_id)
            if target is None:
                raise bad_request(
                    f"Cannot associate: no {pair.to_type} with id {target_id} exists.",
                    context={"id": [target_id]},
                )
            links.append((target.id, primary, pair.to_type))
    return links


def make_links(portal: HubSpotPortal, table: ObjectTable, row: Row, links: list[Link]) -> None:
    """Create the associations checked by :func:`new_links` for a new record."""
    for target, primary, to_type in links:
        if (table.schema.name, to_type) not in PAIRS:
            continue
        if table.schema.name == "deals":
            portal.links.link(row.id, target, primary=primary)
        else:
            portal.links.link(target, row.id, primary=primary)


def _properties(body: Any) -> dict[str, Any]:
    props = body.get("properties") if isinstance(body, dict) else None
    if not isinstance(props, dict):
        raise bad_request("The request body must have a 'properties' object.")
    return props


def create_object(portal: HubSpotPortal, object_type: str, body: Any) -> dict[str, Any]:
    """``POST /crm/v3/objects/{type}``: 201 with the new record."""
    table = portal.table(object_type)
    props = _properties(body)
    written, stamps = portal.check(table, props)
    portal.ensure_unique(table, written, None)
    links = new_links(portal, table, body.get("associations"))
    row = portal.insert(table, written, stamps, portal.now_ms())
    make_links(portal, table, row, links)
    portal.journal("create", table, row, props)
    return portal.render(table, row, list(props))


def update_object(
    portal: HubSpotPortal, object_type: str, object_id: str, body: Any, id_property: str | None
) -> dict[str, Any]:
    """``PATCH /crm/v3/objects/{type}/{id}``: 200 with the written properties."""
    table = portal.table(object_type)
    props = _properties(body)
    row = resolve(table, object_id, id_property)
    if row is None:
        raise object_missing(object_id)
    written, stamps = portal.check(table, props)
    portal.ensure_unique(table, written, row.id)
    portal.apply(table, row, written, stamps)
    portal.journal("update", table, row, props)
    return portal.render(table, row, list(props))


def archive_object(portal: HubSpotPortal, object_type: str, object_id: str) -> None:
    """``DELETE /crm/v3/objects/{type}/{id}``: 204, also for unknown or archived ids."""
    table = portal.table(object_type)
    row = table.find(object_id)
    if row is not None:
        table.archive(row, portal.now_ms())
        portal.journal("delete", table, row, {})
