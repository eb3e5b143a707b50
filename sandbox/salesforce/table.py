"""Compact storage of one sObject's records, with its unique-key index.

A record is a list of values in the object's field order (:data:`~.schema.Row`), keyed
by its 18-character id in insertion order: the seeder's 200,000 Opportunities and 50,000
Accounts take about 165 MB, less than half of what one dict per record would. Field
names, the schema and picklist strings are shared, never copied per record. Soft-deleted
rows stay (the recycle bin) with ``IsDeleted`` true.

The table does not lock: :class:`~.org.SalesforceOrg` holds the sandbox lock around
every operation.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import datetime
from typing import Any

from sandbox.salesforce.ids import USER_ID, IdFactory
from sandbox.salesforce.schema import ObjectDef, Row
from sandbox.salesforce.values import memo_millis, python_converter

__all__ = ["PythonPlan", "Table"]

#: How the Python API stores one set of keys: (slot, converter) pairs, canonical names.
PythonPlan = tuple[tuple[tuple[int, Callable[[Any], Any]], ...], frozenset[str]]


class Table:
    """The rows of one sObject, the unique-key index, and the id counter."""

    def __init__(self, obj: ObjectDef) -> None:
        self.obj = obj
        self.slots = obj.slots
        self.rows: dict[str, Row] = {}
        self.deleted = 0
        self.new_id = IdFactory(obj.key_prefix)
        self.template: Row = [None] * len(obj.fields)
        for slot, spec in enumerate(obj.fields):
            if spec.default is not None:
                self.template[slot] = spec.default
        self.ID = self.slots["Id"]
        self.IS_DELETED = self.slots["IsDeleted"]
        self.CREATED = self.slots["CreatedDate"]
        self.MODIFIED = self.slots["LastModifiedDate"]
        self.MODIFIED_BY = self.slots["LastModifiedById"]
        self.MODSTAMP = self.slots["SystemModstamp"]
        self.template[self.IS_DELETED] = False
        self.template[self.MODIFIED_BY] = USER_ID
        #: slot of each unique / external-id field -> casefolded value -> ids holding it
        self._keys: dict[int, dict[str, list[str]]] = {
            self.slots[f.name]: {} for f in obj.fields if f.unique or f.external_id
        }
        self._plans: dict[tuple[str, ...], PythonPlan] = {}
        self._instant = memo_millis()

    # --- reading -----------------------------------------------------------------------

    def get(self, record_id: str) -> Row | None:
        """The row with this canonical id (deleted or not), or None."""
        return self.rows.get(record_id)

    def live(self) -> list[Row]:
        """Rows not in the recycle bin, in insertion order."""
        deleted = self.IS_DELETED
        return [row for row in self.rows.values() if not row[deleted]]

    def everything(self) -> list[Row]:
        """Every row, soft-deleted ones included."""
        return list(self.rows.values())

    def count(self, include_deleted: bool = False) -> int:
        """How many rows (live only unless ``include_deleted``)."""
        return len(self.rows) - (0 if include_deleted else self.deleted)

    def find(self, field: str, value: str) -> list[Row]:
        """Live rows whose unique / external-id ``field`` equals ``value`` (any case)."""
        index = self._keys.get(self.slots[field])
        if index is None:
            slot = self.slots[field]
            folded = value.casefold()
            return [
                r for r in self.live() if isinstance(r[slot], str) and r[slot].casefold() == folded
            ]
        ids = index.get(value.casefold(), ())
        rows = [self.rows[i] for i in ids]
        return [r for r in rows if not r[self.IS_DELETED]]

    def as_dict(self, row: Row) -> dict[str, Any]:
        """A copy of ``row`` keyed by field name."""
        return dict(zip(self.slots, row, strict=True))

    # --- writing -----------------------------------------------------------------------

    def add(self, row: Row) -> None:
        """Store a complete new row (its Id set)."""
        record_id = row[self.ID]
        self.rows[record_id] = row
        if row[self.IS_DELETED]:
            self.deleted += 1
        for slot, index in self._keys.items():
            value = row[slot]
            if isinstance(value, str):
                index.setdefault(value.casefold(), []).append(record_id)

    def change(self, row: Row, values: Mapping[int, Any]) -> None:
        """Set slots of a stored row, keeping the unique-key index and deleted count."""
        record_id = row[self.ID]
        for slot, value in values.items():
            index = self._keys.get(slot)
            if index is not None and row[slot] != value:
                if isinstance(row[slot], str):
                    holders = index.get(row[slot].casefold(), [])
                    if record_id in holders:
                        holders.remove(record_id)
                if isinstance(value, str):
                    index.setdefault(value.casefold(), []).append(record_id)
            if slot == self.IS_DELETED and bool(value) != bool(row[slot]):
                self.deleted += 1 if value else -1
            row[slot] = value

    def touch(self, row: Row, now: datetime, given: frozenset[str] = frozenset()) -> None:
        """After a write: derived fields, then LastModifiedDate and SystemModstamp = ``now``
        and LastModifiedById = the integration user (unless the write set them itself:
        only the Python API may)."""
        if self.obj.derive is not None:
            self.obj.derive(row, self.slots, given)
        if "LastModifiedDate" not in given:
            row[self.MODIFIED] = now
        if "LastModifiedById" not in given:
            row[self.MODIFIED_BY] = USER_ID
        if "SystemModstamp" not in given:
            row[self.MODSTAMP] = now

    # --- the Python API's conversion -----------------------------------------------------

    def python_plan(self, keys: tuple[str, ...]) -> PythonPlan:
        """How to store a dict with these keys (cached per key tuple); KeyError if unknown."""
        plan = self._plans.get(keys)
        if plan is None:
            steps = []
            names = []
            for key in keys:
                spec = self.obj.get(key)
                if spec is None or spec.name == "Id":
                    raise KeyError(f"{self.obj.name} has no settable field {key!r}")
                steps.append((self.slots[spec.name], python_converter(spec, self._instant)))
                names.append(spec.name)
            plan = (tuple(steps), frozenset(names))
            self._plans[keys] = plan
        return plan

    def python_row(self, fields: Mapping[str, Any], now: datetime) -> Row:
        """A new row from typed Python values, with a fresh id and defaulted timestamps.

        Missing ``CreatedDate`` is ``now``; missing ``LastModifiedDate`` is the created
        instant; missing ``SystemModstamp`` is the last-modified one; missing
        ``LastModifiedById`` is the integration user (the template's value).
        """
        steps, given = self.python_plan(tuple(fields))
        row = self.template.copy()
        for (slot, convert), value in zip(steps, fields.values(), strict=True):
            row[slot] = None if value is None else convert(value)
        row[self.ID] = self.new_id()
        if row[self.CREATED] is None:
            row[self.CREATED] = now
        if row[self.MODIFIED] is None:
            row[self.MODIFIED] = row[self.CREATED]
        if row[self.MODSTAMP] is None:
            row[self.MODSTAMP] = row[self.MODIFIED]
        if row[self.IS_DELETED] is None:
            row[self.IS_DELETED] = False
        if row[self.MODIFIED_BY] is None:
            row[self.MODIFIED_BY] = USER_ID
        if self.obj.derive is not None:
            self.obj.derive(row, self.slots, given)
        return row

    def python_values(self, fields: Mapping[str, Any]) -> tuple[dict[int, Any], frozenset[str]]:
        """Slot -> stored value for a typed Python update, and the canonical names given."""
        steps, given = self.python_plan(tuple(fields))
        values = {
            slot: None if value is None else convert(value)
            for (slot, convert), value in zip(steps, fields.values(), strict=True)
        }
        return values, given
