"""Salesforce logins (SOAP, OAuth password, client credentials, JWT) and session renewal."""

from __future__ import annotations

import base64
import json
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import jwt
import pytest
import requests
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from simple_salesforce import Salesforce
from simple_salesforce.exceptions import SalesforceAuthenticationFailed, SalesforceExpiredSession

from connectors.transport import session_for
from sandbox.core import Sandbox
from sandbox.knobs import parse_faults
from sandbox.server import SandboxServer
from tests.sandbox.salesforce.helpers import login_client

USER = "sandbox@partnersync.test"
SOQL = "SELECT COUNT() FROM Opportunity"


@pytest.fixture(scope="module")
def private_key(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A PEM RSA key for JWT bearer logins (its signature is not verifiable by the sandbox)."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    path = tmp_path_factory.mktemp("jwt") / "key.pem"
    path.write_bytes(key.private_bytes(serialization.Encoding.PEM,
                                       serialization.PrivateFormat.PKCS8,
                                       serialization.NoEncryption()))  # fmt: skip
    return path


LOGINS: dict[str, Callable[[Path], dict[str, Any]]] = {
    "soap": lambda _: {"username": USER, "password": "sandbox", "security_token": ""},
    "oauth-password": lambda _: {"username": USER, "password": "sandbox",
                                 "consumer_key": "sandbox", "consumer_secret": "sandbox"},
    "jwt": lambda key: {"username": USER, "consumer_key": "sandbox", "privatekey_file": str(key)},
    "jwt-my-domain": lambda key: {"username": USER, "consumer_key": "sandbox",
                                  "privatekey_file": str(key), "instance_url": "acme.my"},
    "client-credentials": lambda _: {"domain": "acme.my", "consumer_key": "sandbox",
                                     "consumer_secret": "sandbox"},
}  # fmt: skip


@pytest.mark.parametrize("kind", [pytest.param(k, id=k) for k in LOGINS])
def test_logins_renew_expired_sessions(
    sandbox: Sandbox, sandbox_server: SandboxServer, private_key: Path, kind: str
) -> None:
    """Each login kind gets a new session that works, and renews it by itself once expired."""
    sf = login_client(sandbox_server, **LOGINS[kind](private_key))
    first = sf.session_id
    assert first.startswith("00DSANDBOX!")
    assert sf.sf_instance == sandbox_server.url.removeprefix("http://")
    assert sf.query(SOQL)["totalSize"] == 0
    sandbox.sessions.expire_all("salesforce")
    assert sf.query(SOQL)["totalSize"] == 0
    assert sf.session_id != first


def test_session_life_in_calls(sandbox: Sandbox, sandbox_server: SandboxServer) -> None:
    """expire-session-after:3: a session id client fails on call 4; a password client re-logs in."""
    sandbox.reconfigure(faults=parse_faults("expire-session-after:3"))
    static = Salesforce(session_id="sandbox", version="59.0",
                        instance_url=session_for(sandbox_server.url)[1],
                        session=session_for(sandbox_server.url)[0])  # fmt: skip
    renewing = login_client(sandbox_server, username=USER, password="sandbox", security_token="")
    for _ in range(3):
        static.query(SOQL)
    with pytest.raises(SalesforceExpiredSession) as info:
        static.query(SOQL)
    assert info.value.content[0]["errorCode"] == "INVALID_SESSION_ID"
    sessions = {renewing.session_id}
    for _ in range(10):
        renewing.query(SOQL)
        sessions.add(renewing.session_id)
    assert len(sessions) >= 3


def test_static_session_expiry_is_not_renewed(sandbox: Sandbox, sf: Salesforce) -> None:
    """A client given only a session id gets SalesforceExpiredSession once it expires."""
    sf.query(SOQL)
    sandbox.sessions.expire_all("salesforce")
    with pytest.raises(SalesforceExpiredSession):
        sf.query(SOQL)


@pytest.mark.parametrize(
    ("kwargs", "code"),
    [
        pytest.param({"username": USER, "password": "wrong", "security_token": ""}, "INVALID_LOGIN", id="soap-password"),
        pytest.param({"username": "nobody@x", "password": "sandbox", "security_token": ""}, "INVALID_LOGIN", id="soap-user"),
        pytest.param({"username": USER, "password": "wrong", "consumer_key": "sandbox", "consumer_secret": "sandbox"}, "invalid_grant", id="oauth-password"),
        pytest.param({"username": USER, "password": "sandbox", "consumer_key": "other", "consumer_secret": "sandbox"}, "invalid_client_id", id="oauth-client-id"),
        pytest.param({"username": USER, "password": "sandbox", "consumer_key": "sandbox", "consumer_secret": "nope"}, "invalid_client", id="oauth-client-secret"),
        pytest.param({"domain": "acme.my", "consumer_key": "sandbox", "consumer_secret": "nope"}, "invalid_client", id="client-credentials"),
    ],
)  # fmt: skip
def test_refused_logins(sandbox_server: SandboxServer, kwargs: dict[str, Any], code: str) -> None:
    """Bad credentials raise SalesforceAuthenticationFailed with Salesforce's code."""
    domain = kwargs.pop("domain", "login")
    with pytest.raises(SalesforceAuthenticationFailed) as info:
        login_client(sandbox_server, domain=domain, **kwargs)
    assert info.value.code == code


def test_password_with_security_token(sandbox: Sandbox, sandbox_server: SandboxServer) -> None:
    """With a security token configured, password+token logs in over SOAP."""
    sandbox.reconfigure(salesforce_security_token="TOKEN123")
    sf = login_client(sandbox_server, username=USER, password="sandbox", security_token="TOKEN123")
    assert sf.query(SOQL)["totalSize"] == 0
    with pytest.raises(SalesforceAuthenticationFailed):
        login_client(sandbox_server, username=USER, password="sandbox", security_token="WRONG")


def _assertion(key: Path, **claims: Any) -> str:
    payload = {"iss": "sandbox", "sub": USER, "aud": "https://login.salesforce.com",
               "exp": int(time.time()) + 120, **claims}  # fmt: skip
    return jwt.encode(payload, key.read_bytes(), algorithm="RS256")


@pytest.mark.parametrize(
    ("claims", "error", "description"),
    [
        pytest.param({}, None, None, id="good"),
        pytest.param({"iss": "someone"}, "invalid_client_id", "client identifier invalid", id="issuer"),
        pytest.param({"sub": "other@x"}, "invalid_grant", "authentication failure", id="subject"),
        pytest.param({"aud": "https://evil.example"}, "invalid_grant", "audience is invalid", id="audience"),
        pytest.param({"exp": int(time.time()) - 10}, "invalid_grant", "expired authorization code", id="expired"),
        pytest.param({"exp": int(time.time()) + 3600}, "invalid_grant", "invalid assertion", id="too-long"),
    ],
)  # fmt: skip
def test_jwt_claims(
    sandbox_server: SandboxServer,
    private_key: Path,
    claims: dict[str, Any],
    error: str | None,
    description: str | None,
) -> None:
    """The JWT bearer grant checks iss, sub, aud and exp, and answers Salesforce's errors."""
    answer = requests.post(
        f"{sandbox_server.url}/services/oauth2/token",
        data={"grant_type": "urn:ietf:params:oauth:grant-type:jwt-bearer",
              "assertion": _assertion(private_key, **claims)},
        timeout=10,
    )  # fmt: skip
    body = answer.json()
    if error is None:
        assert answer.status_code == 200
        assert set(body) == {"access_token", "instance_url", "id", "token_type", "issued_at",
                             "signature"}  # fmt: skip
        assert body["instance_url"] == sandbox_server.url.replace("http://", "https://")
        assert body["token_type"] == "Bearer"
    else:
        assert answer.status_code == 400
        assert body == {"error": error, "error_description": description}


@pytest.mark.parametrize(
    "assertion",
    [
        pytest.param("not-a-jwt", id="one-part"),
        pytest.param("a.b.c", id="garbage-parts"),
        pytest.param(
            base64.urlsafe_b64encode(json.dumps({"alg": "none"}).encode()).decode() + ".e30.",
            id="unsigned",
        ),
    ],
)
def test_malformed_jwt(sandbox_server: SandboxServer, assertion: str) -> None:
    """A JWT that is not a signed three-part token is invalid_grant."""
    answer = requests.post(
        f"{sandbox_server.url}/services/oauth2/token",
        data={"grant_type": "urn:ietf:params:oauth:grant-type:jwt-bearer", "assertion": assertion},
        timeout=10,
    )
    assert (answer.status_code, answer.json()["error"]) == (400, "invalid_grant")


def test_unsupported_grant(sandbox_server: SandboxServer) -> None:
    """An unknown grant type is unsupported_grant_type."""
    answer = requests.post(
        f"{sandbox_server.url}/services/oauth2/token", data={"grant_type": "magic"}, timeout=10
    )
    assert answer.json()["error"] == "unsupported_grant_type"


def test_soap_login_response_shape(sandbox_server: SandboxServer) -> None:
    """The SOAP answer has unprefixed serverUrl and sessionId in the partner namespace."""
    envelope = (
        '<?xml version="1.0" encoding="utf-8" ?><env:Envelope '
        'xmlns:env="http://schemas.xmlsoap.org/soap/envelope/"><env:Body>'
        '<n1:login xmlns:n1="urn:partner.soap.sforce.com"><n1:username>SANDBOX@partnersync.test'
        "</n1:username><n1:password>sandbox</n1:password></n1:login></env:Body></env:Envelope>"
    )
    answer = requests.post(
        f"{sandbox_server.url}/services/Soap/u/59.0", data=envelope,
        headers={"content-type": "text/xml", "SOAPAction": "login"}, timeout=10,
    )  # fmt: skip
    assert answer.status_code == 200
    text = answer.text
    host = sandbox_server.url.removeprefix("http://")
    assert 'xmlns="urn:partner.soap.sforce.com"' in text
    assert f"<serverUrl>https://{host}/services/Soap/u/59.0/" in text
    assert "<sessionId>00DSANDBOX!" in text


def test_transport_routes_login_hosts(sandbox_server: SandboxServer) -> None:
    """session_for sends login.salesforce.com and extra login hosts to the sandbox over http."""
    session, url = session_for(
        sandbox_server.url, login_domain="login", login_hosts=["acme.my.salesforce.com"]
    )
    assert url.startswith("https://")
    for host in ("login.salesforce.com", "acme.my.salesforce.com"):
        answer = session.post(f"https://{host}/services/oauth2/token", data={}, timeout=10)
        assert answer.json()["error"] == "unsupported_grant_type"
