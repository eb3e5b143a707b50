"""Salesforce logins (SOAP, OAuth password, client credentials, JWT) and session renewal."""

from __future__ import annotations

from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from simple_salesforce import Salesforce
from simple_salesforce.exceptions import SalesforceAuthenticationFailed, SalesforceExpiredSession

from connectors.sandbox.core import Sandbox
from connectors.sandbox.server import SandboxServer
from connectors.transport import session_for


def client(server: SandboxServer, domain: str = "login", **kwargs: object) -> Salesforce:
    session, _ = session_for(server.url, login_domain=domain)
    return Salesforce(session=session, domain=domain, version="59.0", **kwargs)  # type: ignore[arg-type]


def test_soap_login_and_transparent_renewal(
    sandbox: Sandbox, sandbox_server: SandboxServer
) -> None:
    """A username/password client logs in over SOAP and renews an expired session by itself."""
    sf = client(
        sandbox_server, username="sandbox@partnersync.test", password="sandbox", security_token=""
    )
    assert sf.session_id.startswith("00DSANDBOX!")
    first = sf.session_id
    sf.query("SELECT Id FROM Opportunity")
    sandbox.sessions.expire_all("salesforce")
    sf.query("SELECT Id FROM Opportunity")
    assert sf.session_id != first


def test_bad_password_is_refused(sandbox_server: SandboxServer) -> None:
    """A wrong password is a SOAP fault, SalesforceAuthenticationFailed."""
    with pytest.raises(SalesforceAuthenticationFailed) as info:
        client(
            sandbox_server, username="sandbox@partnersync.test", password="wrong", security_token=""
        )
    assert info.value.code == "INVALID_LOGIN"


def test_oauth_password_grant(sandbox_server: SandboxServer) -> None:
    """Username, password, consumer key and secret log in with the OAuth password grant."""
    sf = client(sandbox_server, username="sandbox@partnersync.test", password="sandbox",
                consumer_key="sandbox", consumer_secret="sandbox")  # fmt: skip
    assert sf.query("SELECT COUNT() FROM Opportunity")["totalSize"] == 0


def test_client_credentials(sandbox_server: SandboxServer) -> None:
    """Client credentials log in at the org's own domain."""
    sf = client(
        sandbox_server,
        domain="partnersync-dev.my",
        consumer_key="sandbox",
        consumer_secret="sandbox",
    )
    assert sf.query("SELECT COUNT() FROM Account")["totalSize"] == 0
    with pytest.raises(SalesforceAuthenticationFailed):
        client(
            sandbox_server,
            domain="partnersync-dev.my",
            consumer_key="sandbox",
            consumer_secret="nope",
        )


def test_jwt_bearer(sandbox_server: SandboxServer, tmp_path: Path) -> None:
    """A JWT signed for the right issuer and subject logs in."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    path = tmp_path / "key.pem"
    path.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                       serialization.NoEncryption()))  # fmt: skip
    sf = client(sandbox_server, username="sandbox@partnersync.test", consumer_key="sandbox",
                privatekey_file=str(path))  # fmt: skip
    assert sf.session_id
    with pytest.raises(SalesforceAuthenticationFailed):
        client(
            sandbox_server,
            username="someone@else",
            consumer_key="sandbox",
            privatekey_file=str(path),
        )


def test_static_session_expiry_is_not_renewed(sandbox: Sandbox, sf: Salesforce) -> None:
    """A client given only a session id gets SalesforceExpiredSession once it expires."""
    sf.query("SELECT Id FROM Opportunity")
    sandbox.sessions.expire_all("salesforce")
    with pytest.raises(SalesforceExpiredSession):
        sf.query("SELECT Id FROM Opportunity")
