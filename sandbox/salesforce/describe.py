"""Metadata answers: describe, the basic sObject info, and the global describe.

Rendered from the same :class:`~.schema.ObjectDef` the org validates writes against, so
what ``describe`` says (types, lengths, updateability, picklist values, references,
external ids) is exactly what the org enforces.
"""

from __future__ import annotations

from typing import Any

from sandbox.salesforce.schema import TEXT_TYPES, FieldDef, ObjectDef, OrgSchema

__all__ = ["describe_field", "describe_object", "object_info"]

_SOAP_TYPES = {
    "id": "tns:ID",
    "reference": "tns:ID",
    "string": "xsd:string",
    "textarea": "xsd:string",
    "picklist": "xsd:string",
    "email": "xsd:string",
    "url": "xsd:string",
    "phone": "xsd:string",
    "currency": "xsd:double",
    "double": "xsd:double",
    "percent": "xsd:double",
    "int": "xsd:int",
    "boolean": "xsd:boolean",
    "date": "xsd:date",
    "datetime": "xsd:dateTime",
}


def describe_field(spec: FieldDef) -> dict[str, Any]:
    """One entry of ``fields`` in ``sobjects/{Obj}/describe``."""
    text = spec.type in TEXT_TYPES
    return {
        "aggregatable": spec.type not in ("textarea",),
        "autoNumber": False,
        "byteLength": spec.length * 3 if text else 0,
        "calculated": False,
        "cascadeDelete": False,
        "caseSensitive": False,
        "createable": spec.createable,
        "custom": spec.custom,
        "defaultValue": False if spec.type == "boolean" else spec.default,
        "defaultedOnCreate": spec.defaulted_on_create or spec.type == "boolean",
        "dependentPicklist": False,
        "deprecatedAndHidden": False,
        "digits": spec.precision if spec.type == "int" else 0,
        "externalId": spec.external_id,
        "filterable": spec.type != "textarea",
        "groupable": spec.type not in ("textarea", "currency", "double", "percent", "datetime"),
        "htmlFormatted": False,
        "idLookup": spec.type == "id" or spec.external_id,
        "label": spec.label,
        "length": spec.length if text else 0,
        "name": spec.name,
        "nameField": spec.name_field,
        "namePointing": False,
        "nillable": spec.nillable,
        "permissionable": spec.nillable and spec.custom,
        "picklistValues": [
            {
                "active": True,
                "defaultValue": value == spec.default,
                "label": value,
                "validFor": None,
                "value": value,
            }
            for value in spec.picklist
        ],
        "precision": spec.precision if spec.type in ("currency", "double", "percent") else 0,
        "referenceTo": [spec.reference_to] if spec.reference_to else [],
        "relationshipName": spec.relationship_name,
        "relationshipOrder": None,
        "restrictedPicklist": bool(spec.picklist) and spec.restricted,
        "scale": spec.scale,
        "soapType": _SOAP_TYPES.get(spec.type, "xsd:anyType"),
        "sortable": spec.type != "textarea",
        "type": spec.type,
        "unique": spec.unique,
        "updateable": spec.updateable,
    }


def _urls(obj: ObjectDef, version: str) -> dict[str, str]:
    base = f"/services/data/v{version}/sobjects/{obj.name}"
    return {
        "compactLayouts": f"{base}/describe/compactLayouts",
        "rowTemplate": f"{base}/{{ID}}",
        "approvalLayouts": f"{base}/describe/approvalLayouts",
        "describe": f"{base}/describe",
        "quickActions": f"{base}/quickActions",
        "layouts": f"{base}/describe/layouts",
        "sobject": base,
    }


def object_info(obj: ObjectDef, version: str) -> dict[str, Any]:
    """The object-level keys shared by the global describe, metadata and describe."""
    return {
        "activateable": False,
        "createable": obj.createable,
        "custom": obj.custom,
        "customSetting": False,
        "deletable": obj.deletable,
        "deprecatedAndHidden": False,
        "feedEnabled": False,
        "hasSubtypes": False,
        "isSubtype": False,
        "keyPrefix": obj.key_prefix,
        "label": obj.label,
        "labelPlural": obj.label_plural,
        "layoutable": True,
        "mergeable": obj.name == "Account",
        "mruEnabled": True,
        "name": obj.name,
        "queryable": True,
        "replicateable": True,
        "retrieveable": True,
        "searchable": True,
        "triggerable": True,
        "undeletable": obj.deletable,
        "updateable": obj.updateable,
        "urls": _urls(obj, version),
    }


def _children(obj: ObjectDef, schema: OrgSchema) -> list[dict[str, Any]]:
    """References to ``obj`` from other objects (Account: its Opportunities)."""
    children = []
    for child in schema.objects:
        for spec in child.fields:
            if spec.reference_to != obj.name:
                continue
            plural = child.label_plural.replace(" ", "")
            name = plural if not spec.custom else spec.name.removesuffix("__c") + "s__r"
            children.append(
                {
                    "cascadeDelete": spec.name == "AccountId",
                    "childSObject": child.name,
                    "deprecatedAndHidden": False,
                    "field": spec.name,
                    "junctionIdListNames": [],
                    "junctionReferenceTo": [],
                    "relationshipName": name,
                    "restrictedDelete": False,
                }
            )
    return children


def describe_object(obj: ObjectDef, schema: OrgSchema, version: str) -> dict[str, Any]:
    """The full ``sobjects/{Obj}/describe`` answer."""
    return {
        **object_info(obj, version),
        "childRelationships": _children(obj, schema),
        "fields": [describe_field(spec) for spec in obj.fields],
        "recordTypeInfos": [
            {
                "active": True,
                "available": True,
                "defaultRecordTypeMapping": True,
                "developerName": "Master",
                "master": True,
                "name": "Master",
                "recordTypeId": "012000000000000AAA",
            }
        ],
        "supportedScopes": [{"label": "All " + obj.label_plural.lower(), "name": "everything"}],
    }
