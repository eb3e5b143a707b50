"""Property definitions of the portal's object types, as the properties API describes them.

A :class:`PropertyDef` is both the answer of ``GET /crm/v3/properties/{type}/{name}`` and
the rule writes are checked against. Definitions are shared by every record: a record only
holds its values, in the storage *slot* its definition names. A few HubSpot-defined
properties have no slot because the portal computes them (:class:`Source`): the record id,
its create and last-modified instants, and the two "is closed" flags of a deal.
"""

from __future__ import annotations

import enum
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field, replace
from types import MappingProxyType

__all__ = [
    "ALWAYS",
    "FIELD_TYPES",
    "OBJECT_TYPES",
    "PROPERTY_TYPES",
    "UPDATED_BY",
    "ObjectSchema",
    "Option",
    "PropertyDef",
    "Source",
]

#: ``type`` values the properties API accepts.
PROPERTY_TYPES = ("string", "number", "date", "datetime", "enumeration", "bool")
#: ``fieldType`` values the properties API accepts.
FIELD_TYPES = (
    "textarea",
    "text",
    "date",
    "file",
    "number",
    "select",
    "radio",
    "checkbox",
    "booleancheckbox",
    "calculation_equation",
    "html",
    "phonenumber",
)
#: Every name a path may use for an emulated object type, and the type it means.
OBJECT_TYPES: Mapping[str, str] = MappingProxyType(
    {"deals": "deals", "deal": "deals", "0-3": "deals"}
    | {"companies": "companies", "company": "companies", "0-2": "companies"}
)
#: Properties every read returns, whatever ``properties`` asked for.
ALWAYS = ("createdate", "hs_lastmodifieddate", "hs_object_id")
#: The user who last changed a record in HubSpot's UI: read-only, blank after API writes.
UPDATED_BY = "hs_updated_by_user_id"


class Source(enum.Enum):
    """Where a property's value lives: a storage slot, or computed by the portal."""

    SLOT = "slot"
    ID = "id"
    CREATED = "created"
    UPDATED = "updated"
    CLOSED = "closed"
    WON = "won"


@dataclass(frozen=True, slots=True)
class Option:
    """One choice of an enumeration property."""

    label: str
    value: str
    display_order: int = 0
    hidden: bool = False
    description: str = ""


@dataclass(frozen=True, slots=True)
class PropertyDef:
    """One property definition; instants are epoch milliseconds."""

    name: str
    label: str
    type: str
    field_type: str
    group_name: str
    description: str = ""
    options: tuple[Option, ...] = ()
    has_unique_value: bool = False
    hidden: bool = False
    form_field: bool = False
    display_order: int = -1
    calculated: bool = False
    external_options: bool = False
    hubspot_defined: bool = False
    read_only_value: bool = False
    read_only_definition: bool = False
    archivable: bool = True
    show_currency_symbol: bool | None = None
    created_at: int = 0
    updated_at: int = 0
    archived_at: int | None = None
    source: Source = Source.SLOT
    slot: int = -1
    #: Option value -> the option's own string (validation and interning of values).
    choices: Mapping[str, str] = field(default_factory=dict, compare=False, repr=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "choices", {o.value: o.value for o in self.options})

    @property
    def archived(self) -> bool:
        """Whether the property was archived (its values can no longer be read or written)."""
        return self.archived_at is not None

    @property
    def stored(self) -> bool:
        """Whether the value lives in a record's slot (else the portal computes it)."""
        return self.source is Source.SLOT


class ObjectSchema:
    """The property definitions of one object type (deals, companies) and its names."""

    def __init__(
        self,
        name: str,
        type_id: str,
        singular: str,
        properties: list[PropertyDef],
        *,
        defaults: tuple[str, ...],
        searchable: tuple[str, ...],
    ) -> None:
        self.name = name
        self.type_id = type_id
        self.singular = singular
        #: Properties returned when a read names none.
        self.defaults = defaults
        #: Properties the free-text ``query`` of a search looks at.
        self.searchable = searchable
        self._properties: dict[str, PropertyDef] = {}
        self.slots = 0
        #: Bumped on every definition change (search caches depend on it).
        self.version = 0
        for prop in properties:
            self.add(prop)

    def add(self, prop: PropertyDef) -> PropertyDef:
        """Register a new definition, giving a stored property the next free slot."""
        if prop.stored and prop.slot < 0:
            prop = replace(prop, slot=self.slots)
        if prop.stored:
            self.slots = max(self.slots, prop.slot + 1)
        self._properties[prop.name] = prop
        self.version += 1
        return prop

    def put(self, prop: PropertyDef) -> None:
        """Replace an existing definition (same name and slot)."""
        self._properties[prop.name] = prop
        self.version += 1

    def get(self, name: str) -> PropertyDef | None:
        """The live (not archived) definition named ``name``."""
        prop = self._properties.get(name)
        return None if prop is None or prop.archived else prop

    def get_any(self, name: str) -> PropertyDef | None:
        """The definition named ``name``, archived or not."""
        return self._properties.get(name)

    def __iter__(self) -> Iterator[PropertyDef]:
        """Live definitions, in definition order."""
        return (p for p in self._properties.values() if not p.archived)

    def archived(self) -> list[PropertyDef]:
        """Archived definitions."""
        return [p for p in self._properties.values() if p.archived]

    def unique(self) -> list[PropertyDef]:
        """Live stored definitions with ``hasUniqueValue`` (usable as ``idProperty``)."""
        return [p for p in self if p.has_unique_value and p.stored]

    def by_source(self, source: Source) -> PropertyDef | None:
        """The live definition computed from ``source``, if this type has one."""
        return next((p for p in self if p.source is source), None)
