"""The records of one object type: compact rows, id order, unique indexes, wire rendering.

A :class:`Row` holds the id, the create / modify / archive instants (epoch ms) and a list
of internal values indexed by the definitions' slots, nothing else: no property names and
no per-record copy of schema data, so a 200k-deal portal stays small. Rows are kept in id
order (ids only grow), which makes the ``after`` cursor of the list endpoint a bisection.

Writes go through a :class:`WritePlan` compiled once per schema version: it maps each
writable property name to its definition and coercion, and knows which names are unknown
or read-only, so a write of 15 values costs 15 dictionary lookups and conversions.
"""

from __future__ import annotations

import bisect
import operator
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from sandbox.hubspot.errors import PropertyIssue
from sandbox.hubspot.indexes import TimeIndex
from sandbox.hubspot.lag import IndexLag
from sandbox.hubspot.schema import (
    ALWAYS,
    UPDATED_BY,
    ObjectSchema,
    PropertyDef,
    Source,
)
from sandbox.hubspot.values import Invalid, coercer, ms_to_iso, renderer

__all__ = ["Getter", "ObjectTable", "Projection", "Row", "WritePlan", "Written"]

#: Reads one property's internal value from a row.
Getter = Callable[["Row"], Any]
#: ``(definition, internal value)`` pairs of stored properties to write.
Written = list[tuple[PropertyDef, Any]]

_CLOSED = frozenset({"closedwon", "closedlost"})


class Row:
    """One record: id, instants (epoch ms) and slot-indexed internal values."""

    __slots__ = ("archived_at", "created", "id", "updated", "values")

    def __init__(self, id: int, created: int, updated: int, values: list[Any]) -> None:
        self.id = id
        self.created = created
        self.updated = updated
        self.archived_at: int | None = None
        self.values = values


def _row_id(row: Row) -> int:
    return row.id


def _slot_getter(slot: int) -> Getter:
    """Reads a slot; tables keep every row's list as long as the schema's slots."""

    def get(row: Row) -> Any:
        return row.values[slot]

    return get


def _stage_flag(stage: Getter, won: bool) -> Getter:
    def get(row: Row) -> str:
        value = stage(row)
        hit = value == "closedwon" if won else value in _CLOSED
        return "true" if hit else "false"

    return get


def _row_id_text(row: Row) -> str:
    return str(row.id)


_row_created: Getter = operator.attrgetter("created")
_row_updated: Getter = operator.attrgetter("updated")


@dataclass(frozen=True)
class WritePlan:
    """How to check and convert the properties of a write (see the module docstring)."""

    #: Writable name -> (definition, value converter).
    writable: Mapping[str, tuple[PropertyDef, Callable[[object], Any]]]
    read_only: frozenset[str]

    def check(
        self, properties: Mapping[str, object]
    ) -> tuple[Written, dict[Source, int], list[PropertyIssue]]:
        """Stored values, computed instants (``createdate`` ...) and the issues found."""
        written: Written = []
        stamps: dict[Source, int] = {}
        issues: list[PropertyIssue] = []
        writable = self.writable
        for name, raw in properties.items():
            entry = writable.get(name)
            if entry is None:
                issues.append(self._refusal(name))
                continue
            prop, convert = entry
            try:
                value = convert(raw)
            except Invalid as exc:
                issues.append(PropertyIssue(name, exc.code, exc.message))
                continue
            if prop.slot >= 0:
                written.append((prop, value))
            elif value is not None:
                stamps[prop.source] = value
        return written, stamps, issues

    def _refusal(self, name: str) -> PropertyIssue:
        if name in self.read_only:
            return PropertyIssue(
                name,
                "READ_ONLY_VALUE",
                f'"{name}" is a read only property; its value cannot be set.',
            )
        return PropertyIssue(name, "PROPERTY_DOESNT_EXIST", f'Property "{name}" does not exist')


class Projection:
    """Renders rows as wire objects with a fixed set of properties (compiled per request)."""

    def __init__(self, table: ObjectTable, names: Iterable[str]) -> None:
        self.getters: list[tuple[str, Callable[[Row], str | None]]] = []
        for name in dict.fromkeys(names):
            prop = table.schema.get(name)
            if prop is None or name in ALWAYS:
                continue  # unknown names are ignored, like HubSpot does
            self.getters.append((name, _rendered(table.getter(prop), prop)))

    def properties(self, row: Row) -> tuple[dict[str, str | None], str, str]:
        """The ``properties`` dict of a row, plus its createdAt / updatedAt strings."""
        created = ms_to_iso(row.created)
        updated = ms_to_iso(row.updated)
        props = {name: get(row) for name, get in self.getters}
        props["createdate"] = created
        props["hs_lastmodifieddate"] = updated
        props["hs_object_id"] = str(row.id)
        return props, created, updated

    def render(self, row: Row) -> dict[str, Any]:
        """``{"id", "properties", "createdAt", "updatedAt", "archived"[, "archivedAt"]}``."""
        props, created, updated = self.properties(row)
        obj: dict[str, Any] = {
            "id": str(row.id),
            "properties": props,
            "createdAt": created,
            "updatedAt": updated,
            "archived": row.archived_at is not None,
        }
        if row.archived_at is not None:
            obj["archivedAt"] = ms_to_iso(row.archived_at)
        return obj


def _rendered(get: Getter, prop: PropertyDef) -> Callable[[Row], str | None]:
    render = renderer(prop)
    if prop.type != "datetime":
        return get  # internal strings are already the wire form

    def wire(row: Row) -> str | None:
        return render(get(row))

    return wire


class ObjectTable:
    """All records of one object type, archived ones included."""

    def __init__(self, schema: ObjectSchema) -> None:
        self.schema = schema
        #: Every row, ascending id (archived rows stay in place).
        self.rows: list[Row] = []
        self._by_id: dict[int, Row] = {}
        self._archived: list[Row] = []
        self._unique: dict[str, dict[str, int]] = {}
        self._writes = 0
        self._slots = schema.slots
        #: Live rows by create / last-modified instant (see :mod:`.indexes`).
        self.by_time = {
            Source.CREATED: TimeIndex("created", self._live),
            Source.UPDATED: TimeIndex("updated", self._live),
        }
        self._plans: dict[bool, WritePlan] = {}
        self._uniques: list[PropertyDef] = []
        self._updated_by = -1  # the slot of hs_updated_by_user_id, if the type has it
        self._plans_version = -1
        #: What the search index has not caught up with (set by the portal).
        self.lag: IndexLag | None = None

    @property
    def version(self) -> tuple[int, int]:
        """Changes with every write and definition change (keys the search cache)."""
        return (self._writes, self.schema.version)

    # --- reading ----------------------------------------------------------------------

    def _live(self) -> Iterator[Row]:
        return (row for row in self.rows if row.archived_at is None)

    def _sync(self) -> None:
        """Lengthen every row's value list after properties were added to the schema."""
        slots = self.schema.slots
        if self._slots < slots:
            for row in self.rows:
                if len(row.values) < slots:
                    row.values.extend([None] * (slots - len(row.values)))
            self._slots = slots

    def getter(self, prop: PropertyDef) -> Getter:
        """Reads ``prop``'s internal value from a row (computed properties included)."""
        self._sync()
        source = prop.source
        if source is Source.SLOT:
            return _slot_getter(prop.slot)
        if source is Source.ID:
            return _row_id_text
        if source is Source.CREATED:
            return _row_created
        if source is Source.UPDATED:
            return _row_updated
        stage = self.schema.get("dealstage")
        if stage is None:
            return lambda row: None
        return _stage_flag(_slot_getter(stage.slot), won=source is Source.WON)

    def find(self, id_text: str, *, archived: bool | None = False) -> Row | None:
        """The row of id ``id_text``; ``archived`` False: live only, True: archived only."""
        if not id_text.isdigit():
            return None
        row = self._by_id.get(int(id_text))
        if row is None or archived is None:
            return row
        return row if (row.archived_at is not None) == archived else None

    def find_unique(self, prop: PropertyDef, value: str) -> Row | None:
        """The live row whose unique property ``prop`` holds ``value``."""
        row_id = self._unique.get(prop.name, {}).get(value)
        return None if row_id is None else self._by_id.get(row_id)

    def count(self, *, archived: bool = False) -> int:
        """How many live (or archived) rows there are."""
        return len(self._archived) if archived else len(self.rows) - len(self._archived)

    def page(self, after: int, limit: int, *, archived: bool) -> tuple[list[Row], int | None]:
        """Up to ``limit`` live (or archived) rows with id >= ``after``, and the next cursor."""
        source = self._archived if archived else self.rows
        index = bisect.bisect_left(source, after, key=_row_id)
        end = len(source)
        found: list[Row] = []
        while index < end and len(found) < limit:
            row = source[index]
            index += 1
            if archived or row.archived_at is None:
                found.append(row)
        while index < end:
            if archived or source[index].archived_at is None:
                return found, found[-1].id + 1
            index += 1
        return found, None

    # --- writing ----------------------------------------------------------------------

    def _refresh(self) -> None:
        """Drop what was compiled from an older version of the definitions."""
        if self._plans_version != self.schema.version:
            self._plans.clear()
            self._uniques = self.schema.unique()
            updated_by = self.schema.get(UPDATED_BY)
            self._updated_by = updated_by.slot if updated_by and updated_by.stored else -1
            self._plans_version = self.schema.version

    def plan(self, *, trusted: bool) -> WritePlan:
        """The write rules; ``trusted`` (the Python API's creates: seeding) may also set
        ``createdate``, ``hs_lastmodifieddate`` and ``hs_updated_by_user_id``."""
        self._refresh()
        plan = self._plans.get(trusted)
        if plan is None:
            writable: dict[str, tuple[PropertyDef, Callable[[object], Any]]] = {}
            read_only: set[str] = set()
            for prop in self.schema:
                settable = not (prop.read_only_value or prop.calculated)
                if trusted and (
                    prop.source in (Source.CREATED, Source.UPDATED) or prop.name == UPDATED_BY
                ):
                    settable = True
                if settable:
                    writable[prop.name] = (prop, coercer(prop))
                else:
                    read_only.add(prop.name)
            plan = WritePlan(writable, frozenset(read_only))
            self._plans[trusted] = plan
        return plan

    def conflicts(self, written: Written, row_id: int | None) -> list[tuple[PropertyDef, str, int]]:
        """Unique values of ``written`` that another live row already holds."""
        self._refresh()
        found: list[tuple[PropertyDef, str, int]] = []
        if not self._uniques:
            return found
        for prop, value in written:
            if prop.has_unique_value and value is not None:
                holder = self._unique.get(prop.name, {}).get(value)
                if holder is not None and holder != row_id:
                    found.append((prop, value, holder))
        return found

    def insert(
        self, row_id: int, written: Written, created: int, updated: int, *, lagged: bool = True
    ) -> Row:
        """A new live row (the caller checked ``written`` and its unique values); search
        sees it only after the index lag unless ``lagged`` is False (seeding)."""
        self._sync()
        values: list[Any] = [None] * self.schema.slots
        for prop, value in written:
            values[prop.slot] = value
        row = Row(row_id, created, updated, values)
        self.rows.append(row)
        self._by_id[row_id] = row
        self._refresh()
        for prop in self._uniques:
            if values[prop.slot] is not None:
                self._unique.setdefault(prop.name, {})[values[prop.slot]] = row_id
        for index in self.by_time.values():
            index.add(row)
        self._writes += 1
        if lagged and self.lag is not None:
            self.lag.written(row, created=True)
        return row

    def apply(
        self,
        row: Row,
        written: Written,
        updated: int,
        created: int | None = None,
        *,
        updated_by: str | None = None,
    ) -> None:
        """Write values into a row, move its last-modified instant to ``updated`` and its
        ``hs_updated_by_user_id`` to ``updated_by`` (None: an API write, which blanks it)."""
        self._sync()
        self._refresh()
        if self.lag is not None:
            self.lag.written(row)
        modified = self.by_time[Source.UPDATED]
        modified.remove(row)
        if created is not None and created != row.created:
            self.by_time[Source.CREATED].stale()
            row.created = created
        values = row.values
        for prop, value in written:
            if prop.has_unique_value:
                self._unindex(prop, values[prop.slot], row.id)
                if value is not None:
                    self._unique.setdefault(prop.name, {})[value] = row.id
            values[prop.slot] = value
        if self._updated_by >= 0:
            values[self._updated_by] = updated_by
        row.updated = max(updated, row.created)
        modified.add(row)
        self._writes += 1

    def archive(self, row: Row, when: int) -> None:
        """Archive a live row: it leaves listings, searches and unique indexes."""
        self._sync()
        if self.lag is not None:
            self.lag.written(row)
        for index in self.by_time.values():
            index.remove(row)
        row.archived_at = when
        row.updated = max(when, row.created)
        bisect.insort(self._archived, row, key=_row_id)
        for prop in self.schema.unique():
            self._unindex(prop, row.values[prop.slot], row.id)
        self._writes += 1

    def _unindex(self, prop: PropertyDef, value: Any, row_id: int) -> None:
        index = self._unique.get(prop.name)
        if index is not None and value is not None and index.get(value) == row_id:
            del index[value]
