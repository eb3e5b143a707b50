"""Sandbox knobs: fault and rate specs parse strictly; draws are reproducible."""

from __future__ import annotations

import pytest

from sandbox.knobs import (
    Faults,
    FaultSpec,
    FaultSpecError,
    RateLimitSpec,
    RollingWindow,
    parse_faults,
    parse_rate,
)


@pytest.mark.parametrize(
    ("spec", "expected"),
    [
        pytest.param(None, FaultSpec(), id="none"),
        pytest.param("", FaultSpec(), id="empty"),
        pytest.param(
            "503:0.05,lock:0.02,expire-session-after:500",
            FaultSpec(((503, 0.05),), 0.02, 500),
            id="issue-example",
        ),
        pytest.param(
            " 500:1 , 429:0.5,retry-after:0,seed:7 ",
            FaultSpec(((429, 0.5), (500, 1.0)), 0.0, None, 0, 7),
            id="spaces-and-order",
        ),
        pytest.param("LOCK:0", FaultSpec(), id="case-insensitive"),
    ],
)
def test_parse_faults(spec: str | None, expected: FaultSpec) -> None:
    """Fault specs parse into probabilities, session life and retry-after."""
    assert parse_faults(spec) == expected


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        pytest.param("503", "expected NAME:VALUE", id="no-value"),
        pytest.param("503:1.5", "between 0 and 1", id="probability-too-big"),
        pytest.param("503:lots", "not a probability", id="probability-not-number"),
        pytest.param("404:0.1", "status must be one of", id="unsupported-status"),
        pytest.param("expire-session-after:0", "at least 1", id="zero-life"),
        pytest.param("expire-session-after:-3", "not a whole number", id="negative-life"),
        pytest.param("meteor:0.1", "unknown fault 'meteor'", id="unknown-fault"),
    ],
)
def test_bad_fault_specs(spec: str, message: str) -> None:
    """A bad fault spec names the part that is wrong."""
    with pytest.raises(FaultSpecError, match=message):
        parse_faults(spec)


@pytest.mark.parametrize(
    ("spec", "expected"),
    [
        pytest.param("100/10s", RateLimitSpec(100, 10.0), id="per-ten-seconds"),
        pytest.param("5/1", RateLimitSpec(5, 1.0), id="no-unit"),
        pytest.param("", None, id="empty"),
    ],
)
def test_parse_rate(spec: str, expected: RateLimitSpec | None) -> None:
    """Rate specs are CALLS/SECONDS."""
    assert parse_rate(spec) == expected


@pytest.mark.parametrize("spec", ["100", "x/10s", "0/1s", "10/0s", "10/-1s"])
def test_bad_rate_specs(spec: str) -> None:
    """A malformed rate spec is refused."""
    with pytest.raises(FaultSpecError):
        parse_rate(spec)


def test_fault_draws_are_reproducible() -> None:
    """The same seed gives the same sequence of injected faults."""
    spec = parse_faults("503:0.3,lock:0.3,seed:42")
    first, second = Faults(spec), Faults(spec)
    draws_a = [(first.draw_status(allow_429=True), first.draw_lock()) for _ in range(200)]
    draws_b = [(second.draw_status(allow_429=True), second.draw_lock()) for _ in range(200)]
    assert draws_a == draws_b
    assert 30 < sum(status == 503 for status, _ in draws_a) < 90


def test_429_only_where_allowed() -> None:
    """A 429 fault is never drawn for an API that has no 429 (Salesforce)."""
    faults = Faults(parse_faults("429:1"))
    assert faults.draw_status(allow_429=False) is None
    assert faults.draw_status(allow_429=True) == 429


def test_rolling_window_refuses_over_the_limit() -> None:
    """The window admits max_calls, then refuses with a positive retry-after."""
    window = RollingWindow(RateLimitSpec(3, 60.0))
    assert [window.acquire()[0] for _ in range(3)] == [True, True, True]
    allowed, remaining, retry_after = window.acquire()
    assert (allowed, remaining) == (False, 0)
    assert 1 <= retry_after <= 60
