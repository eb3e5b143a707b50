"""ORDER BY as a stable multi-key sort without comparison functions.

Each key is one plain ``sorted`` of row positions by that key's values (nulls set aside
and put first or last). Later keys only matter among rows tied on the earlier ones, so
they are applied to each run of ties; when runs are so many and small that this would
cost more than a full pass, the rows are sorted by the later keys first and then,
stably, by this one.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from itertools import compress, islice, repeat
from operator import eq, is_, is_not, ne
from typing import Any

from sandbox.soql.evaluate import Column, Context

__all__ = ["SortKey", "order"]


@dataclass(frozen=True)
class SortKey:
    column: Column
    descending: bool
    nulls_last: bool


def order(ctx: Context, idx: Sequence[int], keys: Sequence[SortKey]) -> list[int]:
    """Row positions ``idx`` sorted by ``keys``; rows equal on every key keep their order."""
    if not keys or len(idx) < 2:
        return list(idx)
    return _order(ctx, idx, keys, 0)


def _order(
    ctx: Context,
    idx: Sequence[int],
    keys: Sequence[SortKey],
    level: int,
    value_of: Callable[[int], Any] | None = None,
) -> list[int]:
    key = keys[level]
    if value_of is None:
        value_of = ctx.lookup(key.column, idx)
    ranked, runs = _sort_one(idx, value_of, key, want_runs=level + 1 < len(keys))
    if not runs:
        return ranked
    # A run costs about 16 rows' worth of work on top of its rows: refine run by run
    # unless runs are so many and small that one full pass by the later keys is cheaper.
    if 16 * len(runs) <= len(ranked):
        following = None
        if 4 * sum(b - a for a, b in runs) >= len(ranked):
            # Most rows are tied: fetch the next key in row order rather than run by run.
            following = ctx.lookup(keys[level + 1].column, idx)
        for a, b in runs:
            ranked[a:b] = _order(ctx, ranked[a:b], keys, level + 1, following)
        return ranked
    by_rest = _order(ctx, idx, keys, level + 1)
    return _sort_one(by_rest, value_of, key, want_runs=False)[0]


def _sort_one(
    idx: Sequence[int], value_of: Callable[[int], Any], key: SortKey, *, want_runs: bool
) -> tuple[list[int], list[tuple[int, int]]]:
    """``idx`` stably ordered by one key, and the ``[start, end)`` runs of equal values."""
    vals = list(map(value_of, idx))
    nulls: list[int] = []
    present: Sequence[int] = idx
    if None in vals:
        present = list(compress(idx, map(is_not, vals, repeat(None))))
        nulls = list(compress(idx, map(is_, vals, repeat(None))))
    ranked = sorted(present, key=value_of, reverse=key.descending)
    runs: list[tuple[int, int]] = []
    if want_runs and len(set(vals)) < len(vals):  # hashing is cheaper than a tie scan
        runs = _runs(list(map(value_of, ranked)), 0 if key.nulls_last else len(nulls))
        if len(nulls) > 1:
            runs.append((len(ranked), len(idx)) if key.nulls_last else (0, len(nulls)))
    return (ranked + nulls if key.nulls_last else nulls + ranked), runs


def _runs(ordered: list[Any], shift: int) -> list[tuple[int, int]]:
    """``[start, end)`` spans of equal neighbours in sorted values, moved by ``shift``.

    The Python loop walks whichever is shorter: the ties or the changes of value.
    """
    n = len(ordered)
    ties = list(compress(range(1, n), map(eq, islice(ordered, 1, None), ordered)))
    runs: list[tuple[int, int]] = []
    if 2 * len(ties) <= n:
        for j in ties:
            if runs and runs[-1][1] == j + shift:
                runs[-1] = (runs[-1][0], j + 1 + shift)
            else:
                runs.append((j - 1 + shift, j + 1 + shift))
        return runs
    changes = compress(range(1, n), map(ne, islice(ordered, 1, None), ordered))
    start = 0
    for j in (*changes, n):
        if j - start > 1:
            runs.append((start + shift, j + shift))
        start = j
    return runs
