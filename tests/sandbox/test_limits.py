"""The limits a sync meets on the real services: HubSpot's search rate per token and its
429 bodies, Salesforce's concurrent long-running requests; and the knobs that set them,
refused when malformed (constructor, reconfigure, PUT /_sandbox/config, the CLI)."""

from __future__ import annotations

import re
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import requests
from hubspot import HubSpot
from hubspot.crm.deals import ApiException, PublicObjectSearchRequest
from simple_salesforce import Salesforce
from simple_salesforce.exceptions import SalesforceRefusedRequest
from urllib3.util import Retry

from sandbox import FaultSpecError, Sandbox, SandboxConfig, SandboxServer, parse_faults, parse_rate
from tests.sandbox.hubspot.helpers import error_body

SOQL = "SELECT Id FROM Opportunity"
UUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")
RATE_LIMIT_KEYS = ["status", "message", "errorType", "correlationId", "policyName", "requestId"]


def _no_retry(hs_factory: Callable[..., HubSpot], **kw: Any) -> HubSpot:
    return hs_factory(retry=Retry(total=False), **kw)


def _search(client: HubSpot) -> Any:
    return client.crm.deals.search_api.do_search(PublicObjectSearchRequest(limit=1))


def test_search_rate_is_per_token_with_hubspots_body(
    sandbox: Sandbox, hs_factory: Callable[..., HubSpot]
) -> None:
    """Over the search rate a token gets HubSpot's SECONDLY 429 (Retry-After, no category);
    another token and the other endpoints are not held back."""
    sandbox.reconfigure(hubspot_search_rate=parse_rate("2/60s"))
    client = _no_retry(hs_factory)
    first = client.crm.deals.search_api.do_search_with_http_info(PublicObjectSearchRequest(limit=1))
    assert first[2]["X-HubSpot-RateLimit-Secondly"] == "2"
    assert first[2]["X-HubSpot-RateLimit-Secondly-Remaining"] == "1"
    _search(client)
    with pytest.raises(ApiException) as info:
        _search(client)
    assert info.value.status == 429
    body = error_body(info.value)
    assert list(body) == RATE_LIMIT_KEYS
    assert body["message"] == "You have reached your secondly limit."
    assert (body["errorType"], body["policyName"]) == ("RATE_LIMIT", "SECONDLY")
    assert UUID.fullmatch(body["correlationId"])
    assert UUID.fullmatch(body["requestId"])
    assert int(info.value.headers["Retry-After"]) >= 1
    assert info.value.headers["X-HubSpot-RateLimit-Secondly-Remaining"] == "0"
    assert client.crm.deals.basic_api.get_page(limit=1).results == []  # not a search
    other = _no_retry(hs_factory, access_token=sandbox.sessions.issue("hubspot"))
    assert _search(other).total == 0


def _daily(sandbox: Sandbox) -> None:
    sandbox.reconfigure(hubspot_daily_limit=0)


def _rolling(sandbox: Sandbox) -> None:
    sandbox.reconfigure(hubspot_rate=parse_rate("1/60s"))


def _secondly(sandbox: Sandbox) -> None:
    sandbox.reconfigure(hubspot_search_rate=parse_rate("1/1s"))


def _injected(sandbox: Sandbox) -> None:
    sandbox.reconfigure(faults=parse_faults("429:1,retry-after:0"))


@pytest.mark.parametrize(
    ("provoke", "policy", "message"),
    [
        pytest.param(_daily, "DAILY", "You have reached your daily limit.", id="daily"),
        pytest.param(_rolling, "TEN_SECONDLY_ROLLING",
                     "You have reached your ten_secondly_rolling limit.", id="ten-secondly"),
        pytest.param(_secondly, "SECONDLY", "You have reached your secondly limit.",
                     id="secondly"),
        pytest.param(_injected, "TEN_SECONDLY_ROLLING",
                     "You have reached your ten_secondly_rolling limit.", id="injected"),
    ],
)  # fmt: skip
def test_every_429_has_hubspots_shape(
    sandbox: Sandbox,
    hs_factory: Callable[..., HubSpot],
    provoke: Callable[[Sandbox], None],
    policy: str,
    message: str,
) -> None:
    """Each 429 is HubSpot's: errorType RATE_LIMIT, its policyName, no category, and a
    Retry-After."""
    provoke(sandbox)
    client = _no_retry(hs_factory)
    try:  # the daily limit refuses the first call, the others a later one
        for _ in range(2):
            _search(client)
    except ApiException:
        pass
    with pytest.raises(ApiException) as info:
        _search(client)
    body = error_body(info.value)
    assert list(body) == RATE_LIMIT_KEYS
    assert (body["status"], body["message"], body["errorType"], body["policyName"]) == (
        "error",
        message,
        "RATE_LIMIT",
        policy,
    )
    assert info.value.headers["Retry-After"].isdigit()


def test_concurrent_long_running_requests_are_refused(
    sandbox: Sandbox, sf_factory: Callable[..., Salesforce]
) -> None:
    """With 2 requests in flight for longer than 0.2 s, a third is refused at once with
    ConcurrentRequests; once they are done, requests are served again."""
    sandbox.reconfigure(
        latency_ms=800, salesforce_concurrent_limit=2, salesforce_long_request_seconds=0.2
    )
    served: list[int] = []

    def slow() -> None:
        served.append(sf_factory().query(SOQL)["totalSize"])

    threads = [threading.Thread(target=slow) for _ in range(2)]
    for thread in threads:
        thread.start()
    time.sleep(0.4)
    started = time.perf_counter()
    with pytest.raises(SalesforceRefusedRequest) as info:
        sf_factory().query(SOQL)
    assert time.perf_counter() - started < 0.3  # refused on arrival
    assert info.value.status == 403
    assert info.value.content == [
        {"message": "ConcurrentRequests Limit exceeded.", "errorCode": "REQUEST_LIMIT_EXCEEDED"}
    ]
    for thread in threads:
        thread.join()
    assert served == [0, 0]
    sandbox.reconfigure(latency_ms=0)
    assert sf_factory().query(SOQL)["totalSize"] == 0


def test_short_requests_do_not_count_as_long_running(
    sandbox: Sandbox, sf_factory: Callable[..., Salesforce]
) -> None:
    """Requests in flight for less than the threshold never trip the limit."""
    sandbox.reconfigure(
        latency_ms=300, salesforce_concurrent_limit=1, salesforce_long_request_seconds=5
    )
    results: list[int] = []
    threads = [
        threading.Thread(target=lambda: results.append(sf_factory().query(SOQL)["totalSize"]))
        for _ in range(3)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert results == [0, 0, 0]


# --- knobs ---------------------------------------------------------------------------------

BAD_KNOBS = [
    pytest.param("search_lag_seconds", -1, "search_lag_seconds: seconds must be finite",
                 id="negative-lag"),
    pytest.param("search_lag_seconds", "soon", "search_lag_seconds: expected a number",
                 id="lag-not-a-number"),
    pytest.param("salesforce_concurrent_limit", 0,
                 "salesforce_concurrent_limit: expected a whole number of at least 1",
                 id="no-concurrency"),
    pytest.param("salesforce_long_request_seconds", float("inf"),
                 "salesforce_long_request_seconds: seconds must be finite", id="infinite"),
    pytest.param("hubspot_webhook_url", "ftp://example.com/x",
                 "hubspot_webhook_url: expected an absolute http:// or https:// URL",
                 id="not-http"),
    pytest.param("salesforce_outbound_url", "/hooks", "salesforce_outbound_url: expected an "
                 "absolute", id="relative-url"),
    pytest.param("salesforce_organization_id", "00D5g0000SANDBX",
                 "salesforce_organization_id: expected an 18-character organization id",
                 id="org-15-chars"),
    pytest.param("webhook_debounce_seconds", -0.1, "webhook_debounce_seconds", id="debounce"),
    pytest.param("webhook_retry_seconds", 0, "webhook_retry_seconds: seconds must be finite "
                 "and above 0", id="retry-zero"),
    pytest.param("webhook_attempts", 0, "webhook_attempts: expected a whole number",
                 id="no-attempts"),
]  # fmt: skip


@pytest.mark.parametrize(("knob", "value", "message"), BAD_KNOBS)
def test_bad_knobs_are_refused_by_name(
    sandbox: Sandbox, knob: str, value: Any, message: str
) -> None:
    """A bad knob value raises FaultSpecError naming it, from the constructor and from
    reconfigure, which then leaves the configuration as it was."""
    with pytest.raises(FaultSpecError, match=re.escape(message)):
        SandboxConfig(**{knob: value})
    before = sandbox.config
    with pytest.raises(FaultSpecError, match=re.escape(message)):
        sandbox.reconfigure(**{knob: value})
    assert sandbox.config is before


@pytest.mark.parametrize(("knob", "value", "message"), BAD_KNOBS)
def test_bad_knobs_are_a_400_over_http(
    sandbox: Sandbox, sandbox_server: SandboxServer, knob: str, value: Any, message: str
) -> None:
    """PUT /_sandbox/config with a bad value is a 400 naming the knob; nothing changes."""
    if value == float("inf"):
        value = "inf"  # JSON has no infinity; the string parses to it
    before = sandbox.config
    answer = requests.put(f"{sandbox_server.url}/_sandbox/config", json={knob: value}, timeout=5)
    assert answer.status_code == 400
    assert message in answer.json()["error"]
    assert sandbox.config is before


def test_new_knobs_over_http(sandbox: Sandbox, sandbox_server: SandboxServer) -> None:
    """Every new knob can be set through PUT /_sandbox/config and is shown by GET; an
    unknown knob is refused."""
    url = f"{sandbox_server.url}/_sandbox/config"
    knobs = {
        "hubspot_search_rate": "5/1s",
        "search_lag_seconds": 2.5,
        "salesforce_concurrent_limit": 3,
        "salesforce_long_request_seconds": 0.5,
        "hubspot_webhook_url": "http://127.0.0.1:9/hubspot",
        "hubspot_client_secret": "s3cret",
        "salesforce_outbound_url": "https://example.com/salesforce",
        "salesforce_organization_id": "00D000000000042AAA",
        "webhook_debounce_seconds": 0.1,
        "webhook_retry_seconds": 0.25,
        "webhook_attempts": 4,
    }
    answer = requests.put(url, json=knobs, timeout=5)
    assert answer.status_code == 200, answer.text
    shown = requests.get(url, timeout=5).json()
    assert {k: v for k, v in shown.items() if k in knobs} == {
        k: v for k, v in knobs.items() if k != "hubspot_client_secret"
    }
    assert sandbox.config.hubspot_client_secret == "s3cret"
    assert sandbox.config.hubspot_search_rate == parse_rate("5/1s")
    unknown = requests.put(url, json={"search_lag": 1}, timeout=5)
    assert unknown.status_code == 400
    assert "unknown knob 'search_lag'" in unknown.json()["error"]
    cleared = requests.put(
        url, json={"hubspot_search_rate": None, "hubspot_webhook_url": ""}, timeout=5
    )
    assert cleared.json()["hubspot_search_rate"] is None
    assert sandbox.config.hubspot_webhook_url is None


def _cli(*args: str, cwd: Path) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-c", "from sync.cli import main; main()", "sandbox", *args],
        cwd=cwd,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def test_cli_refuses_bad_knobs(tmp_path: Path) -> None:
    """`partnersync sandbox` with a bad knob: exit 2 and one line naming it."""
    process = _cli("--search-lag-seconds", "-2", cwd=tmp_path)
    _, stderr = process.communicate(timeout=60)
    assert process.returncode == 2
    assert "search_lag_seconds: seconds must be finite and 0 or more" in stderr


def test_cli_defaults_are_the_real_services(tmp_path: Path) -> None:
    """`partnersync sandbox` lags search by 3 s and allows 5 searches a second per token
    unless told otherwise; its options reach the sandbox."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    process = _cli("--port", str(port), "--webhook-attempts", "3", "--salesforce-concurrent-"
                   "limit", "7", cwd=tmp_path)  # fmt: skip
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                shown = requests.get(f"http://127.0.0.1:{port}/_sandbox/config", timeout=1)
                break
            except requests.ConnectionError:
                assert process.poll() is None, process.stderr.read() if process.stderr else ""
                assert time.monotonic() < deadline
                time.sleep(0.1)
        knobs = shown.json()
        assert knobs["hubspot_search_rate"] == "5/1s"
        assert knobs["search_lag_seconds"] == 3.0
        assert knobs["salesforce_concurrent_limit"] == 7
        assert knobs["salesforce_long_request_seconds"] == 20.0
        assert knobs["webhook_attempts"] == 3
        assert knobs["hubspot_webhook_url"] is None
    finally:
        process.terminate()
        process.wait(timeout=10)
