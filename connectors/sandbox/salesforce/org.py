"""The sandbox's in-memory Salesforce org: records, ids, validation, system fields.

Records are plain dicts of typed values (str, float, int, bool, ``date``, UTC ``datetime``,
None) keyed by canonical field name. Every write maintains ``LastModifiedDate`` and
``SystemModstamp`` (milliseconds, UTC); deletes are soft (``IsDeleted``), as in the recycle
bin, so ``queryAll`` and ``deleted/`` still see them.

The Python methods (``insert``, ``insert_many``, ``update``, ``delete``, ...) bypass HTTP
and faults: the seeder and tests use them. The HTTP routes use :meth:`SalesforceOrg.write`,
which validates like the API and raises :class:`RecordError` with Salesforce's codes.
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Iterable, Iterator, Mapping
from datetime import UTC, date, datetime
from decimal import Decimal, InvalidOperation
from typing import TYPE_CHECKING, Any

from connectors.sandbox.salesforce.schema import SCHEMA, STAGES, FieldDef, ObjectDef

if TYPE_CHECKING:
    from connectors.sandbox.core import Sandbox

__all__ = ["RecordError", "SalesforceOrg", "case_safe_id"]

_BASE62 = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
_SUFFIX = "ABCDEFGHIJKLMNOPQRSTUVWXYZ012345"
_ID = re.compile(r"^[A-Za-z0-9]{15}(?:[A-Za-z0-9]{3})?$")
_SYSTEM_FIELDS = ("CreatedDate", "LastModifiedDate", "SystemModstamp")


class RecordError(Exception):
    """A write Salesforce would refuse: ``code``, message and the fields concerned."""

    def __init__(self, code: str, message: str, fields: Iterable[str] = ()) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.fields = list(fields)

    def as_error(self) -> dict[str, Any]:
        return {"statusCode": self.code, "message": self.message, "fields": self.fields}


def case_safe_id(id15: str) -> str:
    """The 18-character id: the 15-character one plus its case-safety checksum."""
    suffix = ""
    for chunk in (id15[0:5], id15[5:10], id15[10:15]):
        bits = sum(1 << i for i, ch in enumerate(chunk) if ch.isupper())
        suffix += _SUFFIX[bits]
    return id15 + suffix


def _base62(n: int, width: int) -> str:
    out = ""
    while n:
        n, r = divmod(n, 62)
        out = _BASE62[r] + out
    return out.rjust(width, "0")


def _ms(value: datetime) -> datetime:
    return value.astimezone(UTC).replace(microsecond=(value.microsecond // 1000) * 1000)


class SalesforceOrg:
    """The org: one dict of records per sObject, guarded by the sandbox lock."""

    def __init__(self, sandbox: Sandbox) -> None:
        self.sandbox = sandbox
        self.schema = SCHEMA
        self._rows: dict[str, dict[str, dict[str, Any]]] = {
            o: {} for o in ("Opportunity", "Account")
        }
        self._counter = itertools.count(1)

    # --- ids and lookups ---------------------------------------------------------------

    def _new_id(self, obj: ObjectDef) -> str:
        return case_safe_id(obj.key_prefix + "5g" + _base62(next(self._counter), 10))

    def _object(self, sobject: str) -> ObjectDef:
        obj = self.schema.object(sobject)
        if obj is None:
            raise RecordError("INVALID_TYPE", f"sObject type '{sobject}' is not supported.")
        return obj

    def normalise_id(self, sobject: str, record_id: str) -> str:
        """An 18-character id for a well-formed 15/18-character id of ``sobject``."""
        obj = self._object(sobject)
        if not _ID.match(record_id) or not record_id.startswith(obj.key_prefix):
            raise RecordError(
                "MALFORMED_ID", f"{obj.name} ID: id value of incorrect type: {record_id}", ["Id"]
            )
        return case_safe_id(record_id[:15])

    def table(self, sobject: str) -> dict[str, dict[str, Any]]:
        return self._rows[self._object(sobject).name]

    def get(self, sobject: str, record_id: str) -> dict[str, Any] | None:
        """The record (deleted ones included), or None."""
        try:
            key = self.normalise_id(sobject, record_id)
        except RecordError:
            return None
        return self.table(sobject).get(key)

    def records(self, sobject: str, include_deleted: bool = False) -> list[dict[str, Any]]:
        """Every record of ``sobject`` (soft-deleted ones only if asked)."""
        with self.sandbox.lock:
            rows = self.table(sobject).values()
            return [r for r in rows if include_deleted or not r["IsDeleted"]]

    def count(self, sobject: str = "Opportunity", include_deleted: bool = False) -> int:
        """How many records ``sobject`` has."""
        with self.sandbox.lock:
            rows = self.table(sobject).values()
            return sum(1 for r in rows if include_deleted or not r["IsDeleted"])

    def find_by(self, sobject: str, field: str, value: Any) -> list[dict[str, Any]]:
        """Live records whose ``field`` equals ``value`` (external id lookups)."""
        rows = self.table(sobject).values()
        return [r for r in rows if not r["IsDeleted"] and r.get(field) == value]

    # --- Python API (seeder, tests): no HTTP, no faults ----------------------------------

    def insert(self, sobject: str, fields: Mapping[str, Any]) -> str:
        """Create a record from typed values; system timestamps may be given (seeding)."""
        return self.insert_many(sobject, [fields])[0]

    def insert_many(self, sobject: str, rows: Iterable[Mapping[str, Any]]) -> list[str]:
        """Create many records fast (seeding); returns their ids in order."""
        obj = self._object(sobject)
        table = self._rows[obj.name]
        template: dict[str, Any] = {f.name: None for f in obj.fields}
        template["IsDeleted"] = False
        ids: list[str] = []
        with self.sandbox.lock:
            now = _ms(self.sandbox.now())
            for fields in rows:
                record = dict(template)
                for key, value in fields.items():
                    spec = obj.get(key)
                    if spec is None:
                        raise KeyError(f"{obj.name} has no field {key!r}")
                    record[spec.name] = _store(spec, value)
                record["Id"] = self._new_id(obj)
                for name in _SYSTEM_FIELDS:
                    record[name] = _ms(record[name]) if record[name] else now
                _derive(obj, record)
                table[record["Id"]] = record
                ids.append(record["Id"])
        return ids

    def update(self, sobject: str, record_id: str, fields: Mapping[str, Any]) -> None:
        """Change a record like an API write (timestamps bumped), without validation."""
        obj = self._object(sobject)
        with self.sandbox.lock:
            record = self.table(sobject)[self.normalise_id(sobject, record_id)]
            for key, value in fields.items():
                spec = obj.get(key)
                if spec is None:
                    raise KeyError(f"{obj.name} has no field {key!r}")
                record[spec.name] = _store(spec, value)
            self._touch(obj, record)

    def delete(self, sobject: str, record_id: str) -> None:
        """Soft-delete a record (to the recycle bin)."""
        with self.sandbox.lock:
            record = self.table(sobject)[self.normalise_id(sobject, record_id)]
            record["IsDeleted"] = True
            self._touch(self._object(sobject), record)

    def _touch(self, obj: ObjectDef, record: dict[str, Any]) -> None:
        now = _ms(self.sandbox.now())
        record["LastModifiedDate"] = record["SystemModstamp"] = now
        _derive(obj, record)

    # --- API writes: validated like Salesforce -----------------------------------------

    def write(self, sobject: str, record_id: str | None, body: Mapping[str, Any]) -> str:
        """Create (``record_id`` None) or update from a JSON body; :class:`RecordError`."""
        obj = self._object(sobject)
        values = self.validate(obj, body, creating=record_id is None)
        if self.sandbox.faults.draw_lock():
            raise RecordError(
                "UNABLE_TO_LOCK_ROW",
                f"unable to obtain exclusive access to this record or 1 records: "
                f"{record_id or 'new'}",
            )
        with self.sandbox.lock:
            if record_id is None:
                return self.insert(obj.name, values)
            key = self.normalise_id(obj.name, record_id)
            record = self._rows[obj.name].get(key)
            if record is None:
                raise RecordError("NOT_FOUND", "The requested resource does not exist")
            if record["IsDeleted"]:
                raise RecordError("ENTITY_IS_DELETED", "entity is deleted")
            record.update(values)
            self._touch(obj, record)
            return key

    def api_delete(self, sobject: str, record_id: str) -> None:
        """DELETE through the API: refused for unknown or already deleted records."""
        key = self.normalise_id(sobject, record_id)
        if self.sandbox.faults.draw_lock():
            raise RecordError(
                "UNABLE_TO_LOCK_ROW",
                f"unable to obtain exclusive access to this record or 1 records: {key}",
            )
        with self.sandbox.lock:
            record = self.table(sobject).get(key)
            if record is None:
                raise RecordError("NOT_FOUND", "The requested resource does not exist")
            if record["IsDeleted"]:
                raise RecordError("ENTITY_IS_DELETED", "entity is deleted")
            record["IsDeleted"] = True
            self._touch(self._object(sobject), record)

    def validate(
        self, obj: ObjectDef, body: Mapping[str, Any], *, creating: bool
    ) -> dict[str, Any]:
        """Typed values from a JSON body, or :class:`RecordError` as Salesforce words it."""
        values: dict[str, Any] = {}
        for key, raw in body.items():
            if key == "attributes" or (key.casefold() == "id" and not creating):
                continue
            spec = obj.get(key)
            if spec is None:
                raise RecordError(
                    "INVALID_FIELD", f"No such column '{key}' on sobject of type {obj.name}", [key]
                )
            if not (spec.createable if creating else spec.updateable):
                raise RecordError(
                    "INVALID_FIELD_FOR_INSERT_UPDATE",
                    f"Unable to create/update fields: {spec.name}. Please check the security "
                    "settings of this field and verify that it is read/write for your profile "
                    "or permission set.",
                    [spec.name],
                )
            values[spec.name] = self._check(obj, spec, raw)
        if creating:
            missing = [f.name for f in obj.fields if f.required and values.get(f.name) is None]
            if missing:
                raise RecordError(
                    "REQUIRED_FIELD_MISSING",
                    f"Required fields are missing: [{', '.join(missing)}]",
                    missing,
                )
        else:
            nulled = [
                f.name
                for f in obj.fields
                if f.required and f.name in values and values[f.name] is None
            ]
            if nulled:
                raise RecordError(
                    "REQUIRED_FIELD_MISSING",
                    f"Required fields are missing: [{', '.join(nulled)}]",
                    nulled,
                )
        return values

    def _check(self, obj: ObjectDef, spec: FieldDef, raw: Any) -> Any:
        if raw is None:
            return None
        bad = RecordError(
            "INVALID_TYPE_ON_FIELD_IN_RECORD",
            f"{spec.label or spec.name}: value not of required type: {raw}",
            [spec.name],
        )
        kind = spec.type
        if kind in ("currency", "double", "percent", "int"):
            if isinstance(raw, bool):
                raise bad
            try:
                number = Decimal(str(raw))
            except InvalidOperation:
                raise bad from None
            if not number.is_finite():
                raise bad
            return int(number) if kind == "int" else float(number)
        if kind == "boolean":
            if not isinstance(raw, bool):
                raise bad
            return raw
        if kind == "date":
            try:
                return date.fromisoformat(str(raw))
            except ValueError:
                raise bad from None
        if kind == "datetime":
            try:
                moment = datetime.fromisoformat(str(raw).replace("Z", "+00:00"))
            except ValueError:
                raise bad from None
            return _ms(moment if moment.tzinfo else moment.replace(tzinfo=UTC))
        if not isinstance(raw, str):
            raise bad
        if kind == "picklist" and spec.restricted and raw not in spec.picklist:
            raise RecordError(
                "INVALID_OR_NULL_FOR_RESTRICTED_PICKLIST",
                f"{spec.label or spec.name}: bad value for restricted picklist field: {raw}",
                [spec.name],
            )
        if kind == "reference" and spec.reference_to:
            target = self.get(spec.reference_to, raw)
            if target is None:
                if not _ID.match(raw):
                    raise RecordError(
                        "MALFORMED_ID",
                        f"{spec.name}: id value of incorrect type: {raw}",
                        [spec.name],
                    )
                raise RecordError(
                    "INVALID_CROSS_REFERENCE_KEY", f"invalid cross reference id: {raw}", [spec.name]
                )
            return target["Id"]
        if spec.length and len(raw) > spec.length:
            raise RecordError(
                "STRING_TOO_LONG",
                f"{spec.name}: data value too large: {raw[:40]} (max length={spec.length})",
                [spec.name],
            )
        return raw

    def iter_rows(self, sobject: str) -> Iterator[dict[str, Any]]:
        return iter(list(self.table(sobject).values()))


def _store(spec: FieldDef, value: Any) -> Any:
    """A Python value as the org keeps it (numbers as float, instants at milliseconds)."""
    if value is None:
        return None
    if spec.type in ("currency", "double", "percent") and isinstance(value, Decimal | int):
        return float(value)
    if spec.type == "datetime" and isinstance(value, datetime):
        return _ms(value)
    return value


def _derive(obj: ObjectDef, record: dict[str, Any]) -> None:
    """IsClosed / IsWon / Probability follow StageName, as OpportunityStage defines."""
    if obj.name == "Opportunity":
        closed, won, probability = STAGES.get(record.get("StageName") or "", (False, False, 0))
        record["IsClosed"], record["IsWon"] = closed, won
        if record.get("Probability") is None:
            record["Probability"] = float(probability)
