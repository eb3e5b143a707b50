"""The mirror's handlers: each page's changes, in the page's transaction (SQLite and
PostgreSQL, real clients against the sandbox)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from sandbox import Sandbox, SandboxServer
from sync.audit import record
from sync.mirror.handlers import PageChanges
from sync.mirror.pull import pull
from sync.store import AuditEntity, AuditEntry, Opportunity, SyncState
from tests.sync.links import LINKS, mirrored

OBJECT = {"salesforce": "Opportunity", "hubspot": "deals"}
AMOUNT = {"salesforce": "Amount", "hubspot": "amount"}


@dataclass
class Recorder:
    """A handler that notes what it saw, and what its own session saw, on each call."""

    name: str = "recorder"
    before: frozenset[str] = frozenset({"amount"})
    calls: list[dict[str, Any]] = field(default_factory=list)

    def __call__(self, session: Session, changes: PageChanges) -> Mapping[str, int]:
        ids = changes.opportunity_ids(session)
        in_store = {
            crm_id: (amount, deleted)
            for crm_id, amount, deleted in session.execute(
                select(Opportunity.crm_id, Opportunity.amount, Opportunity.deleted).where(
                    Opportunity.crm == changes.crm, Opportunity.crm_id.in_(list(ids))
                )
            )
        }
        self.calls.append(
            {
                "upserted": changes.upserted,
                "deleted": list(changes.deleted),
                "before": {k: dict(v) for k, v in changes.before.items()},
                "after": {row["crm_id"]: row["amount"] for row in changes.rows},
                "in_store": in_store,
                "ids": ids,
            }
        )
        # Writes in the page's transaction: committed with the page, or not at all.
        record(session, AuditEntity.OPPORTUNITY, "0", "seen", None, None, None, "test")
        return {"seen": len(changes.rows) + len(changes.deleted)}


class Refuses:
    """A handler that fails on any page holding a record of ``crm_id``."""

    name = "refuses"
    before: frozenset[str] = frozenset()

    def __init__(self, crm_id: str) -> None:
        self.crm_id = crm_id

    def __call__(self, session: Session, changes: PageChanges) -> None:
        record(session, AuditEntity.OPPORTUNITY, "0", "refused", None, None, None, "test")
        if self.crm_id in changes.upserted:
            raise RuntimeError("refused on purpose")


def _audit_count(store: sessionmaker[Session], action: str) -> int:
    with store() as session:
        return (
            session.scalar(
                select(func.count()).select_from(AuditEntry).where(AuditEntry.action == action)
            )
            or 0
        )


@pytest.mark.parametrize("crm", ["salesforce", "hubspot"])
def test_a_handler_sees_changed_and_deleted_records_in_the_page_transaction(
    crm: str, sandbox: Sandbox, sandbox_server: SandboxServer, store: sessionmaker[Session]
) -> None:
    """Changed ids with their values before and after, and deleted ids, reach the handler
    while the page's rows are visible in its session; re-read records are not repeated."""
    connect, mapping, seed = LINKS[crm]
    seed(sandbox, 30)
    first = Recorder()
    report = pull(store, connect(sandbox_server), mapping, handlers=[first])
    seen = [crm_id for call in first.calls for crm_id in call["upserted"]]
    assert sorted(seen) == sorted(mirrored(store, crm))
    assert all(call["before"] == {} for call in first.calls)  # all new to the store
    assert report.handled["seen"] == 30

    ids = sandbox.record_ids(crm, OBJECT[crm])
    changed, gone = ids[3], ids[4]
    old = mirrored(store, crm)[changed].amount
    sandbox.edit(crm, OBJECT[crm], changed, {AMOUNT[crm]: Decimal("1234.5")})
    sandbox.delete(crm, OBJECT[crm], gone)
    again = Recorder()
    pull(store, connect(sandbox_server), mapping, handlers=[again])
    upserted = [i for call in again.calls for i in call["upserted"]]
    deleted = [i for call in again.calls for i in call["deleted"]]
    assert upserted == [changed]  # the lookback re-reads others unchanged: not handed on
    assert deleted == [gone]
    call = next(c for c in again.calls if c["upserted"])
    assert call["before"][changed]["amount"] == old
    assert call["after"][changed] == Decimal("1234.5")
    assert call["in_store"][changed] == (Decimal("1234.5"), False)  # in the same transaction
    deleted_call = next(c for c in again.calls if c["deleted"])
    assert deleted_call["in_store"][gone][1] is True
    rows = mirrored(store, crm)
    assert deleted_call["ids"][gone] == rows[gone].id
    assert _audit_count(store, "seen") == len(first.calls) + len(again.calls)


def test_a_failing_handler_rolls_the_page_and_its_watermark_back(
    sandbox: Sandbox, sandbox_server: SandboxServer, store: sessionmaker[Session]
) -> None:
    """A handler that raises stops the pull: its page's rows, the handler's own writes and
    the watermark past it are not committed; pages committed before stay; once the handler
    is fixed the next pull takes up from the same place."""
    connect, mapping, seed = LINKS["salesforce"]
    seed(sandbox, 5_000)  # three Salesforce pages: 2,000 + 2,000 + 1,000
    ids = sandbox.record_ids("salesforce", "Opportunity")
    with store() as session:
        assert session.get(SyncState, ("salesforce", "Opportunity")) is None
    pull(store, connect(sandbox_server), mapping, commit_records=2_000)
    for crm_id in ids:  # touched in this order: the re-read reads them in it
        sandbox.edit("salesforce", "Opportunity", crm_id, {"Description": "touched"})
    victim = ids[2_500]  # on the re-read's second page
    with store() as session:
        state = session.get(SyncState, ("salesforce", "Opportunity"))
        assert state is not None
        watermark = state.watermark

    with pytest.raises(RuntimeError, match="refused on purpose"):
        pull(store, connect(sandbox_server), mapping, handlers=[Refuses(victim)],
             commit_records=2_000)  # fmt: skip
    with store() as session:
        state = session.get(SyncState, ("salesforce", "Opportunity"))
        assert state is not None
        moved = state.watermark
    assert moved is not None
    assert watermark is not None
    assert moved > watermark  # page 1 committed with its watermark
    rows = mirrored(store, "salesforce")
    assert rows[ids[0]].crm_modified_at > watermark  # page 1's rows: the touched version
    assert rows[victim].crm_modified_at <= watermark  # page 2's: rolled back, as before
    assert _audit_count(store, "refused") == 1  # page 1's handler write; page 2's rolled back

    resumed = pull(store, connect(sandbox_server), mapping, handlers=[Recorder()],
                   commit_records=2_000)  # fmt: skip
    # From the committed watermark (minus the lookback, which re-reads page 1 unchanged):
    # pages 2 and 3 are stored, and handed to the handlers, this time.
    assert resumed.upserted == 3_000
    assert resumed.handled["seen"] == 3_000
    assert _audit_count(store, "refused") == 1
