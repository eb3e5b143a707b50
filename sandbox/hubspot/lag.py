"""The search index's lag behind writes (``search_lag_seconds``).

HubSpot's search is eventually consistent: a write shows in search results only some
seconds after it was answered, while reads by id, listings and batch reads see it at
once. :class:`IndexLag` keeps, for each record written in the last ``lag`` seconds, the
instant of each such write and the record as it was just before it. Search then shows
the record as of ``now - lag``: as it was before the oldest write still in the window, or
not at all when that write created it. Instants are real (monotonic) seconds: a frozen
sandbox clock does not stop the index from catching up.

Nothing is kept while the lag is 0, so the default costs nothing.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from sandbox.hubspot.records import Row

__all__ = ["IndexLag"]

_PRUNE_EVERY = 1024


def _copy(row: Row) -> Row:
    from sandbox.hubspot.records import Row

    copy = Row(row.id, row.created, row.updated, list(row.values))
    copy.archived_at = row.archived_at
    return copy


class IndexLag:
    """Recent writes of one object type, and the records as search still shows them."""

    def __init__(self, seconds: Callable[[], float], clock: Callable[[], float]) -> None:
        self._seconds = seconds
        self._clock = clock
        #: row id -> [(instant of a write, the row just before it (None: it created it))]
        self._recent: dict[int, list[tuple[float, Row | None]]] = {}
        self._writes = 0

    def written(self, row: Row, *, created: bool = False) -> None:
        """Note a write of ``row``: call it before the write changes the row, or right
        after a creation (``created``)."""
        lag = self._seconds()
        if lag <= 0:
            return
        now = self._clock()
        self._writes += 1
        if self._writes % _PRUNE_EVERY == 0:
            self.view()
        self._recent.setdefault(row.id, []).append((now, None if created else _copy(row)))

    def view(self) -> dict[int, Row | None] | None:
        """Row id -> the record as search shows it (None: not at all), for every record
        search shows otherwise than it is; None when search is caught up."""
        if not self._recent:
            return None
        cutoff = self._clock() - self._seconds()
        shown: dict[int, Row | None] = {}
        for row_id in list(self._recent):
            entries = self._recent[row_id]
            kept = [entry for entry in entries if entry[0] > cutoff]
            if not kept:
                del self._recent[row_id]
                continue
            if len(kept) != len(entries):
                self._recent[row_id] = kept
            shown[row_id] = kept[0][1]
        return shown or None

    def rows(self, rows: Iterable[Row], shown: dict[int, Row | None], slots: int) -> list[Row]:
        """``rows`` (id order) as search shows them: lagged ones replaced or left out."""
        out: list[Row] = []
        for row in rows:
            if row.id not in shown:
                out.append(row)
                continue
            old = shown[row.id]
            if old is None:
                continue
            if len(old.values) < slots:  # properties were added since the copy
                old.values.extend([None] * (slots - len(old.values)))
            out.append(old)
        return out
