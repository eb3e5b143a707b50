"""The REST API around the records: versions, resources, limits, unknown paths, error mapping."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import pytest
import requests
from simple_salesforce import Salesforce
from simple_salesforce.exceptions import (
    SalesforceError,
    SalesforceExpiredSession,
    SalesforceGeneralError,
    SalesforceMalformedRequest,
    SalesforceMoreThanOneRecord,
    SalesforceRefusedRequest,
    SalesforceResourceNotFound,
)

from sandbox.core import Sandbox
from sandbox.knobs import parse_faults
from sandbox.server import SandboxServer
from tests.conftest import make_salesforce
from tests.sandbox.salesforce.helpers import code_of, seed


def test_versions_resources_and_limits(sandbox_server: SandboxServer, sf: Salesforce) -> None:
    """GET /services/data/ lists versions; vXX.X/ lists resources; limits/ the allocation."""
    versions = requests.get(f"{sandbox_server.url}/services/data", timeout=10).json()
    assert {"label": "Winter '24", "url": "/services/data/v59.0", "version": "59.0"} in versions
    assert versions[0]["version"] == "20.0"
    resources = sf.restful("")
    assert resources["query"] == "/services/data/v59.0/query"
    assert resources["sobjects"] == "/services/data/v59.0/sobjects"
    assert resources["identity"].startswith("https://")
    limits = sf.limits()
    assert limits["DailyApiRequests"]["Max"] == 5_000_000
    assert limits["DailyApiRequests"]["Remaining"] == 5_000_000 - 2
    assert limits["DataStorageMB"]["Remaining"] <= limits["DataStorageMB"]["Max"]


def test_limit_info_header_is_parsed(sf: Salesforce) -> None:
    """Every call carries Sforce-Limit-Info, which the client turns into api_usage."""
    sf.query("SELECT COUNT() FROM Opportunity")
    sf.query("SELECT COUNT() FROM Opportunity")
    usage = sf.api_usage["api-usage"]
    assert (usage.used, usage.total) == (2, 5_000_000)


def _fault(sandbox: Sandbox, spec: str) -> None:
    sandbox.reconfigure(faults=parse_faults(spec))


CASES: list[Any] = [
    pytest.param(
        lambda sandbox, sf: (seed(sandbox.salesforce, 2, External_Id__c="k"),
                             sf.Opportunity.get_by_custom_id("External_Id__c", "k")),
        SalesforceMoreThanOneRecord, 300, None, id="300-ambiguous-key",
    ),
    pytest.param(lambda sandbox, sf: sf.Opportunity.get("xyz"),
                 SalesforceMalformedRequest, 400, "MALFORMED_ID", id="400-malformed-id"),
    pytest.param(lambda sandbox, sf: sf.Opportunity.get("001000000000000"),
                 SalesforceMalformedRequest, 400, "MALFORMED_ID", id="400-other-objects-id"),
    pytest.param(lambda sandbox, sf: sf.query("SELEKT Id FROM Opportunity"),
                 SalesforceMalformedRequest, 400, "MALFORMED_QUERY", id="400-malformed-query"),
    pytest.param(lambda sandbox, sf: sf.query("SELECT Id FROM Widget__c"),
                 SalesforceMalformedRequest, 400, "INVALID_TYPE", id="400-unknown-object-in-soql"),
    pytest.param(lambda sandbox, sf: sf.Opportunity.create({"Name": "x"}),
                 SalesforceMalformedRequest, 400, "REQUIRED_FIELD_MISSING", id="400-required"),
    pytest.param(lambda sandbox, sf: (_fault(sandbox, "lock:1"),
                                      sf.Opportunity.create({"Name": "x", "StageName": "Prospecting", "CloseDate": "2026-01-01"})),
                 SalesforceMalformedRequest, 400, "UNABLE_TO_LOCK_ROW", id="400-lock"),
    pytest.param(lambda sandbox, sf: (sandbox.sessions.expire_all("salesforce"), sf.query("SELECT Id FROM Account")),
                 SalesforceExpiredSession, 401, "INVALID_SESSION_ID", id="401-expired"),
    pytest.param(lambda sandbox, sf: (sandbox.reconfigure(salesforce_daily_limit=0), sf.query("SELECT Id FROM Account")),
                 SalesforceRefusedRequest, 403, "REQUEST_LIMIT_EXCEEDED", id="403-daily-limit"),
    pytest.param(lambda sandbox, sf: sf.Opportunity.get("006000000000000"),
                 SalesforceResourceNotFound, 404, "NOT_FOUND", id="404-no-record"),
    pytest.param(lambda sandbox, sf: sf.Widget__c.describe(),
                 SalesforceResourceNotFound, 404, "NOT_FOUND", id="404-unknown-object"),
    pytest.param(lambda sandbox, sf: sf.restful("nothing/here"),
                 SalesforceResourceNotFound, 404, "NOT_FOUND", id="404-unknown-path"),
    pytest.param(lambda sandbox, sf: sf.restful("sobjects/Opportunity/006000000000000", method="PUT"),
                 SalesforceGeneralError, 405, "METHOD_NOT_ALLOWED", id="405-method"),
    pytest.param(lambda sandbox, sf: (_fault(sandbox, "500:1"), sf.query("SELECT Id FROM Account")),
                 SalesforceGeneralError, 500, "UNKNOWN_EXCEPTION", id="500-injected"),
    pytest.param(lambda sandbox, sf: (_fault(sandbox, "503:1"), sf.Opportunity.describe()),
                 SalesforceGeneralError, 503, "SERVER_UNAVAILABLE", id="503-injected"),
]  # fmt: skip


@pytest.mark.parametrize(("call", "exception", "status", "code"), CASES)
def test_errors_map_to_client_exceptions(
    sandbox: Sandbox,
    sf: Salesforce,
    call: Callable[[Sandbox, Salesforce], Any],
    exception: type[SalesforceError],
    status: int,
    code: str | None,
) -> None:
    """Each status raises simple-salesforce's exception for it, with the code in .content."""
    with pytest.raises(exception) as info:
        call(sandbox, sf)
    assert info.value.status == status
    if code is not None:
        assert code_of(info.value) == code
    else:
        assert all(url.startswith("/services/data/v59.0/sobjects/") for url in info.value.content)


@pytest.mark.parametrize(
    "path",
    [
        pytest.param("/services/data/v59.0/nope", id="unknown-resource"),
        pytest.param("/services/data/vX/query", id="bad-version"),
        pytest.param("/services/data/v59/sobjects", id="version-without-minor"),
        pytest.param("/services/data/v59.0/composite/sobjects/Opportunity/a/b", id="too-deep"),
    ],
)
def test_unknown_paths_answer_json_not_found(sandbox_server: SandboxServer, path: str) -> None:
    """Unknown paths under /services/data are Salesforce's JSON NOT_FOUND, not a text 404."""
    answer = requests.get(
        sandbox_server.url + path, headers={"Authorization": "Bearer sandbox"}, timeout=10
    )
    assert answer.status_code == 404
    assert answer.headers["content-type"] == "application/json"
    assert answer.json() == [
        {"message": "The requested resource does not exist", "errorCode": "NOT_FOUND"}
    ]


@pytest.mark.parametrize("version", ["42.0", "59.0", "62.0"])
def test_any_api_version(sandbox: Sandbox, sandbox_server: SandboxServer, version: str) -> None:
    """Every vNN.N version serves the API, with nextRecordsUrl in the version asked."""
    seed(sandbox.salesforce, 2_001)
    sf = make_salesforce(sandbox_server)
    sf.sf_version = version
    sf.base_url = sf.base_url.replace("v59.0", f"v{version}")
    page = sf.query("SELECT Id FROM Opportunity")
    assert page["nextRecordsUrl"].startswith(f"/services/data/v{version}/query/")
    assert page["records"][0]["attributes"]["url"].startswith(f"/services/data/v{version}/")


def test_stats_count_route_templates(sandbox: Sandbox, sf: Salesforce) -> None:
    """The sandbox counts calls per route template, whatever the version or record id."""
    (record_id,) = seed(sandbox.salesforce, 1)
    sf.query("SELECT Id FROM Opportunity")
    sf.Opportunity.get(record_id)
    wanted = {
        "GET /services/data/v{version}/query/": 1,
        "GET /services/data/v{version}/sobjects/{sobject}/{record_id}": 1,
    }
    deadline = time.monotonic() + 5  # a call is counted just after its answer is sent
    while True:
        endpoints = sandbox.stats.snapshot()["endpoints"]
        counted = {k: endpoints.get(k, {}).get("calls", 0) for k in wanted}
        if counted == wanted or time.monotonic() > deadline:
            break
        time.sleep(0.01)
    assert counted == wanted
