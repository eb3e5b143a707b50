"""One sync cycle: pull every configured CRM (handlers on each page), then push each.

``partnersync sync``, the demo, and later the queue's actors and the HTTP API all run the
cycle through :class:`Cycle`, so none of them carries its own copy of the pull -> push
sequence, its settings or its handlers::

    cycle = Cycle(settings, factory)              # the enabled CRMs, mappings loaded
    report = cycle.run(full=False, push=True)     # or cycle.pull(link), cycle.push(link)

Before a CRM's first pull or push in a process, its mapping is checked against the CRM's
live metadata (``describe`` / the properties API, cached per process and mapping
contents): a field name the CRM does not know stops the run with
:class:`~sync.mapping.MappingError` naming the file and key, rather than mirroring a
column of NULLs.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator, Sequence
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy.orm import Session, sessionmaker

from sync.crm import CrmLink, links
from sync.deal_links import RegistrationLinks
from sync.ledger import CommissionAccruals
from sync.mapping import MappingError
from sync.mapping.check import check_mapping
from sync.mirror.drift import DriftCorrection
from sync.mirror.handlers import MirrorHandler
from sync.mirror.pull import PullReport, pull
from sync.settings import Settings
from sync.writeback.push import PushReport, push

__all__ = ["Cycle", "CycleReport", "Progress", "check_link", "mirror_handlers"]

#: Makes the progress display for one pull: given the CRM's name, a context manager that
#: yields the pull's ``on_progress`` callback (or None).
Progress = Callable[[str], AbstractContextManager[Callable[[PullReport], None] | None]]

_checked: set[tuple[str, str, str]] = set()
_checked_lock = threading.Lock()


@dataclass
class CycleReport:
    """What one cycle did: a pull report and a push report per CRM, in order."""

    pulls: list[PullReport] = field(default_factory=list)
    pushes: list[PushReport] = field(default_factory=list)

    def as_dict(self) -> dict[str, list[dict[str, Any]]]:
        return {
            "pull": [r.as_dict() for r in self.pulls],
            "push": [r.as_dict() for r in self.pushes],
        }


def mirror_handlers(settings: Settings, link: CrmLink) -> list[MirrorHandler]:
    """The handlers every pull runs, in order: drift correction, the registrations of the
    page's deals (links, registrations from the CRM, won / lost), then their commissions
    (accruals, adjustments, reversals)."""
    return [
        DriftCorrection(link.connector.user_names),
        RegistrationLinks(settings.program),
        CommissionAccruals(settings.program.default_currency),
    ]


def check_link(link: CrmLink) -> None:
    """Check ``link``'s mapping against its CRM's metadata once per process and contents;
    :class:`MappingError` lists every problem."""
    key = (link.connector.crm, link.connector.endpoint, link.mapping.digest)
    with _checked_lock:
        if key in _checked:
            return
    problems = check_mapping(link.mapping, link.connector)
    if problems:
        raise MappingError(problems)
    with _checked_lock:
        _checked.add(key)


class Cycle:
    """The CRMs named by ``crm`` (``salesforce``, ``hubspot`` or ``all``), enabled in
    ``settings``, against the store of ``factory``; ``configured`` replaces them (tests,
    the demo)."""

    def __init__(
        self,
        settings: Settings,
        factory: sessionmaker[Session],
        *,
        crm: str = "all",
        configured: Sequence[CrmLink] | None = None,
    ) -> None:
        self.settings = settings
        self.factory = factory
        self.links = list(configured) if configured is not None else links(settings, crm)

    def __iter__(self) -> Iterator[CrmLink]:
        return iter(self.links)

    def link(self, crm: str) -> CrmLink:
        """The configured link of ``crm``; ``KeyError`` if it is not configured."""
        for link in self.links:
            if link.connector.crm == crm:
                return link
        raise KeyError(crm)

    def pull(
        self,
        link: CrmLink,
        *,
        full: bool = False,
        on_progress: Callable[[PullReport], None] | None = None,
        on_page: Callable[[PullReport], None] | None = None,
    ) -> PullReport:
        """Mirror ``link``'s CRM (its mapping checked first), with the cycle's handlers;
        ``on_page`` after each commit (raising there stops the pull, pages kept)."""
        check_link(link)
        return pull(
            self.factory,
            link.connector,
            link.mapping,
            full=full,
            on_progress=on_progress,
            on_page=on_page,
            deletes_every=timedelta(seconds=self.settings.sync.deletes_check_seconds),
            handlers=mirror_handlers(self.settings, link),
            lookback=timedelta(seconds=self.settings.sync.lookback_seconds),
        )

    def mark_deleted(self, link: CrmLink, crm_ids: Sequence[str], now: datetime) -> list[str]:
        """Mark mirrored records of ``link``'s CRM deleted at once (a deletion webhook),
        with the cycle's handlers (registrations released, commissions reversed); the
        CRM ids newly marked. Unknown or already deleted ids change nothing."""
        from sync.mirror.pages import PageWriter
        from sync.store import Crm, transaction

        with transaction(self.factory) as session:
            writer = PageWriter(session, Crm(link.connector.crm), link.mapping,
                                handlers=mirror_handlers(self.settings, link))  # fmt: skip
            return writer.write_deleted([(crm_id, now) for crm_id in crm_ids], now)

    def push(self, link: CrmLink, *, shard: tuple[int, int] = (0, 1)) -> PushReport:
        """Send ``link``'s open outbox rows (its mapping checked first); ``shard``
        ``(k, n)``: only the rows of deals whose id is ``k`` modulo ``n``."""
        check_link(link)
        return push(
            self.factory,
            link.connector,
            link.mapping,
            concurrency=self.settings.sync.push_concurrency,
            shard=shard,
        )

    def run(
        self, *, full: bool = False, push: bool = True, progress: Progress | None = None
    ) -> CycleReport:
        """Pull every CRM, then (with ``push``) push every CRM; stops at the first error."""
        report = CycleReport()
        for link in self.links:
            display = progress(link.connector.crm) if progress else nullcontext(None)
            with display as on_progress:
                report.pulls.append(self.pull(link, full=full, on_progress=on_progress))
        if push:
            for link in self.links:
                report.pushes.append(self.push(link))
        return report
