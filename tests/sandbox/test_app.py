"""The sandbox middleware through the real clients: auth, limits, faults, latency, stats."""

from __future__ import annotations

import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

import pytest
import requests
from hubspot import HubSpot
from hubspot.crm.deals import ApiException as DealsApiException
from simple_salesforce import Salesforce
from simple_salesforce.exceptions import (
    SalesforceExpiredSession,
    SalesforceGeneralError,
    SalesforceRefusedRequest,
)
from urllib3.util import Retry

from sandbox.core import Sandbox
from sandbox.knobs import parse_faults, parse_rate
from sandbox.seed import seed_sandbox
from sandbox.server import SandboxServer

SOQL = "SELECT Id FROM Opportunity"


@pytest.fixture
def seeded(sandbox: Sandbox) -> Sandbox:
    seed_sandbox(sandbox, 30)
    return sandbox


def test_unknown_session_is_refused(seeded: Sandbox, sf_factory: Callable[..., Salesforce]) -> None:
    """A session id the sandbox never issued gets 401 INVALID_SESSION_ID."""
    with pytest.raises(SalesforceExpiredSession) as info:
        sf_factory(session_id="00Dbogus!token").query(SOQL)
    assert info.value.content[0]["errorCode"] == "INVALID_SESSION_ID"


def test_unknown_token_is_refused(seeded: Sandbox, hs_factory: Callable[..., HubSpot]) -> None:
    """An access token the sandbox never issued gets 401 INVALID_AUTHENTICATION."""
    from hubspot.crm.deals.exceptions import UnauthorizedException

    with pytest.raises(UnauthorizedException) as info:
        hs_factory(access_token="pat-bogus").crm.deals.basic_api.get_page()
    assert '"INVALID_AUTHENTICATION"' in info.value.body


def test_sessions_expire_after_n_calls(seeded: Sandbox, sf: Salesforce, hs: HubSpot) -> None:
    """With expire-session-after:N each token serves N calls, then answers 401."""
    seeded.reconfigure(faults=parse_faults("expire-session-after:2"))
    sf.query(SOQL)
    sf.query(SOQL)
    with pytest.raises(SalesforceExpiredSession):
        sf.query(SOQL)
    hs.crm.deals.basic_api.get_page()
    hs.crm.deals.basic_api.get_page()
    from hubspot.crm.deals.exceptions import UnauthorizedException

    with pytest.raises(UnauthorizedException) as info:
        hs.crm.deals.basic_api.get_page()
    assert "EXPIRED_AUTHENTICATION" in info.value.body


def test_salesforce_limit_info_and_daily_allocation(seeded: Sandbox, sf: Salesforce) -> None:
    """Sforce-Limit-Info counts calls; past the daily allocation: 403 REQUEST_LIMIT_EXCEEDED."""
    seeded.reconfigure(salesforce_daily_limit=3)
    sf.query(SOQL)
    assert sf.api_usage["api-usage"].used == 1
    assert sf.api_usage["api-usage"].total == 3
    sf.query(SOQL)
    sf.query(SOQL)
    with pytest.raises(SalesforceRefusedRequest) as info:
        sf.query(SOQL)
    assert info.value.content[0]["errorCode"] == "REQUEST_LIMIT_EXCEEDED"


def test_hubspot_rolling_rate_limit(seeded: Sandbox, hs_factory: Callable[..., HubSpot]) -> None:
    """Over the rolling window HubSpot answers 429 RATE_LIMIT with Retry-After and headers."""
    seeded.reconfigure(hubspot_rate=parse_rate("2/60s"))
    hs = hs_factory(retry=Retry(total=False))  # urllib3 would otherwise sleep Retry-After
    hs.crm.deals.basic_api.get_page()
    hs.crm.deals.basic_api.get_page()
    with pytest.raises(DealsApiException) as info:
        hs.crm.deals.basic_api.get_page()
    error = info.value
    assert error.status == 429
    assert '"errorType":"RATE_LIMIT"' in error.body
    assert '"policyName":"TEN_SECONDLY_ROLLING"' in error.body
    assert int(error.headers["Retry-After"]) >= 1
    assert error.headers["X-HubSpot-RateLimit-Max"] == "2"
    assert error.headers["X-HubSpot-RateLimit-Remaining"] == "0"


def test_injected_429_retried_by_urllib3(
    seeded: Sandbox, hs_factory: Callable[..., HubSpot]
) -> None:
    """Injected 429s carry Retry-After, which a urllib3 Retry honours until a call succeeds."""
    seeded.reconfigure(faults=parse_faults("429:0.5,retry-after:0,seed:3"))
    client = hs_factory(retry=Retry(total=20, status_forcelist=(429,), allowed_methods=None))
    for _ in range(10):
        assert client.crm.deals.basic_api.get_page(limit=5).results
    assert seeded.stats.snapshot()["endpoints"]  # every attempt was counted


@pytest.mark.parametrize("status", [500, 502, 503, 504])
def test_injected_server_errors(seeded: Sandbox, sf: Salesforce, status: int) -> None:
    """A status fault answers that status with a Salesforce error array."""
    seeded.reconfigure(faults=parse_faults(f"{status}:1"))
    with pytest.raises(SalesforceGeneralError) as info:
        sf.query(SOQL)
    assert info.value.status == status
    assert isinstance(info.value.content, list)


def test_latency_is_added_to_every_call(seeded: Sandbox, sf: Salesforce) -> None:
    """--latency-ms delays each API call by at least that much."""
    seeded.reconfigure(latency_ms=150)
    started = time.perf_counter()
    sf.query(SOQL)
    assert time.perf_counter() - started >= 0.15


def test_stats_count_per_endpoint_and_reset(
    seeded: Sandbox, sandbox_server: SandboxServer, sf: Salesforce, hs: HubSpot
) -> None:
    """/_sandbox/stats counts calls per route template and API; DELETE resets them."""
    sf.query(SOQL)
    sf.query(SOQL)
    hs.crm.deals.basic_api.get_page()
    stats = requests.get(f"{sandbox_server.url}/_sandbox/stats", timeout=5).json()
    assert stats["total"] == 3
    assert stats["apis"] == {"salesforce": 2, "hubspot": 1}
    endpoints = {key: value["calls"] for key, value in stats["endpoints"].items()}
    assert sum(v for k, v in endpoints.items() if k.startswith("GET /services/data/")) == 2
    assert sum(v for k, v in endpoints.items() if k.startswith("GET /crm/v3/objects/")) == 1
    assert all("{" in key for key in endpoints), endpoints  # templates, not raw paths
    assert requests.delete(f"{sandbox_server.url}/_sandbox/stats", timeout=5).status_code == 204
    assert seeded.stats.count() == 0


def test_config_endpoint_changes_knobs(seeded: Sandbox, sandbox_server: SandboxServer) -> None:
    """PUT /_sandbox/config changes knobs of a running sandbox; bad specs are refused."""
    url = f"{sandbox_server.url}/_sandbox/config"
    answer = requests.put(url, json={"latency_ms": 5, "faults": "503:0.1"}, timeout=5)
    assert answer.status_code == 200
    assert answer.json()["faults"] == "503:0.1"
    assert seeded.config.latency_ms == 5
    bad = requests.put(url, json={"faults": "meteor:1"}, timeout=5)
    assert bad.status_code == 400
    assert "unknown fault" in bad.json()["error"]


def test_concurrent_clients(seeded: Sandbox, sf_factory: Callable[..., Salesforce]) -> None:
    """Concurrent writers and readers never corrupt state: every write lands once."""
    ids = [row["Id"] for row in sf_factory().query(SOQL)["records"]]

    def bump(index: int) -> None:
        client = sf_factory()
        client.Opportunity.update(ids[index % len(ids)], {"Description": f"touch {index}"})
        client.query(SOQL)

    with ThreadPoolExecutor(max_workers=8) as pool:
        list(pool.map(bump, range(64)))
    assert seeded.salesforce.count() == 30
    assert seeded.stats.count(api="salesforce") == 1 + 64 * 2
