"""The CRM v3 properties API: list, read, create, update and archive definitions.

Definitions are rendered as the client's ``ModelProperty`` (every field of PROTOCOLS B4,
plus ``modificationMetadata``). Creating checks what HubSpot checks: a lower-case name not
yet taken (409 ``CONFLICT`` otherwise, archived names included), a label and group, a known
``type`` / ``fieldType`` pair, and options for enumerations. HubSpot-defined definitions
(``readOnlyDefinition``) cannot be changed or archived.

The caller holds ``sandbox.lock``.
"""

from __future__ import annotations

import re
from dataclasses import replace
from typing import TYPE_CHECKING, Any

from sandbox.hubspot.catalog import GROUP
from sandbox.hubspot.errors import bad_request, conflict, not_found
from sandbox.hubspot.schema import (
    FIELD_TYPES,
    PROPERTY_TYPES,
    ObjectSchema,
    Option,
    PropertyDef,
)
from sandbox.hubspot.values import ms_to_iso

if TYPE_CHECKING:
    from sandbox.hubspot.portal import HubSpotPortal

__all__ = [
    "archive_property",
    "create_property",
    "get_property",
    "list_groups",
    "list_properties",
    "model",
    "update_property",
]

_NAME = re.compile(r"[a-z][a-z0-9_]{0,99}")
#: The field types each property type may be shown with.
_FIELDS: dict[str, frozenset[str]] = {
    "string": frozenset({"text", "textarea", "html", "phonenumber", "file"}),
    "number": frozenset({"number", "calculation_equation"}),
    "date": frozenset({"date"}),
    "datetime": frozenset({"date"}),
    "enumeration": frozenset({"select", "radio", "checkbox", "booleancheckbox"}),
    "bool": frozenset({"booleancheckbox", "calculation_equation"}),
}
_GROUP_LABELS = {
    "dealinformation": "Deal information",
    "companyinformation": "Company information",
    GROUP: "partnersync",
}


def _int(raw: Any, name: str, default: int) -> int:
    if raw is None:
        return default
    if isinstance(raw, bool) or not isinstance(raw, int | str):
        raise bad_request(f"'{name}' must be an integer, got {raw!r}.")
    try:
        return int(raw)
    except ValueError:
        raise bad_request(f"'{name}' must be an integer, got {raw!r}.") from None


def model(prop: PropertyDef) -> dict[str, Any]:
    """A definition as the API's ``ModelProperty``."""
    body: dict[str, Any] = {
        "name": prop.name,
        "label": prop.label,
        "type": prop.type,
        "fieldType": prop.field_type,
        "groupName": prop.group_name,
        "description": prop.description,
        "options": [
            {
                "label": o.label,
                "value": o.value,
                "displayOrder": o.display_order,
                "hidden": o.hidden,
                "description": o.description,
            }
            for o in prop.options
        ],
        "hasUniqueValue": prop.has_unique_value,
        "hidden": prop.hidden,
        "formField": prop.form_field,
        "displayOrder": prop.display_order,
        "calculated": prop.calculated,
        "externalOptions": prop.external_options,
        "hubspotDefined": prop.hubspot_defined,
        "modificationMetadata": {
            "archivable": prop.archivable,
            "readOnlyDefinition": prop.read_only_definition,
            "readOnlyValue": prop.read_only_value or prop.calculated,
            "readOnlyOptions": prop.read_only_definition,
        },
        "createdAt": ms_to_iso(prop.created_at),
        "updatedAt": ms_to_iso(prop.updated_at),
        "archived": prop.archived,
    }
    if prop.archived_at is not None:
        body["archivedAt"] = ms_to_iso(prop.archived_at)
    if prop.show_currency_symbol is not None:
        body["showCurrencySymbol"] = prop.show_currency_symbol
    return body


def list_properties(portal: HubSpotPortal, object_type: str, *, archived: bool) -> dict[str, Any]:
    """``GET /crm/v3/properties/{type}``: live (or archived) definitions."""
    schema = portal.schema(portal.object_type(object_type))
    props = schema.archived() if archived else list(schema)
    return {"results": [model(p) for p in props]}


def list_groups(portal: HubSpotPortal, object_type: str) -> dict[str, Any]:
    """``GET /crm/v3/properties/{type}/groups``: the groups the definitions use."""
    schema = portal.schema(portal.object_type(object_type))
    names = dict.fromkeys(p.group_name for p in schema)
    return {
        "results": [
            {
                "name": name,
                "label": _GROUP_LABELS.get(name, name),
                "displayOrder": order,
                "archived": False,
            }
            for order, name in enumerate(names)
        ]
    }


def _existing(schema: ObjectSchema, name: str, *, archived: bool = False) -> PropertyDef:
    prop = schema.get_any(name)
    if prop is None or prop.archived != archived:
        raise not_found(
            f"Unable to find property with name {name} for object type {schema.name}",
            context={"propertyName": [name]},
        )
    return prop


def get_property(
    portal: HubSpotPortal, object_type: str, name: str, *, archived: bool
) -> dict[str, Any]:
    """``GET /crm/v3/properties/{type}/{name}``: one definition, or 404."""
    return model(_existing(portal.schema(portal.object_type(object_type)), name, archived=archived))


def _options(raw: Any, prop_type: str) -> tuple[Option, ...]:
    if raw is None:
        raw = []
    if not isinstance(raw, list) or not all(isinstance(o, dict) for o in raw):
        raise bad_request("'options' must be an array of {label, value} objects.")
    options = []
    for order, item in enumerate(raw):
        label, value = item.get("label"), item.get("value")
        if not isinstance(label, str) or not isinstance(value, str) or not value:
            raise bad_request(f"options[{order}] needs a string 'label' and 'value'.")
        options.append(
            Option(
                label,
                value,
                _int(item.get("displayOrder"), "displayOrder", order),
                bool(item.get("hidden", False)),
                str(item.get("description") or ""),
            )
        )
    if prop_type == "enumeration" and not options:
        raise bad_request("An enumeration property needs at least one option.")
    return tuple(options)


def _shape(prop_type: Any, field_type: Any) -> None:
    if prop_type not in PROPERTY_TYPES:
        raise bad_request(
            f"Invalid type {prop_type!r}; expected one of {', '.join(PROPERTY_TYPES)}",
            context={"type": [str(prop_type)]},
        )
    if field_type not in FIELD_TYPES or field_type not in _FIELDS[prop_type]:
        allowed = ", ".join(sorted(_FIELDS[prop_type]))
        raise bad_request(
            f"Invalid fieldType {field_type!r} for a {prop_type} property; expected one of "
            f"{allowed}",
            context={"fieldType": [str(field_type)]},
        )


def create_property(portal: HubSpotPortal, object_type: str, body: Any) -> dict[str, Any]:
    """``POST /crm/v3/properties/{type}``: 201 with the new definition, 409 if taken."""
    schema = portal.schema(portal.object_type(object_type))
    if not isinstance(body, dict):
        raise bad_request("The request body must be a JSON object.")
    name, label, group = body.get("name"), body.get("label"), body.get("groupName")
    if not isinstance(name, str) or not _NAME.fullmatch(name):
        raise bad_request(
            f"Invalid property name {name!r}: use lower-case letters, digits and underscores, "
            "starting with a letter",
            context={"name": [str(name)]},
        )
    if not isinstance(label, str) or not label.strip():
        raise bad_request("A property needs a 'label'.")
    if not isinstance(group, str) or not group:
        raise bad_request("A property needs a 'groupName'.")
    prop_type, field_type = body.get("type"), body.get("fieldType")
    _shape(prop_type, field_type)
    if schema.get_any(name) is not None:
        raise conflict(f"A property named '{name}' already exists.", context={"name": [name]})
    now = portal.now_ms()
    prop = schema.add(
        PropertyDef(
            name,
            label,
            str(prop_type),
            str(field_type),
            group,
            description=str(body.get("description") or ""),
            options=_options(body.get("options"), str(prop_type)),
            has_unique_value=bool(body.get("hasUniqueValue", False)),
            hidden=bool(body.get("hidden", False)),
            form_field=bool(body.get("formField", False)),
            display_order=_int(body.get("displayOrder"), "displayOrder", -1),
            external_options=bool(body.get("externalOptions", False)),
            created_at=now,
            updated_at=now,
        )
    )
    return model(prop)


def _has_values(portal: HubSpotPortal, object_type: str, prop: PropertyDef) -> bool:
    table = portal.table(object_type)
    get = table.getter(prop)
    return any(get(row) is not None for row in table.rows)


def _changeable(schema: ObjectSchema, name: str) -> PropertyDef:
    prop = _existing(schema, name)
    if prop.read_only_definition:
        raise bad_request(
            f"{name} is a HubSpot-defined property; its definition cannot be modified",
            context={"propertyName": [name]},
        )
    return prop


def update_property(
    portal: HubSpotPortal, object_type: str, name: str, body: Any
) -> dict[str, Any]:
    """``PATCH /crm/v3/properties/{type}/{name}``: 200 with the changed definition.

    The type may only change while no record holds a value of the property.
    """
    kind = portal.object_type(object_type)
    schema = portal.schema(kind)
    prop = _changeable(schema, name)
    if not isinstance(body, dict):
        raise bad_request("The request body must be a JSON object.")
    prop_type = body.get("type", prop.type)
    field_type = body.get("fieldType", prop.field_type)
    _shape(prop_type, field_type)
    if prop_type != prop.type and _has_values(portal, kind, prop):
        raise bad_request(
            f"Cannot change the type of {name} from {prop.type} to {prop_type}: records "
            "hold values of it",
            context={"propertyName": [name]},
        )
    options = prop.options if "options" not in body else _options(body["options"], prop_type)
    changed = replace(
        prop,
        label=str(body.get("label", prop.label)),
        description=str(body.get("description", prop.description)),
        group_name=str(body.get("groupName", prop.group_name)),
        type=str(prop_type),
        field_type=str(field_type),
        options=options,
        hidden=bool(body.get("hidden", prop.hidden)),
        form_field=bool(body.get("formField", prop.form_field)),
        display_order=_int(body.get("displayOrder"), "displayOrder", prop.display_order),
        updated_at=portal.now_ms(),
    )
    schema.put(changed)
    return model(changed)


def archive_property(portal: HubSpotPortal, object_type: str, name: str) -> None:
    """``DELETE /crm/v3/properties/{type}/{name}``: 204; values become unreadable."""
    schema = portal.schema(portal.object_type(object_type))
    prop = _changeable(schema, name)
    if not prop.archivable:
        raise bad_request(f"{name} cannot be archived", context={"propertyName": [name]})
    now = portal.now_ms()
    schema.put(replace(prop, archived_at=now, updated_at=now))
