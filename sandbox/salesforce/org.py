"""The sandbox's in-memory Salesforce org: its tables, and the Python API over them.

The Python API (:meth:`SalesforceOrg.insert`, :meth:`~SalesforceOrg.insert_many`,
:meth:`~SalesforceOrg.get`, :meth:`~SalesforceOrg.update`, :meth:`~SalesforceOrg.delete`,
:meth:`~SalesforceOrg.count`, :meth:`~SalesforceOrg.records`) is for the seeder and for
tests: it bypasses HTTP, API validation and injected faults, takes typed Python values
(``str``; ``int``/``float``/``Decimal`` for numbers; ``date``; UTC-aware ``datetime``;
``bool``; ``None``) and raises ``KeyError`` for unknown objects, fields or records and
``TypeError``/``ValueError`` for values of the wrong type. It may therefore set up states
the API refuses (a duplicate external id, a restricted picklist's stale value), which is
how tests provoke those answers. API writes go through :meth:`SalesforceOrg.batch`.

Every write keeps ``LastModifiedDate`` and ``SystemModstamp`` (UTC, milliseconds) and the
derived fields (IsClosed, IsWon, ...); deletes are soft, to the recycle bin, so queryAll
and ``deleted/`` still see them. Each method holds the sandbox lock.

Creates and updates of Opportunities (API writes, :meth:`~SalesforceOrg.insert` and
:meth:`~SalesforceOrg.update`; not :meth:`~SalesforceOrg.insert_many`, the seeding path)
queue an Outbound Message when ``salesforce_outbound_url`` is set (:meth:`notify`).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import datetime
from typing import TYPE_CHECKING, Any

from sandbox.salesforce.errors import RecordError
from sandbox.salesforce.ids import parse_id
from sandbox.salesforce.objects import SCHEMA
from sandbox.salesforce.schema import OrgSchema, Row
from sandbox.salesforce.table import Table
from sandbox.salesforce.values import millis
from sandbox.salesforce.writes import WriteBatch

if TYPE_CHECKING:
    from sandbox.core import Sandbox

__all__ = ["SalesforceOrg"]


class SalesforceOrg:
    """Opportunity, Account and User records of one sandbox, and their metadata.

    Attributes: ``schema`` (the :class:`~.schema.OrgSchema`, also the SOQL engine's
    ``Schema``), ``sandbox`` (clock, lock, faults) and ``created_at`` (the org's creation
    instant, the earliest date ``deleted/`` covers, as nothing is ever purged).
    """

    def __init__(self, sandbox: Sandbox) -> None:
        self.sandbox = sandbox
        self.schema: OrgSchema = SCHEMA
        self._tables = {obj.name: Table(obj) for obj in SCHEMA.objects}
        self.created_at: datetime = millis(sandbox.now())
        self._add_users()

    def _add_users(self) -> None:
        """The org's users (:data:`sandbox.users.SALESFORCE_USERS`), with their fixed ids."""
        from sandbox.users import SALESFORCE_USERS

        table = self._tables["User"]
        for user in SALESFORCE_USERS:
            row = table.python_row(
                {"Name": user.name, "Username": user.username, "IsActive": True},
                self.created_at,
            )
            row[table.ID] = user.id
            table.add(row)

    def table(self, sobject: str) -> Table:
        """The table of ``sobject`` (any case); ``INVALID_TYPE`` if the org has no such object."""
        obj = self.schema.object(sobject)
        if obj is None:
            raise RecordError("INVALID_TYPE", f"sObject type '{sobject}' is not supported.")
        return self._tables[obj.name]

    def _table(self, sobject: str) -> Table:
        try:
            return self.table(sobject)
        except RecordError:
            raise KeyError(f"the sandbox org has no sObject {sobject!r}") from None

    def _row(self, table: Table, record_id: str) -> Row:
        canonical = parse_id(record_id)
        row = table.get(canonical) if canonical else None
        if row is None:
            raise KeyError(f"no {table.obj.name} with id {record_id!r}")
        return row

    # --- Python API: reads ---------------------------------------------------------------

    def get(self, sobject: str, record_id: str) -> dict[str, Any] | None:
        """A copy of the record (15- or 18-character id; soft-deleted ones too), or None."""
        with self.sandbox.lock:
            table = self._table(sobject)
            canonical = parse_id(record_id)
            row = table.get(canonical) if canonical else None
            return None if row is None else table.as_dict(row)

    def count(self, sobject: str = "Opportunity", include_deleted: bool = False) -> int:
        """How many records ``sobject`` has (soft-deleted ones only if ``include_deleted``)."""
        with self.sandbox.lock:
            return self._table(sobject).count(include_deleted)

    def records(self, sobject: str, include_deleted: bool = False) -> list[dict[str, Any]]:
        """Copies of every record of ``sobject`` in creation order (for tests and the demo)."""
        with self.sandbox.lock:
            table = self._table(sobject)
            rows = table.everything() if include_deleted else table.live()
            return [table.as_dict(row) for row in rows]

    # --- Python API: writes --------------------------------------------------------------

    def insert(self, sobject: str, fields: Mapping[str, Any]) -> str:
        """Create one record; returns its 18-character id.

        ``CreatedDate`` / ``LastModifiedDate`` / ``SystemModstamp`` may be given (the seeder
        spreads them over two years); when missing, CreatedDate is now, LastModifiedDate
        the created instant and SystemModstamp the last-modified one.
        """
        with self.sandbox.lock:
            record_id = self.insert_many(sobject, (fields,))[0]
            table = self._table(sobject)
            self.notify(table, self._row(table, record_id))
            return record_id

    def insert_many(self, sobject: str, rows: Iterable[Mapping[str, Any]]) -> list[str]:
        """Create many records at once; returns their ids in order (seeding: about 100,000
        Opportunities a second).

        Same rules as :meth:`insert`; rows sharing the same keys share one conversion plan.
        Nothing is stored if any row is refused.
        """
        with self.sandbox.lock:
            table = self._table(sobject)
            now = millis(self.sandbox.now())
            built = [table.python_row(fields, now) for fields in rows]
            for row in built:
                table.add(row)
                if row[table.CREATED] < self.created_at:
                    self.created_at = row[table.CREATED]
            return [row[table.ID] for row in built]

    def update(self, sobject: str, record_id: str, fields: Mapping[str, Any]) -> None:
        """Change a record like an API write: LastModifiedDate and SystemModstamp become now
        (unless ``fields`` sets them) and derived fields follow."""
        with self.sandbox.lock:
            table = self._table(sobject)
            row = self._row(table, record_id)
            values, given = table.python_values(fields)
            table.change(row, values)
            table.touch(row, millis(self.sandbox.now()), given)
            self.notify(table, row)

    def delete(self, sobject: str, record_id: str) -> None:
        """Soft-delete a record (to the recycle bin: IsDeleted, timestamps now); a record
        already deleted is left as it is."""
        with self.sandbox.lock:
            table = self._table(sobject)
            row = self._row(table, record_id)
            if not row[table.IS_DELETED]:
                table.change(row, {table.IS_DELETED: True})
                table.touch(row, millis(self.sandbox.now()))

    def notify(self, table: Table, row: Row) -> None:
        """Queue the Outbound Message of an Opportunity created or updated (nothing
        without an outbound URL, nor for other objects: the action is on Opportunity)."""
        webhooks = self.sandbox.webhooks
        if table.obj.name == "Opportunity" and webhooks.wanted("salesforce"):
            webhooks.salesforce_change(table.obj.name, table.as_dict(row))

    # --- API writes ----------------------------------------------------------------------

    def batch(self, *, collection: bool = False) -> WriteBatch:
        """A :class:`~.writes.WriteBatch` for the writes of one API call; hold
        ``sandbox.lock`` from planning to commit."""
        return WriteBatch(self, collection=collection)
