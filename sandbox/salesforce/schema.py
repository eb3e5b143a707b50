"""The org's metadata model: sObjects, their fields, and name resolution for SOQL.

:class:`OrgSchema` implements the SOQL engine's ``Schema`` protocol (case-insensitive
names, relationship paths such as ``("Account", "Name")``); ``describe`` renders the same
definitions, and writes are validated against them, so the three never disagree. Each
:class:`ObjectDef` also fixes the slot of every field in a stored row (see ``table.py``).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from sandbox.soql import FieldPath

__all__ = ["SYSTEM_FIELDS", "TEXT_TYPES", "FieldDef", "FieldPath", "ObjectDef", "OrgSchema", "Row"]

#: A stored record: one value per field, in the order of :attr:`ObjectDef.fields`.
Row = list[Any]
#: Fields every object must have: the org maintains them on every write.
SYSTEM_FIELDS = (
    "Id",
    "IsDeleted",
    "CreatedDate",
    "LastModifiedDate",
    "LastModifiedById",
    "SystemModstamp",
)
#: Field types whose values are strings on the wire and in storage.
TEXT_TYPES = frozenset(
    {"id", "string", "textarea", "picklist", "email", "url", "phone", "reference"}
)


@dataclass(frozen=True)
class FieldDef:
    """One field as ``describe`` shows it and writes are checked against it.

    ``length`` is in characters; ``precision``/``scale`` in decimal digits (numbers);
    ``picklist`` lists the active values in order, the first being the default only when
    ``default`` says so.
    """

    name: str
    type: str
    label: str
    updateable: bool = True
    createable: bool = True
    nillable: bool = True
    defaulted_on_create: bool = False
    length: int = 0
    precision: int = 0
    scale: int = 0
    picklist: tuple[str, ...] = ()
    restricted: bool = True
    default: str | None = None
    reference_to: str | None = None
    relationship_name: str | None = None
    external_id: bool = False
    unique: bool = False
    name_field: bool = False

    @property
    def custom(self) -> bool:
        """Custom fields end in ``__c``."""
        return self.name.endswith("__c")

    @property
    def required(self) -> bool:
        """A create must give this field a value (not nillable and not defaulted)."""
        return not self.nillable and self.createable and not self.defaulted_on_create

    @property
    def read_only(self) -> bool:
        """Neither createable nor updateable (system and derived fields)."""
        return not self.createable and not self.updateable


#: Sets derived fields of a row after a write (e.g. IsWon from StageName). Arguments: the
#: row, the object's slots, and whether the write set the named fields explicitly.
Deriver = Callable[[list[Any], dict[str, int], frozenset[str]], None]


@dataclass(frozen=True)
class ObjectDef:
    """One sObject: name, key prefix, fields (in slot order) and object-level flags."""

    name: str
    label: str
    label_plural: str
    key_prefix: str
    fields: tuple[FieldDef, ...]
    derive: Deriver | None = None
    createable: bool = True
    updateable: bool = True
    deletable: bool = True
    slots: dict[str, int] = field(default_factory=dict, compare=False, repr=False)
    _folded: dict[str, FieldDef] = field(default_factory=dict, compare=False, repr=False)

    def __post_init__(self) -> None:
        for slot, spec in enumerate(self.fields):
            self.slots[spec.name] = slot
            self._folded[spec.name.casefold()] = spec
        for required in SYSTEM_FIELDS:
            if required not in self.slots:
                raise ValueError(f"{self.name} lacks the system field {required}")

    @property
    def custom(self) -> bool:
        """Custom objects end in ``__c``."""
        return self.name.endswith("__c")

    def get(self, name: str) -> FieldDef | None:
        """The field called ``name`` (any case), or None."""
        return self._folded.get(name.casefold())

    def relationship(self, name: str) -> FieldDef | None:
        """The reference field whose relationship name is ``name`` (any case), or None."""
        folded = name.casefold()
        for spec in self.fields:
            if spec.relationship_name and spec.relationship_name.casefold() == folded:
                return spec
        return None

    @property
    def external_ids(self) -> tuple[FieldDef, ...]:
        """Fields usable as upsert keys."""
        return tuple(f for f in self.fields if f.external_id)


class OrgSchema:
    """Every sObject of the org; the SOQL engine's ``Schema``."""

    def __init__(self, objects: tuple[ObjectDef, ...]) -> None:
        self.objects: tuple[ObjectDef, ...] = objects
        self._by_name = {o.name.casefold(): o for o in objects}
        self._by_prefix = {o.key_prefix: o for o in objects}

    def object(self, name: str) -> ObjectDef | None:
        """The object called ``name`` (any case), or None."""
        return self._by_name.get(name.casefold())

    def object_for_id(self, record_id: str) -> ObjectDef | None:
        """The object whose key prefix starts ``record_id``, or None."""
        return self._by_prefix.get(record_id[:3])

    def object_name(self, name: str) -> str | None:
        """Canonical object name (``Schema`` protocol)."""
        found = self.object(name)
        return found.name if found else None

    def field(self, sobject: str, path: FieldPath) -> tuple[FieldPath, str] | None:
        """Canonical path and type of a field or a one-hop relationship field."""
        obj = self.object(sobject)
        if obj is None or not 1 <= len(path) <= 2:
            return None
        if len(path) == 1:
            spec = obj.get(path[0])
            return ((spec.name,), spec.type) if spec else None
        reference = obj.relationship(path[0])
        if reference is None or reference.reference_to is None:
            return None
        target = self.object(reference.reference_to)
        spec = target.get(path[1]) if target else None
        if spec is None or reference.relationship_name is None:
            return None
        return (reference.relationship_name, spec.name), spec.type
