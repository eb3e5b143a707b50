"""Our connectors against the limits the sandbox enforces as the real services do: each
refusal becomes the error its action needs (wait and retry, retry, or stop)."""

from __future__ import annotations

import json
import threading
import time
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from hubspot.crm.deals import ApiException
from simple_salesforce.exceptions import SalesforceRefusedRequest

from connectors.base import Watermark
from connectors.errors import CrmError, QuotaExhausted, RateLimited, Transient
from connectors.hubspot import HubSpotConfig, HubSpotConnector
from connectors.hubspot_wire import translate as translate_hubspot
from connectors.retry import RetryPolicy
from connectors.salesforce import SalesforceConfig, SalesforceConnector
from connectors.salesforce_wire import translate as translate_salesforce
from sandbox import Sandbox, SandboxServer, parse_rate, seed_hubspot

ONCE = RetryPolicy(attempts=1)
SINCE = Watermark(datetime(2020, 1, 1, tzinfo=UTC))


def _hubspot(server: SandboxServer, retry: RetryPolicy = ONCE) -> HubSpotConnector:
    return HubSpotConnector(HubSpotConfig(base_url=server.url, access_token="sandbox", retry=retry))


def _salesforce(server: SandboxServer, retry: RetryPolicy = ONCE) -> SalesforceConnector:
    return SalesforceConnector(
        SalesforceConfig(instance_url=server.url, session_id="sandbox", retry=retry)
    )


def _incremental(connector: HubSpotConnector) -> int:
    return sum(len(page.records) for page in connector.changed_since(SINCE, ["amount"]))


@pytest.mark.parametrize(
    ("knobs", "error", "wait"),
    [
        pytest.param({"hubspot_search_rate": "1/1s"}, RateLimited, 1.0, id="secondly"),
        pytest.param({"hubspot_rate": "1/30s"}, RateLimited, 30.0, id="ten-secondly"),
        pytest.param({"hubspot_daily_limit": 1}, QuotaExhausted, 3600.0, id="daily"),
    ],
)
def test_hubspot_429s_are_classified_by_policy(
    sandbox: Sandbox,
    sandbox_server: SandboxServer,
    knobs: dict[str, Any],
    error: type[CrmError],
    wait: float,
) -> None:
    """SECONDLY and TEN_SECONDLY_ROLLING are RateLimited (wait Retry-After), DAILY is
    QuotaExhausted, though no 429 body has a category."""
    changes = {k: parse_rate(v) if k.endswith("rate") else v for k, v in knobs.items()}
    sandbox.reconfigure(**changes)
    connector = _hubspot(sandbox_server)
    _incremental(connector)
    with pytest.raises(CrmError) as info:
        _incremental(connector)
    assert type(info.value) is error
    assert getattr(info.value, "retry_after", None) == pytest.approx(wait, abs=1.0)


def test_hubspot_connector_keeps_within_the_search_rate(
    sandbox: Sandbox, sandbox_server: SandboxServer
) -> None:
    """At 2 searches a second, five incremental reads in a row all succeed: the 429s are
    waited out (Retry-After) and retried."""
    seed_hubspot(sandbox, 5)
    sandbox.reconfigure(hubspot_search_rate=parse_rate("2/1s"))
    connector = _hubspot(sandbox_server, RetryPolicy(attempts=5, max_wait=2.0))
    assert [_incremental(connector) for _ in range(5)] == [5] * 5
    assert connector.retries >= 1


def _hubspot_error(status: int, body: Any, headers: dict[str, str] | None = None) -> ApiException:
    exc = ApiException(status=status, reason="x")
    exc.body = body if isinstance(body, str) else json.dumps(body)
    exc.headers = headers or {}
    return exc


@pytest.mark.parametrize(
    ("body", "headers", "expected", "wait"),
    [
        pytest.param({"status": "error", "message": "You have reached your daily limit.",
                      "errorType": "RATE_LIMIT", "policyName": "DAILY"}, {}, QuotaExhausted,
                     3600.0, id="daily"),
        pytest.param({"message": "You have reached your daily limit."}, {}, QuotaExhausted,
                     3600.0, id="daily-without-policy"),
        pytest.param({"errorType": "RATE_LIMIT", "policyName": "SECONDLY"},
                     {"Retry-After": "2"}, RateLimited, 2.0, id="secondly-retry-after"),
        pytest.param({"category": "RATE_LIMITS"},
                     {"X-HubSpot-RateLimit-Interval-Milliseconds": "10000"}, RateLimited, 10.0,
                     id="legacy-category-interval"),
        pytest.param("", {"Retry-After": "soon"}, RateLimited, 1.0, id="no-body-bad-header"),
        pytest.param(["not", "an", "object"], {}, RateLimited, 1.0, id="array-body"),
    ],
)  # fmt: skip
def test_hubspot_429_fields_are_all_optional(
    body: Any, headers: dict[str, str], expected: type[CrmError], wait: float
) -> None:
    """Whatever a 429 body lacks, the error is still a rate limit or an exhausted quota."""
    error = translate_hubspot(_hubspot_error(429, body, headers))
    assert type(error) is expected
    assert getattr(error, "retry_after", None) == wait


@pytest.mark.parametrize(
    ("message", "expected"),
    [
        pytest.param("ConcurrentRequests Limit exceeded.", Transient, id="concurrent"),
        pytest.param("TotalRequests Limit exceeded.", QuotaExhausted, id="daily"),
    ],
)
def test_salesforce_request_limit_is_split_by_message(
    message: str, expected: type[CrmError]
) -> None:
    """REQUEST_LIMIT_EXCEEDED naming ConcurrentRequests is transient; the daily one stops."""
    content = [{"message": message, "errorCode": "REQUEST_LIMIT_EXCEEDED"}]
    error = translate_salesforce(SalesforceRefusedRequest("u", 403, "query", content))  # type: ignore[arg-type]
    assert type(error) is expected
    assert error.code == "REQUEST_LIMIT_EXCEEDED"


def test_salesforce_connector_retries_concurrent_request_refusals(
    sandbox: Sandbox, sandbox_server: SandboxServer
) -> None:
    """While another client's long request holds the only long-running slot, the
    connector's read is refused with ConcurrentRequests, waits, retries and succeeds."""
    sandbox.reconfigure(
        latency_ms=600, salesforce_concurrent_limit=1, salesforce_long_request_seconds=0.1
    )
    other = _salesforce(sandbox_server)
    busy = threading.Thread(target=lambda: list(other.changed_since(None, ["Name"])))
    busy.start()
    time.sleep(0.25)
    sleeps: list[float] = []

    def sleep(seconds: float) -> None:
        sleeps.append(seconds)
        time.sleep(seconds)

    connector = _salesforce(
        sandbox_server, RetryPolicy(attempts=8, initial_wait=0.2, max_wait=0.5, sleep=sleep)
    )
    pages = list(connector.changed_since(Watermark(datetime.now(UTC) - timedelta(days=1)), []))
    busy.join()
    assert [len(page.records) for page in pages] == [0]
    assert connector.retries >= 1
    assert sleeps


def test_salesforce_daily_limit_is_not_retried(
    sandbox: Sandbox, sandbox_server: SandboxServer
) -> None:
    """TotalRequests (the daily allocation) stops at once: QuotaExhausted, one call."""
    sandbox.reconfigure(salesforce_daily_limit=0)
    connector = _salesforce(sandbox_server, RetryPolicy(attempts=5, sleep=lambda _: None))
    with pytest.raises(QuotaExhausted):
        list(connector.changed_since(None, ["Name"]))
    assert connector.calls == 1
