"""The one JSON-plain conversion: exact money, ISO dates and instants, enum values."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta, timezone
from decimal import Decimal
from typing import Any

import pytest

from rules.vocabulary import PayoutStatus
from sync.plain import plain


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        pytest.param(Decimal("12.50"), "12.50", id="money-keeps-its-scale"),
        pytest.param(Decimal("1E+2"), "100", id="money-never-in-exponent-form"),
        pytest.param(date(2026, 3, 1), "2026-03-01", id="date"),
        pytest.param(datetime(2026, 3, 1, 11, tzinfo=timezone(timedelta(hours=1))),
                     "2026-03-01T10:00:00+00:00", id="instant-in-utc"),
        pytest.param(PayoutStatus.PAID, "paid", id="enum"),
        pytest.param((1, "a", None, True), [1, "a", None, True], id="tuple"),
        pytest.param({"a": {"b": Decimal("0.1")}}, {"a": {"b": "0.1"}}, id="nested"),
    ],
)  # fmt: skip
def test_values_become_plain_json(value: Any, expected: Any) -> None:
    assert plain(value) == expected


@pytest.mark.parametrize(
    ("value", "error", "says"),
    [
        pytest.param(0.1, TypeError, r"\$: float 0.1 refused", id="float"),
        pytest.param({"a": [Decimal("NaN")]}, ValueError, r"\$.a\[0\]: NaN is not a finite",
                     id="nan-with-its-path"),
        pytest.param(datetime(2026, 1, 1), ValueError, "naive datetime", id="naive"),
        pytest.param({1: "x"}, TypeError, "keys must be strings", id="int-key"),
        pytest.param("a\x00b", ValueError, "NUL", id="nul"),
        pytest.param(object(), TypeError, "is not JSON data", id="object"),
    ],
)  # fmt: skip
def test_what_json_must_not_hold_is_refused(value: Any, error: type[Exception], says: str) -> None:
    with pytest.raises(error, match=says):
        plain(value)


def test_floats_are_kept_for_figures_and_raw_payloads_keep_their_text() -> None:
    """``floats`` keeps report figures (seconds) as numbers; ``raw`` keeps a CRM payload's
    float as its text and a NUL as ``\\u0000``."""
    assert plain({"seconds": 1.25}, floats=True) == {"seconds": 1.25}
    assert plain({"Amount": 0.1, "Name": "a\x00"}, raw=True) == {
        "Amount": "0.1",
        "Name": "a\\u0000",
    }
    assert plain(datetime(2026, 1, 1, tzinfo=UTC)) == "2026-01-01T00:00:00+00:00"
