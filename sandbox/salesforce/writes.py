"""API writes: JSON bodies validated as Salesforce validates them, committed together.

A :class:`WriteBatch` plans each create / update / upsert / delete of one API call. Planning
checks everything (field names, writability, types, required fields, references,
uniqueness, record state) and draws the injected ``lock`` fault, raising
:class:`~.errors.RecordError`; nothing is written until :meth:`WriteBatch.commit`, so an
``allOrNone`` collection that fails anywhere writes nothing. The commit stamps each record
with the integration user as ``LastModifiedById``, adds one event per write to the
sandbox's write journal and queues the Outbound Messages of created and updated records.
The caller holds the sandbox lock from the first plan to the commit.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from sandbox.core import WriteAction, WriteEvent
from sandbox.salesforce.errors import (
    AmbiguousKey,
    RecordError,
    entity_is_deleted,
    invalid_field,
    malformed_id,
    not_found,
    unable_to_lock_row,
)
from sandbox.salesforce.ids import USER_PREFIX, parse_id
from sandbox.salesforce.schema import FieldDef, ObjectDef, Row
from sandbox.salesforce.table import Table
from sandbox.salesforce.values import from_json, millis

if TYPE_CHECKING:
    from sandbox.salesforce.org import SalesforceOrg

__all__ = ["PlannedWrite", "WriteBatch"]


@dataclass
class PlannedWrite:
    """One validated write: a new row, or slot values for (or the deletion of) a row.

    ``sent`` holds the fields as the request gave them (for the write journal).
    """

    table: Table
    row: Row
    values: dict[int, Any]
    given: frozenset[str]
    sent: dict[str, Any]
    created: bool = False
    delete: bool = False

    @property
    def record_id(self) -> str:
        return str(self.row[self.table.ID])

    @property
    def action(self) -> WriteAction:
        """What the write does to the record, as the journal says it."""
        if self.created:
            return "create"
        return "delete" if self.delete else "update"


class WriteBatch:
    """The writes of one API call.

    ``collection`` words an unknown record id as sObject Collections do (per-record
    ``INVALID_CROSS_REFERENCE_KEY``) rather than as a single-record call (404 NOT_FOUND).
    """

    def __init__(self, org: SalesforceOrg, *, collection: bool = False) -> None:
        self.org = org
        self.collection = collection
        self.planned: list[PlannedWrite] = []
        self._claimed: dict[tuple[str, int, str], str] = {}

    # --- planning ------------------------------------------------------------------------

    def create(self, sobject: str, body: Mapping[str, Any]) -> PlannedWrite:
        """Plan an insert of a JSON record."""
        table = self.org.table(sobject)
        values, given, sent = self._values(table.obj, body, creating=True)
        row = table.template.copy()
        for slot, value in values.items():
            row[slot] = value
        row[table.ID] = table.new_id()
        self._check_unique(table, row[table.ID], values)
        return self._planned(PlannedWrite(table, row, values, given, sent, created=True))

    def update(self, sobject: str, record_id: Any, body: Mapping[str, Any]) -> PlannedWrite:
        """Plan an update of a live record from a JSON body."""
        table = self.org.table(sobject)
        row = self._existing(table, record_id)
        values, given, sent = self._values(table.obj, body, creating=False)
        self._check_unique(table, row[table.ID], values)
        return self._planned(PlannedWrite(table, row, values, given, sent))

    def upsert(self, sobject: str, field: str, key: Any, body: Mapping[str, Any]) -> PlannedWrite:
        """Plan an update of the record whose external id ``field`` is ``key``, else a create."""
        table = self.org.table(sobject)
        spec = table.obj.get(field)
        if spec is None or not (spec.external_id or spec.name == "Id"):
            raise RecordError(
                "NOT_FOUND",
                f"Provided external ID field does not exist or is not accessible: {field}",
            )
        if not isinstance(key, str) or not key:
            raise RecordError("MISSING_ARGUMENT", f"{spec.name} not specified", [spec.name])
        body = {k: v for k, v in body.items() if k.casefold() != spec.name.casefold()}
        if spec.name == "Id":
            return self.update(sobject, key, body)
        claim = (table.obj.name, table.slots[spec.name], key.casefold())
        if claim in self._claimed:
            raise RecordError(
                "DUPLICATE_EXTERNAL_ID", f"Duplicate external id specified: {key}", [spec.name]
            )
        matches = table.find(spec.name, key)
        if len(matches) > 1:
            raise AmbiguousKey(spec.name, [r[table.ID] for r in matches])
        if matches:
            planned = self.update(sobject, matches[0][table.ID], body)
        else:
            planned = self.create(sobject, {**body, spec.name: key})
            planned.sent = {k: v for k, v in body.items() if k != "attributes"}  # key aside
        self._claimed[claim] = planned.record_id
        return planned

    def delete(self, sobject: str, record_id: Any) -> PlannedWrite:
        """Plan moving a live record to the recycle bin."""
        table = self.org.table(sobject)
        row = self._existing(table, record_id)
        return self._planned(
            PlannedWrite(table, row, {table.IS_DELETED: True}, frozenset(), {}, delete=True)
        )

    # --- committing ----------------------------------------------------------------------

    def commit(self) -> None:
        """Write every planned write, stamped with the sandbox clock (milliseconds) and the
        integration user, and journal each."""
        sandbox = self.org.sandbox
        now = millis(sandbox.now())
        for planned in self.planned:
            table, row = planned.table, planned.row
            if planned.created:
                row[table.CREATED] = now
                table.touch(row, now, planned.given)
                table.add(row)
            else:
                table.change(row, planned.values)
                table.touch(row, now, planned.given)
        sandbox.journal.extend(
            WriteEvent("salesforce", p.table.obj.name, p.record_id, p.sent, now, p.action)
            for p in self.planned
        )
        for planned in self.planned:
            if not planned.delete:
                self.org.notify(planned.table, planned.row)

    # --- checks --------------------------------------------------------------------------

    def _planned(self, planned: PlannedWrite) -> PlannedWrite:
        if self.org.sandbox.faults.draw_lock():
            raise unable_to_lock_row(planned.record_id)
        self.planned.append(planned)
        return planned

    def _existing(self, table: Table, raw: Any) -> Row:
        name = table.obj.name
        record_id = parse_id(raw) if isinstance(raw, str) else None
        if record_id is None or record_id[:3] != table.obj.key_prefix:
            raise malformed_id(f"{name} ID", str(raw), ["Id"])
        row = table.get(record_id)
        if row is None:
            if self.collection:
                raise RecordError("INVALID_CROSS_REFERENCE_KEY", "invalid cross reference id")
            raise not_found()
        if row[table.IS_DELETED]:
            raise entity_is_deleted()
        return row

    def _values(
        self, obj: ObjectDef, body: Mapping[str, Any], *, creating: bool
    ) -> tuple[dict[int, Any], frozenset[str], dict[str, Any]]:
        """Stored values by slot, the canonical names given, and the body's fields as sent."""
        values: dict[int, Any] = {}
        given: set[str] = set()
        sent: dict[str, Any] = {}
        for key, raw in body.items():
            if key == "attributes" or (not creating and key.casefold() == "id"):
                continue
            sent[key] = raw
            spec = obj.get(key)
            if spec is None:
                raise invalid_field(key, obj.name)
            if not (spec.createable if creating else spec.updateable):
                raise RecordError(
                    "INVALID_FIELD_FOR_INSERT_UPDATE",
                    f"Unable to create/update fields: {spec.name}. Please check the security "
                    "settings of this field and verify that it is read/write for your profile "
                    "or permission set.",
                    [spec.name],
                )
            if raw is None and creating and spec.defaulted_on_create:
                continue  # the default applies
            value = None if raw is None else from_json(spec, raw)
            if spec.type == "reference" and value is not None:
                value = self._reference(spec, value)
            values[obj.slots[spec.name]] = value
            given.add(spec.name)
        if creating:
            missing = [
                f.name for f in obj.fields if f.required and values.get(obj.slots[f.name]) is None
            ]
        else:  # an update may not blank a non-nillable field
            missing = [
                f.name
                for f in obj.fields
                if not f.nillable and f.name in given and values[obj.slots[f.name]] is None
            ]
        if missing:
            raise RecordError(
                "REQUIRED_FIELD_MISSING",
                f"Required fields are missing: [{', '.join(missing)}]",
                missing,
            )
        return values, frozenset(given), sent

    def _reference(self, spec: FieldDef, raw: str) -> str:
        record_id = parse_id(raw)
        if record_id is None:
            raise malformed_id(spec.label, raw, [spec.name])
        target = self.org.schema.object(spec.reference_to or "")
        if target is None:  # users are not modelled: any well-formed User id will do
            if record_id[:3] != USER_PREFIX:
                raise RecordError(
                    "FIELD_INTEGRITY_EXCEPTION",
                    f"{spec.label}: id value of incorrect type: {raw}",
                    [spec.name],
                )
            return record_id
        if record_id[:3] != target.key_prefix:
            raise RecordError(
                "FIELD_INTEGRITY_EXCEPTION",
                f"{spec.label}: id value of incorrect type: {raw}",
                [spec.name],
            )
        table = self.org.table(target.name)
        row = table.get(record_id)
        if row is None:
            raise RecordError(
                "INVALID_CROSS_REFERENCE_KEY", "invalid cross reference id", [spec.name]
            )
        if row[table.IS_DELETED]:
            raise RecordError("ENTITY_IS_DELETED", "entity is deleted", [spec.name])
        return record_id

    def _check_unique(self, table: Table, record_id: str, values: Mapping[int, Any]) -> None:
        for spec in table.obj.fields:
            if not spec.unique:
                continue
            slot = table.slots[spec.name]
            value = values.get(slot)
            if not isinstance(value, str):
                continue
            claim = (table.obj.name, slot, value.casefold())
            holders = [r[table.ID] for r in table.find(spec.name, value)]
            holders += [self._claimed[claim]] if claim in self._claimed else []
            others = [h for h in holders if h != record_id]
            if others:
                raise RecordError(
                    "DUPLICATE_VALUE",
                    f"duplicate value found: {spec.name} duplicates value on record with id: "
                    f"{others[0]}",
                    [spec.name],
                )
            self._claimed.setdefault(claim, record_id)
