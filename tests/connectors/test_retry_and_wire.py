"""Connector plumbing: retries honour Retry-After and stop; money goes out exactly."""

from __future__ import annotations

import json
from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from connectors.errors import (
    ConfigurationError,
    QuotaExhausted,
    RateLimited,
    RecordRejected,
    Transient,
)
from connectors.retry import RetryPolicy, call_with_retries, is_retryable
from connectors.wire import dumps_exact


class Flaky:
    """Fails with the given errors in turn, then returns "ok"."""

    def __init__(self, *errors: Exception) -> None:
        self.errors = list(errors)
        self.calls = 0

    def __call__(self) -> str:
        self.calls += 1
        if self.errors:
            raise self.errors.pop(0)
        return "ok"


@pytest.mark.parametrize(
    ("error", "retryable"),
    [
        pytest.param(Transient("503"), True, id="transient"),
        pytest.param(RateLimited("slow down", retry_after=2), True, id="rate-limited"),
        pytest.param(QuotaExhausted("daily", retry_after=3600), False, id="quota-exhausted"),
        pytest.param(ConfigurationError("bad field"), False, id="configuration"),
        pytest.param(RecordRejected("bad value", record_id="1"), False, id="rejected"),
        pytest.param(ValueError("bug"), False, id="programming-error"),
    ],
)
def test_what_is_retried(error: Exception, retryable: bool) -> None:
    """Only transient errors and rate limits are retried inside a connector."""
    assert is_retryable(error) is retryable


def test_retry_after_is_honoured_and_capped() -> None:
    """The wait is the CRM's Retry-After, capped at max_wait; backoff otherwise."""
    waits: list[float] = []
    policy = RetryPolicy(attempts=5, initial_wait=0.5, max_wait=10, sleep=waits.append)
    call = Flaky(RateLimited("x", retry_after=3), RateLimited("x", retry_after=99), Transient("y"))
    assert call_with_retries(policy, call) == "ok"
    assert call.calls == 4
    assert waits[:2] == [3.0, 10.0]
    assert 0 < waits[2] <= 10


def test_retries_stop_and_reraise() -> None:
    """After the last attempt the original error is raised, not a wrapper."""
    policy = RetryPolicy(attempts=3, sleep=lambda _: None)
    call = Flaky(*(Transient(f"503 #{i}") for i in range(5)))
    with pytest.raises(Transient, match="503 #2"):
        call_with_retries(policy, call)
    assert call.calls == 3


def test_non_retryable_is_raised_at_once() -> None:
    """A configuration error is raised on the first attempt."""
    call = Flaky(ConfigurationError("INVALID_FIELD"))
    with pytest.raises(ConfigurationError):
        call_with_retries(RetryPolicy(sleep=lambda _: None), call)
    assert call.calls == 1


def test_on_retry_sees_each_failure() -> None:
    """The retry hook is told of each failure, its attempt number and the wait."""
    seen: list[tuple[str, int, float]] = []
    policy = RetryPolicy(attempts=4, sleep=lambda _: None)
    call_with_retries(
        policy,
        Flaky(RateLimited("a", retry_after=1), RateLimited("b", retry_after=2)),
        lambda exc, attempt, wait: seen.append((str(exc), attempt, wait)),
    )
    assert seen == [("a", 1, 1.0), ("b", 2, 2.0)]


@given(st.decimals(allow_nan=False, allow_infinity=False, places=2))
def test_decimals_go_out_exactly(value: Decimal) -> None:
    """A Decimal is written as the JSON number with exactly its digits."""
    encoded = dumps_exact({"records": [{"Amount": value, "Name": "x"}]})
    decoded = json.loads(encoded, parse_float=Decimal, parse_int=Decimal)
    assert decoded["records"][0]["Amount"] == value


def test_placeholders_cannot_be_forged() -> None:
    """A string that looks like a placeholder stays a string."""
    encoded = dumps_exact({"a": Decimal("1.50"), "b": "@deadbeef:0@"})
    assert json.loads(encoded) == {"a": 1.5, "b": "@deadbeef:0@"}
    assert b'"a":1.50' in encoded


def test_non_finite_decimal_is_refused() -> None:
    """NaN cannot be sent as money."""
    with pytest.raises(ValueError, match="cannot send"):
        dumps_exact({"a": Decimal("NaN")})
