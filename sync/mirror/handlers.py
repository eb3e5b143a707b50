"""The mirror's extension point: handlers run on each page's changes, in its transaction.

After a page is upserted (and its deleted records marked), :func:`~sync.mirror.pull.pull`
calls every handler passed to it with the page's :class:`PageChanges`, in the page's
transaction, before the watermark moves past the page. A handler stages outbox values,
writes audit, registration or ledger rows in that same transaction, so what the mirror
stored and what follows from it commit together or not at all: a handler that raises
rolls the page back, watermark included, and the pull stops with its error.

Drift correction (:class:`~sync.mirror.drift.DriftCorrection`) is the first handler;
registration links and accruals join it without touching the mirror. A handler names the
mirrored columns whose values *before* the page it needs (``before``): the mirror reads
them with the look-up it makes anyway, and only when some handler asks.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol

from sqlalchemy import select
from sqlalchemy.orm import Session

from sync.mapping import CompiledMapping
from sync.store import Crm, Opportunity
from sync.store.lists import one_of

__all__ = ["MirrorHandler", "PageChanges", "run_handlers"]


@dataclass
class PageChanges:
    """What one page (or one read of deletions) changed in the mirror.

    - ``rows``: the mirrored rows as written, one per new or changed record (the
      ``Opportunity`` columns by name, ``crm_id`` included); records re-read unchanged
      through the lookback, and records quarantined, are not here;
    - ``inbound``: every mapped inbound value of those records by CRM id, also the ones
      the mirror does not store (``modified_by``);
    - ``before``: by CRM id, the stored values of the columns the handlers asked for (and
      ``id``), as they were before this page; a record the store did not hold is absent;
    - ``deleted``: CRM ids newly marked deleted (deleted in Salesforce, archived in
      HubSpot); records already marked are not repeated;
    - ``known_ids``: CRM id -> ``Opportunity.id`` of the rows the page wrote, as the write
      returned them (:meth:`opportunity_ids` looks up only the others).
    """

    crm: Crm
    mapping: CompiledMapping
    now: datetime
    rows: Sequence[Mapping[str, Any]] = ()
    inbound: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)
    before: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)
    deleted: Sequence[str] = ()
    known_ids: Mapping[str, int] = field(default_factory=dict, repr=False)
    _ids: dict[str, int] | None = field(default=None, repr=False)

    def __bool__(self) -> bool:
        return bool(self.rows or self.deleted)

    @property
    def upserted(self) -> list[str]:
        """CRM ids of the new and changed records."""
        return [row["crm_id"] for row in self.rows]

    def opportunity_ids(self, session: Session) -> dict[str, int]:
        """CRM id -> ``Opportunity.id`` of every changed and deleted record (one query,
        made on first use)."""
        if self._ids is None:
            self._ids = dict(self.known_ids)
            wanted = [i for i in (*self.upserted, *self.deleted) if i not in self._ids]
            if wanted:
                found = session.execute(
                    select(Opportunity.crm_id, Opportunity.id).where(
                        Opportunity.crm == self.crm,
                        one_of(Opportunity.crm_id, wanted, session.get_bind().dialect.name),
                    )
                )
                self._ids.update(found.tuples().all())
        return self._ids


class MirrorHandler(Protocol):
    """Something that acts on the mirror's changes, in the page's transaction.

    ``name`` labels it in logs; ``before`` names the ``Opportunity`` columns whose values
    before the page it reads from :attr:`PageChanges.before`. It returns counts for the
    pull's report (``{"drifted": 2}``), or nothing.
    """

    name: str
    before: frozenset[str]

    def __call__(self, session: Session, changes: PageChanges) -> Mapping[str, int] | None: ...


def run_handlers(
    session: Session, handlers: Sequence[MirrorHandler], changes: PageChanges
) -> Counter[str]:
    """Call each handler on ``changes`` (when there are any); their counts, summed."""
    counts: Counter[str] = Counter()
    if not changes:
        return counts
    for handler in handlers:
        counts.update(handler(session, changes) or {})
    return counts
