"""Time-ordered indexes of live records, for searches that sort by an instant.

The incremental read of every sync is "``hs_lastmodifieddate >= since``, ascending". With
the live records already ordered by that instant, such a search is a bisection and a
slice: no predicate runs and nothing is sorted. The instants are kept in a parallel list
of numbers, so bisecting never touches the (scattered) row objects.

An index is rebuilt lazily (one sort) when it became stale and maintained incrementally
otherwise: API writes stamp "now", so a modified record leaves its place and goes to the
end; records created out of order (seeding) just mark the index stale.
"""

from __future__ import annotations

import bisect
import operator
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from sandbox.hubspot.records import Row

__all__ = ["TimeIndex"]


class TimeIndex:
    """Live rows ordered by one instant attribute (``created`` / ``updated``), then id."""

    def __init__(self, attr: str, live: Callable[[], Iterable[Row]]) -> None:
        self.attr = attr
        self._instant: Callable[[Row], int] = operator.attrgetter(attr)
        self._live = live
        self._rows: list[Row] = []
        self._keys: list[float] = []
        self._fresh = False

    def _build(self) -> None:
        # Live rows come in id order and the sort is stable: ties stay in id order.
        live = list(self._live())
        # Float keys sort faster than big ints and are exact for epoch milliseconds.
        keys = [float(self._instant(row)) for row in live]
        order = sorted(range(len(live)), key=keys.__getitem__)
        self._rows = [live[i] for i in order]
        self._keys = [keys[i] for i in order]
        self._fresh = True

    def span(
        self, low: int | None, high: int | None, *, low_open: bool, high_open: bool
    ) -> list[Row]:
        """A new list of the rows whose instant lies between ``low`` and ``high``, in order.

        ``None`` leaves a side unbounded; ``*_open`` excludes the bound itself.
        """
        if not self._fresh:
            self._build()
        keys = self._keys
        start, end = 0, len(keys)
        if low is not None:
            start = (bisect.bisect_right if low_open else bisect.bisect_left)(keys, low)
        if high is not None:
            end = (bisect.bisect_left if high_open else bisect.bisect_right)(keys, high)
        return self._rows[start:end]

    def add(self, row: Row) -> None:
        """A row became live, or got its new instant: append it, or mark the index stale."""
        if not self._fresh:
            return
        instant = self._instant(row)
        if self._keys and (self._keys[-1], self._rows[-1].id) > (instant, row.id):
            self.stale()
            return
        self._rows.append(row)
        self._keys.append(float(instant))

    def remove(self, row: Row) -> None:
        """A row is about to change its instant or to be archived."""
        if not self._fresh:
            return
        keys, rows = self._keys, self._rows
        instant = self._instant(row)
        index = bisect.bisect_left(keys, instant)
        while index < len(keys) and keys[index] == instant:
            if rows[index] is row:
                del rows[index]
                del keys[index]
                return
            index += 1
        self.stale()

    def warm(self) -> None:
        """Build the order now if it is stale (after seeding, not on the first search)."""
        if not self._fresh:
            self._build()

    def stale(self) -> None:
        """Forget the order (rebuilt on the next read)."""
        self._fresh = False
        self._rows = []
        self._keys = []
