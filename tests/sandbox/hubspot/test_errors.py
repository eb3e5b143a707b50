"""Error statuses, 429 retries and token renewal, as hubspot-api-client experiences them."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
import urllib3
from hubspot import HubSpot
from hubspot.crm.deals import PublicObjectSearchRequest, SimplePublicObjectInputForCreate
from urllib3.util import Retry

from sandbox.core import Sandbox
from sandbox.knobs import parse_faults, parse_rate
from sandbox.server import SandboxServer
from tests.conftest import make_hubspot
from tests.sandbox.hubspot.helpers import error_body


def _bogus_token(sandbox: Sandbox, server: SandboxServer) -> Any:
    return make_hubspot(server, access_token="pat-bogus").crm.deals.basic_api.get_page()


def _unscoped(sandbox: Sandbox, server: SandboxServer) -> Any:
    return make_hubspot(server).crm.contacts.basic_api.get_page()


def _missing(sandbox: Sandbox, server: SandboxServer) -> Any:
    return make_hubspot(server).crm.deals.basic_api.get_by_id("424242")


def _server_error(sandbox: Sandbox, server: SandboxServer) -> Any:
    sandbox.reconfigure(faults=parse_faults("503:1"))
    return make_hubspot(server).crm.deals.basic_api.get_page()


def _invalid(sandbox: Sandbox, server: SandboxServer) -> Any:
    create = SimplePublicObjectInputForCreate(properties={"amount": "many"})
    return make_hubspot(server).crm.deals.basic_api.create(create)


def _duplicate(sandbox: Sandbox, server: SandboxServer) -> Any:
    from hubspot.crm.properties import PropertyCreate as Create

    body = Create(name="cost", label="Cost", type="number", field_type="number", group_name="x")
    return make_hubspot(server).crm.properties.core_api.create("deals", body)


def _rate_limited(sandbox: Sandbox, server: SandboxServer) -> Any:
    sandbox.reconfigure(hubspot_rate=parse_rate("1/60s"))
    client = make_hubspot(server)
    client.crm.deals.basic_api.get_page()
    return client.crm.deals.search_api.do_search(PublicObjectSearchRequest(limit=1))


@pytest.mark.parametrize(
    ("call", "exception", "status", "category"),
    [
        pytest.param(_bogus_token, "UnauthorizedException", 401, "INVALID_AUTHENTICATION", id="401"),
        pytest.param(_unscoped, "ForbiddenException", 403, "MISSING_SCOPES", id="403"),
        pytest.param(_missing, "NotFoundException", 404, "OBJECT_NOT_FOUND", id="404"),
        pytest.param(_server_error, "ServiceException", 503, "INTERNAL_ERROR", id="5xx"),
        pytest.param(_invalid, "ApiException", 400, "VALIDATION_ERROR", id="400"),
        pytest.param(_duplicate, "ApiException", 409, "CONFLICT", id="409"),
        pytest.param(_rate_limited, "ApiException", 429, None, id="429"),
    ],
)  # fmt: skip
def test_status_maps_to_the_client_exception(
    sandbox: Sandbox,
    sandbox_server: SandboxServer,
    call: Callable[[Sandbox, SandboxServer], Any],
    exception: str,
    status: int,
    category: str | None,
) -> None:
    """Each error status raises the client's exception for it, with a JSON error body (a
    429 has errorType and policyName instead of a category)."""
    with pytest.raises(Exception) as info:
        call(sandbox, sandbox_server)
    assert type(info.value).__name__ == exception
    assert info.value.status == status
    body = error_body(info.value)
    assert body["status"] == "error"
    assert body.get("category") == category
    assert body["message"]


def test_429_with_retry_after_zero_is_retried(
    sandbox: Sandbox, hs_factory: Callable[..., HubSpot]
) -> None:
    """urllib3's Retry honours Retry-After: 0, for GETs and for POST search and batch calls."""
    sandbox.hubspot.create_many("deals", ({"dealname": f"D{i}"} for i in range(5)))
    sandbox.reconfigure(faults=parse_faults("429:0.5,retry-after:0,seed:1"))
    client = hs_factory(retry=Retry(total=5, status_forcelist=(429,), allowed_methods=None))
    for _ in range(5):  # seed 1 draws no six 429s in a row before the 11th success
        assert len(client.crm.deals.basic_api.get_page(limit=5).results) == 5
        found = client.crm.deals.search_api.do_search(PublicObjectSearchRequest(limit=2))
        assert found.total == 5
    stats = sandbox.stats.snapshot()["endpoints"]
    attempts = stats["GET /crm/v3/objects/{object_type}"]
    assert attempts["calls"] > 5
    assert attempts["errors"] == attempts["calls"] - 5


def test_exhausted_retries_raise_max_retry_error(
    sandbox: Sandbox, hs_factory: Callable[..., HubSpot]
) -> None:
    """When every attempt is a 429 the client gives up with urllib3's MaxRetryError."""
    sandbox.reconfigure(faults=parse_faults("429:1,retry-after:0"))
    client = hs_factory(retry=Retry(total=2, status_forcelist=(429,), allowed_methods=None))
    with pytest.raises(urllib3.exceptions.MaxRetryError):
        client.crm.deals.basic_api.get_page()
    assert sandbox.stats.count("GET /crm/v3/objects/{object_type}") == 3


def test_expired_token_is_renewed_through_oauth(
    sandbox: Sandbox, sandbox_server: SandboxServer, hs: HubSpot
) -> None:
    """After 401 EXPIRED_AUTHENTICATION, /oauth/v1/token trades the refresh token for a new one."""
    sandbox.reconfigure(faults=parse_faults("expire-session-after:2"))
    hs.crm.deals.basic_api.get_page()
    hs.crm.deals.basic_api.get_page()
    with pytest.raises(Exception) as info:
        hs.crm.deals.basic_api.get_page()
    assert type(info.value).__name__ == "UnauthorizedException"
    assert error_body(info.value)["category"] == "EXPIRED_AUTHENTICATION"
    config = sandbox.config
    token = hs.oauth.tokens_api.create(
        grant_type="refresh_token",
        client_id=config.hubspot_client_id,
        client_secret=config.hubspot_client_secret,
        refresh_token=config.hubspot_refresh_token,
    )
    assert token.token_type == "bearer"
    assert token.expires_in == 1800
    assert token.refresh_token == config.hubspot_refresh_token
    renewed = make_hubspot(sandbox_server, access_token=token.access_token)
    assert renewed.crm.deals.basic_api.get_page().results == []


@pytest.mark.parametrize(
    ("form", "status"),
    [
        pytest.param({"refresh_token": "stolen"}, "BAD_REFRESH_TOKEN", id="bad-refresh-token"),
        pytest.param({"client_id": "other"}, "BAD_CLIENT_ID", id="bad-client-id"),
        pytest.param({"client_secret": "guess"}, "BAD_CLIENT_SECRET", id="bad-client-secret"),
        pytest.param({"grant_type": "authorization_code", "code": "x"}, "BAD_AUTH_CODE", id="auth-code"),
    ],
)  # fmt: skip
def test_token_refusals(hs: HubSpot, form: dict[str, str], status: str) -> None:
    """Bad OAuth requests answer 400 with HubSpot's OAuth status codes."""
    request = {
        "grant_type": "refresh_token",
        "client_id": "sandbox",
        "client_secret": "sandbox",
        "refresh_token": "sandbox-refresh",
    } | form
    with pytest.raises(Exception) as info:
        hs.oauth.tokens_api.create(**request)
    assert info.value.status == 400
    assert error_body(info.value)["status"] == status


def test_rate_limit_headers_on_success(sandbox: Sandbox, hs: HubSpot) -> None:
    """Successful calls carry HubSpot's rate-limit headers."""
    sandbox.reconfigure(hubspot_rate=parse_rate("100/10s"))
    _, status, headers = hs.crm.deals.basic_api.get_page_with_http_info()
    assert status == 200
    assert headers["X-HubSpot-RateLimit-Max"] == "100"
    assert headers["X-HubSpot-RateLimit-Daily"]
