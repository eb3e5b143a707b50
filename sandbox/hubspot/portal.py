"""The in-memory HubSpot portal: deals and companies, their properties and associations.

:class:`HubSpotPortal` is the state behind the HubSpot routes and, through the methods
documented below, the Python API of the seeder and of tests (no HTTP involved):

- :meth:`~HubSpotPortal.create` / :meth:`~HubSpotPortal.create_many` add records (the
  latter is the seeding fast path and may set ``createdate`` / ``hs_lastmodifieddate``);
- :meth:`~HubSpotPortal.update` and :meth:`~HubSpotPortal.archive` write like API calls
  (``hs_lastmodifieddate`` moves to the sandbox clock's now); ``update(..., by_user=)``
  plays a person editing the record in HubSpot's UI (``hs_updated_by_user_id``);
- :meth:`~HubSpotPortal.get`, :meth:`~HubSpotPortal.count`,
  :meth:`~HubSpotPortal.schema` and :meth:`~HubSpotPortal.property` read;
- :meth:`~HubSpotPortal.associate` links a deal to a company.

Every operation holds ``sandbox.lock`` so HTTP handlers and Python callers in other threads
never see half a write. Refusals raise :class:`PortalError` with the status and body the
real API would answer. Ids are numeric strings from one counter shared by both object
types, so an id names exactly one object. Only the HTTP API's writes go to the sandbox's
write journal (the endpoint modules call :meth:`~HubSpotPortal.journal`), never the
Python API's. Changes to deals, through either, queue webhook events
(:meth:`~HubSpotPortal.notify`; ``create_many``, the seeding path, does not); records
seeded by ``create_many`` are in the search index at once, other writes only after
``search_lag_seconds``.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import datetime
from typing import TYPE_CHECKING, Any

from sandbox.core import WriteAction, WriteEvent
from sandbox.hubspot.associations import AssociationStore
from sandbox.hubspot.catalog import default_schemas
from sandbox.hubspot.errors import (
    PortalError,
    bad_request,
    conflict,
    invalid_properties,
    not_found,
    object_missing,
)
from sandbox.hubspot.lag import IndexLag
from sandbox.hubspot.records import ObjectTable, Projection, Row, Written
from sandbox.hubspot.schema import OBJECT_TYPES, ObjectSchema, PropertyDef, Source
from sandbox.hubspot.search import SearchCache
from sandbox.hubspot.values import to_ms
from sandbox.webhooks.hubspot import ChangeSource

if TYPE_CHECKING:
    from sandbox.core import Sandbox

__all__ = ["FIRST_ID", "HubSpotPortal", "PortalError"]

#: The id of the first object created in a portal.
FIRST_ID = 1001
#: Standard HubSpot object types the sandbox does not emulate: its app has no scope for
#: them, so the API answers 403 MISSING_SCOPES, as HubSpot does for an unscoped app.
UNSCOPED = {
    "contacts": "crm.objects.contacts.read",
    "0-1": "crm.objects.contacts.read",
    "tickets": "tickets",
    "0-5": "tickets",
    "line_items": "crm.objects.line_items.read",
    "0-8": "crm.objects.line_items.read",
    "products": "crm.objects.products.read",
    "0-7": "crm.objects.products.read",
    "quotes": "crm.objects.quotes.read",
    "0-14": "crm.objects.quotes.read",
}


class HubSpotPortal:
    """One HubSpot account: deals, companies, their property definitions and links."""

    def __init__(self, sandbox: Sandbox) -> None:
        self.sandbox = sandbox
        self.lock = sandbox.lock
        now = self.now_ms()
        self._tables = {name: ObjectTable(schema) for name, schema in default_schemas(now).items()}
        for table in self._tables.values():
            table.lag = IndexLag(
                lambda: sandbox.config.search_lag_seconds, lambda: sandbox.monotonic()
            )
        #: Deal/company associations.
        self.links = AssociationStore()
        #: Sorted matches of recent searches.
        self.searches = SearchCache()
        self._next_id = FIRST_ID

    # --- plumbing shared by the endpoint modules --------------------------------------

    def now_ms(self) -> int:
        """The sandbox clock in epoch milliseconds."""
        return to_ms(self.sandbox.now())

    def known_type(self, name: str) -> str | None:
        """The emulated object type a path segment names (``deals``, ``0-3`` ...), if any."""
        return OBJECT_TYPES.get(name.lower())

    def object_type(self, name: str) -> str:
        """Like :meth:`known_type`, but 403 for unscoped standard types and 400 otherwise."""
        found = self.known_type(name)
        if found is not None:
            return found
        scope = UNSCOPED.get(name.lower())
        if scope is not None:
            raise PortalError(
                403,
                "MISSING_SCOPES",
                "This app hasn't been granted all required scopes to make this call. "
                "Read more about required scopes here: https://developers.hubspot.com/scopes.",
                errors=[
                    {
                        "message": "One or more of the following scopes are required.",
                        "context": {"requiredGranularScopes": [scope]},
                    }
                ],
                links={"scopes": "https://developers.hubspot.com/scopes"},
            )
        raise bad_request(f"Unable to infer object type from: {name}")

    def table(self, object_type: str) -> ObjectTable:
        """The records of an object type (any name :meth:`object_type` accepts)."""
        return self._tables[self.object_type(object_type)]

    def new_id(self) -> int:
        """The next object id (callers hold the lock)."""
        value = self._next_id
        self._next_id += 1
        return value

    def check(
        self, table: ObjectTable, properties: Mapping[str, object], *, trusted: bool = False
    ) -> tuple[Written, dict[Source, int]]:
        """Coerce a write's properties, or raise the 400 / 409 HubSpot would answer."""
        written, stamps, issues = table.plan(trusted=trusted).check(properties)
        if issues:
            raise invalid_properties(issues)
        return written, stamps

    def ensure_unique(self, table: ObjectTable, written: Written, row_id: int | None) -> None:
        """409 CONFLICT when a unique value of ``written`` belongs to another object."""
        clashes = table.conflicts(written, row_id)
        if clashes:
            prop, value, holder = clashes[0]
            raise conflict(
                f"{table.schema.singular} {holder} already has value {value} for unique "
                f"property {prop.name}",
                context={"id": [str(holder)], "propertyName": [prop.name]},
            )

    def insert(
        self,
        table: ObjectTable,
        written: Written,
        stamps: Mapping[Source, int],
        now: int,
        *,
        lagged: bool = True,
    ) -> Row:
        """A new record; ``createdate`` / ``hs_lastmodifieddate`` default to ``now``.
        Search sees it after the index lag unless ``lagged`` is False (seeding)."""
        created = stamps.get(Source.CREATED, now)
        updated = stamps.get(Source.UPDATED, max(now, created))
        return table.insert(self.new_id(), written, created, max(updated, created), lagged=lagged)

    def apply(
        self,
        table: ObjectTable,
        row: Row,
        written: Written,
        stamps: Mapping[Source, int],
        *,
        by_user: int | None = None,
    ) -> None:
        """Write checked values into a live record; ``hs_lastmodifieddate`` becomes now and
        ``hs_updated_by_user_id`` ``by_user`` (blank for API writes, as for a private app)."""
        table.apply(
            row,
            written,
            self.now_ms(),
            stamps.get(Source.CREATED),
            updated_by=None if by_user is None else str(by_user),
        )

    def journal(
        self, action: WriteAction, table: ObjectTable, row: Row, values: Mapping[str, Any]
    ) -> None:
        """Add one API write of a record to the sandbox's write journal (``values``: the
        properties as the request gave them)."""
        event = WriteEvent(
            "hubspot", table.schema.name, str(row.id), dict(values), self.sandbox.now(), action
        )
        self.sandbox.journal.extend((event,))
        self.notify(action, table, row, values, source="API")

    def notify(
        self,
        action: WriteAction,
        table: ObjectTable,
        row: Row,
        values: Mapping[str, Any],
        *,
        source: ChangeSource,
    ) -> None:
        """Queue the webhook events of a change to a deal (nothing without a webhook URL;
        ``values``: the properties written, whose new values the events carry)."""
        webhooks = self.sandbox.webhooks
        if table.schema.name != "deals" or not webhooks.wanted("hubspot"):
            return
        names = [name for name in values if table.schema.get(name) is not None]
        written = Projection(table, names).properties(row)[0] if action == "update" else {}
        webhooks.hubspot_change(
            action,
            str(row.id),
            {name: written.get(name) for name in names},
            self.now_ms(),
            source,
        )

    def render(self, table: ObjectTable, row: Row, names: Iterable[str]) -> dict[str, Any]:
        """The wire object of a row with the given properties (plus the always-on three)."""
        return Projection(table, names).render(row)

    # --- Python API ---------------------------------------------------------------------

    def create(
        self,
        object_type: str,
        properties: Mapping[str, str | None],
        *,
        created_at: datetime | None = None,
        updated_at: datetime | None = None,
    ) -> str:
        """Create one record and return its id.

        ``properties`` are checked like an API write (400 / 409 as :class:`PortalError`),
        except that ``hs_lastmodifieddate`` and ``hs_updated_by_user_id`` may be given too.
        ``created_at`` defaults to the sandbox clock's now, ``updated_at`` to
        ``created_at``.
        """
        with self.lock:
            table = self.table(object_type)
            written, stamps = self.check(table, properties, trusted=True)
            self.ensure_unique(table, written, None)
            if created_at is not None:
                stamps[Source.CREATED] = to_ms(created_at)
            if updated_at is not None:
                stamps[Source.UPDATED] = to_ms(updated_at)
            now = stamps.get(Source.CREATED, self.now_ms())
            row = self.insert(table, written, stamps, now)
            self.notify("create", table, row, properties, source="CRM_UI")
            return str(row.id)

    def create_many(self, object_type: str, rows: Iterable[Mapping[str, str | None]]) -> list[str]:
        """Create records in bulk (the seeder's fast path); their ids, in input order.

        Rows may carry ``createdate`` / ``hs_lastmodifieddate``; without them a record is
        created and modified now. A refused row raises :class:`PortalError` naming its
        index; the rows before it stay created.
        """
        with self.lock:
            table = self.table(object_type)
            plan = table.plan(trusted=True)
            now = self.now_ms()
            ids: list[str] = []
            for index, row in enumerate(rows):
                written, stamps, issues = plan.check(row)
                if issues:
                    error = invalid_properties(issues)
                    error.message = f"row {index}: {error.message}"
                    raise error
                if table.conflicts(written, None):
                    self.ensure_unique(table, written, None)
                ids.append(str(self.insert(table, written, stamps, now, lagged=False).id))
            for order in table.by_time.values():
                order.warm()
            return ids

    def associate(self, deal_id: str, company_id: str, *, primary: bool = True) -> None:
        """Associate a deal with a company (primary by default: 341 + 5 / 342 + 6).

        Both must exist and be live, else 404 :class:`PortalError`. A new primary company
        demotes the deal's previous one.
        """
        with self.lock:
            deal = self._tables["deals"].find(str(deal_id))
            company = self._tables["companies"].find(str(company_id))
            if deal is None or company is None:
                missing = deal_id if deal is None else company_id
                raise not_found(f"No live object with id {missing}.")
            self.links.link(deal.id, company.id, primary=primary)

    def get(self, object_type: str, object_id: str) -> dict[str, Any] | None:
        """A record as the API shows it, with every property (``None`` when unset).

        Archived records are returned too (``archived: true``); ``None`` for unknown ids.
        """
        with self.lock:
            table = self.table(object_type)
            row = table.find(str(object_id), archived=None)
            if row is None:
                return None
            return self.render(table, row, [p.name for p in table.schema])

    def update(
        self,
        object_type: str,
        object_id: str,
        properties: Mapping[str, str | None],
        *,
        by_user: int | None = None,
    ) -> dict[str, Any]:
        """Write properties of a live record like a PATCH; returns the updated record.

        ``hs_lastmodifieddate`` becomes the sandbox clock's now; ``hs_updated_by_user_id``
        becomes ``str(by_user)``, or blank when None (what an API write leaves): pass a
        user id to play a sales rep editing the record in HubSpot's UI. Unknown id: 404;
        invalid values: 400; duplicate unique value: 409 (all :class:`PortalError`).
        """
        with self.lock:
            table = self.table(object_type)
            row = table.find(str(object_id))
            if row is None:
                raise object_missing(str(object_id))
            written, stamps = self.check(table, properties)
            self.ensure_unique(table, written, row.id)
            self.apply(table, row, written, stamps, by_user=by_user)
            self.notify("update", table, row, properties, source="CRM_UI")
            return self.render(table, row, [p.name for p in table.schema])

    def archive(self, object_type: str, object_id: str) -> None:
        """Archive a record (it leaves listings and searches; ``archived=true`` lists it).

        Archiving an archived record does nothing; an unknown id is a 404.
        """
        with self.lock:
            table = self.table(object_type)
            row = table.find(str(object_id), archived=None)
            if row is None:
                raise object_missing(str(object_id))
            if row.archived_at is None:
                table.archive(row, self.now_ms())
                self.notify("delete", table, row, {}, source="CRM_UI")

    def count(self, object_type: str = "deals", archived: bool = False) -> int:
        """How many live (or, with ``archived``, archived) records of a type exist."""
        with self.lock:
            return self.table(object_type).count(archived=archived)

    def schema(self, object_type: str = "deals") -> ObjectSchema:
        """The property definitions of a type (iterate for the live ones)."""
        return self.table(object_type).schema

    def property(self, object_type: str, name: str) -> PropertyDef | None:
        """One live property definition, or ``None``."""
        return self.table(object_type).schema.get(name)
