"""Our HubSpot connector's incremental read against a search index that lags behind writes:
the lookback re-reads a window before the watermark, so a record that reaches the index
late is not skipped by the next read.

The sandbox clock (record timestamps) and the lag's monotonic clock are both driven by the
test, so each scenario is exact. With a uniform lag and timestamps in the order writes
are made, a late record's timestamp is never below the watermark and even a lookback of 0
would find it; a record is missed without the lookback when its timestamp is earlier than
that of a record indexed before it (a write stamped before it committed, or by a server
whose clock runs behind) -- which the second test stages.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta

import pytest

from connectors.base import Watermark
from connectors.hubspot import HubSpotConfig, HubSpotConnector
from connectors.retry import RetryPolicy
from sandbox import Sandbox, SandboxServer
from tests.sandbox.hubspot.helpers import T0, Clock

LAG = 2.0


class Ticker:
    """A settable monotonic clock (seconds) for the search index lag."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def lagging(sandbox: Sandbox) -> Iterator[tuple[Sandbox, Clock, Ticker]]:
    clock, ticker = Clock(T0), Ticker()
    sandbox.clock = clock
    sandbox.monotonic = ticker
    sandbox.reconfigure(search_lag_seconds=LAG)
    return sandbox, clock, ticker


def _connector(server: SandboxServer, lookback_seconds: int) -> HubSpotConnector:
    return HubSpotConnector(
        HubSpotConfig(
            base_url=server.url,
            access_token="sandbox",
            lookback=timedelta(seconds=lookback_seconds),
            retry=RetryPolicy(attempts=2, sleep=lambda _: None),
        )
    )


def _read(connector: HubSpotConnector, watermark: Watermark) -> tuple[dict[str, str], Watermark]:
    """One incremental read: deal id -> amount, and the watermark to store after it."""
    seen: dict[str, str] = {}
    for page in connector.changed_since(watermark, ["amount"]):
        seen.update({r.id: r.values["amount"] for r in page.records})
        watermark = page.watermark or watermark
    return seen, watermark


@pytest.mark.parametrize("lookback", [10, 0])
def test_a_record_created_within_the_lag_is_read_next_time(
    lagging: tuple[Sandbox, Clock, Ticker], sandbox_server: SandboxServer, lookback: int
) -> None:
    """A deal created just before a read is not in it (the index lags); the next read has
    it -- with the lookback, and here (timestamps in write order) even without."""
    sandbox, clock, ticker = lagging
    connector = _connector(sandbox_server, lookback)
    early = sandbox.hubspot.create("deals", {"dealname": "Early", "amount": "1"})
    ticker.now += LAG + 1
    clock.tick(seconds=5)
    late = sandbox.hubspot.create("deals", {"dealname": "Late", "amount": "2"})
    ticker.now += LAG / 2  # "Late" is written, answered, readable by id: not yet searchable
    assert sandbox.hubspot.get("deals", late) is not None
    first, watermark = _read(connector, Watermark(T0 - timedelta(seconds=1)))
    assert first == {early: "1"}
    ticker.now += LAG
    second, _ = _read(connector, watermark)
    assert second[late] == "2"


def test_the_lookback_catches_a_record_indexed_after_a_later_stamped_one(
    lagging: tuple[Sandbox, Clock, Ticker], sandbox_server: SandboxServer
) -> None:
    """B is stamped 5 s before A but reaches the index after A. The first read sees A
    only and moves the watermark to A's stamp; the next read from there finds B with the
    default 10 s lookback, and misses it with none."""
    sandbox, clock, ticker = lagging
    a = sandbox.hubspot.create("deals", {"dealname": "A", "amount": "10"})
    b = sandbox.hubspot.create("deals", {"dealname": "B", "amount": "20"})
    ticker.now += LAG + 1  # both created long ago, indexed
    with_lookback, without = _connector(sandbox_server, 10), _connector(sandbox_server, 0)
    start = Watermark(T0 + timedelta(seconds=12))  # after the creations

    clock.now = T0 + timedelta(seconds=20)
    sandbox.hubspot.update("deals", a, {"amount": "11"})  # indexed at ticker + LAG
    ticker.now += 0.5
    clock.now = T0 + timedelta(seconds=15)  # B's write carries an earlier stamp ...
    sandbox.hubspot.update("deals", b, {"amount": "21"})  # ... and is indexed later
    ticker.now += LAG - 0.2  # A is in the index, B not yet

    first_10, mark_10 = _read(with_lookback, start)
    first_0, mark_0 = _read(without, start)
    assert first_10 == first_0 == {a: "11"}
    assert mark_10.modified_at == mark_0.modified_at == T0 + timedelta(seconds=20)

    ticker.now += 1  # B is in the index now
    second_10, _ = _read(with_lookback, mark_10)
    second_0, _ = _read(without, mark_0)
    assert second_10 == {b: "21", a: "11"}  # B found: 15 s >= 20 s - 10 s
    assert b not in second_0  # B missed for good: 15 s < 20 s, and later reads start later


def test_a_read_by_id_is_never_behind(
    lagging: tuple[Sandbox, Clock, Ticker], sandbox_server: SandboxServer
) -> None:
    """What a webhook names is read by id: the deal as it is now (the search still shows
    the old version), 100 ids a call, ids HubSpot does not have left out, oldest first,
    and no watermark (the incremental read still covers its span)."""
    sandbox, clock, ticker = lagging
    connector = _connector(sandbox_server, 10)
    ids = [sandbox.hubspot.create("deals", {"dealname": f"D{i}", "amount": str(i)})
           for i in range(150)]  # fmt: skip
    ticker.now += LAG + 1
    clock.tick(seconds=5)
    sandbox.hubspot.update("deals", ids[3], {"amount": "999"})
    calls = connector.calls
    page = connector.read_ids([ids[3], "987654321", *ids[100:], ids[3]], ["amount", "dealname"])
    assert connector.calls - calls == 1  # 51 distinct ids: one batch read
    assert page.watermark is None
    got = {r.id: r.values["amount"] for r in page.records}
    assert got == {ids[3]: "999", **{i: str(n) for n, i in enumerate(ids) if n >= 100}}
    assert page.records[-1].id == ids[3]  # the newest last, as a search sorts them
    seen, _ = _read(connector, Watermark(T0))
    assert seen[ids[3]] == "3"  # the index has not caught up
    assert len(connector.read_ids(ids, ["amount"]).records) == 150
    assert connector.calls - calls == 2 + 2  # the search above, then two batch reads
