"""Records as the REST API writes them: ``attributes``, wire values, nested relationships.

A :class:`RecordRenderer` is built once per select list (per query cursor, per GET) and then
called per row. Query pages render up to 2,000 rows per call, so the per-row work is kept
in C where possible: one ``itemgetter`` fetches every selected slot, ``dict.update(zip())``
lays the values out in SELECT order, and only datetimes and relationships are then
replaced in place (a dict keeps a key's position when its value changes). Relationship
paths (``Account.Name``) become a nested object with its own ``attributes``, or ``null``
when the reference is empty or points to a deleted record, as in Salesforce.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from operator import itemgetter
from typing import TYPE_CHECKING, Any

from sandbox.salesforce.errors import RecordError
from sandbox.salesforce.schema import FieldPath, Row
from sandbox.salesforce.values import wire_datetime

if TYPE_CHECKING:
    from sandbox.salesforce.org import SalesforceOrg
    from sandbox.salesforce.table import Table

__all__ = ["RecordRenderer", "sobject_url"]

Render = Callable[[Row], dict[str, Any]]


def sobject_url(version: str, sobject: str, record_id: str = "") -> str:
    """``/services/data/v59.0/sobjects/Opportunity/006...`` (the record's REST URL)."""
    return f"/services/data/v{version}/sobjects/{sobject}/{record_id}"


def _fetch(slots: Sequence[int]) -> Callable[[Row], Sequence[Any]]:
    """All values at ``slots`` of a row, as one sequence."""
    if len(slots) < 2:  # itemgetter needs one slot to return a tuple, two in fact
        picked = tuple(slots)
        return lambda row: tuple(row[slot] for slot in picked)
    return itemgetter(*slots)


class _Layout:
    """Wire keys, their slots, and which keys need a conversion after the copy."""

    def __init__(self) -> None:
        self.names: list[str] = []
        self.slots: list[int] = []
        self.instants: list[str] = []
        self.nested: list[tuple[str, Callable[[Any], Any]]] = []

    def add(self, name: str, slot: int) -> None:
        self.names.append(name)
        self.slots.append(slot)

    def build(self, sobject: str, prefix: str, id_slot: int) -> Render:
        names, fetch = tuple(self.names), _fetch(self.slots)
        instants, nested = tuple(self.instants), tuple(self.nested)

        def render(row: Row) -> dict[str, Any]:
            out: dict[str, Any] = {"attributes": {"type": sobject, "url": prefix + row[id_slot]}}
            out.update(zip(names, fetch(row), strict=True))
            for name in instants:
                value = out[name]
                if value is not None:
                    out[name] = wire_datetime(value)
            for name, related in nested:
                out[name] = related(out[name])
            return out

        return render


def _plain(table: Table, names: Sequence[str], layout: _Layout) -> None:
    for name in names:
        spec = table.obj.get(name)
        if spec is None:
            raise RecordError(
                "INVALID_FIELD", f"No such column '{name}' on entity '{table.obj.name}'"
            )
        layout.add(spec.name, table.slots[spec.name])
        if spec.type == "datetime":
            layout.instants.append(spec.name)


def _related(target: Table, names: Sequence[str], version: str) -> Callable[[Any], Any]:
    """Renders the record a reference points to (``None`` when empty or deleted)."""
    layout = _Layout()
    _plain(target, names, layout)
    render = layout.build(target.obj.name, sobject_url(version, target.obj.name), target.ID)
    rows, deleted = target.rows, target.IS_DELETED

    def related(record_id: Any) -> dict[str, Any] | None:
        row = rows.get(record_id)
        return None if row is None or row[deleted] else render(row)

    return related


class RecordRenderer:
    """Renders rows of one sObject for a list of canonical field paths (SELECT order)."""

    def __init__(
        self, org: SalesforceOrg, sobject: str, paths: Sequence[FieldPath], version: str
    ) -> None:
        table = org.table(sobject)
        self.sobject = table.obj.name
        layout = _Layout()
        relations: dict[str, tuple[str, str, list[str]]] = {}  # path[0] -> key, target, names
        for path in paths:
            if len(path) == 1:
                _plain(table, path, layout)
                continue
            if path[0] not in relations:
                reference = table.obj.relationship(path[0])
                if reference is None or not (
                    reference.relationship_name and reference.reference_to
                ):
                    raise RecordError(
                        "INVALID_FIELD", f"No such relationship '{path[0]}' on {self.sobject}"
                    )
                relations[path[0]] = (reference.relationship_name, reference.reference_to, [])
                layout.add(reference.relationship_name, table.slots[reference.name])
            relations[path[0]][2].append(path[1])
        for key, target, names in relations.values():
            layout.nested.append((key, _related(org.table(target), names, version)))
        self._render = layout.build(self.sobject, sobject_url(version, self.sobject), table.ID)

    def __call__(self, row: Row) -> dict[str, Any]:
        """The wire form of ``row``."""
        return self._render(row)
