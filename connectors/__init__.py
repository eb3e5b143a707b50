"""The CRM port (``connectors.base``) and its adapters; nothing here imports partnersync.

:func:`id_aliases` answers, without a connector, in which forms a CRM writes a record id
(for matching a partner's account id against what deals hold)."""

from __future__ import annotations

from connectors import salesforce_wire

__all__ = ["id_aliases"]


def id_aliases(crm: str, record_id: str) -> tuple[str, ...]:
    """Every form in which ``crm`` writes ``record_id``, ``record_id`` first."""
    if crm == salesforce_wire.CRM:
        return salesforce_wire.id_aliases(record_id)
    return (record_id,)
