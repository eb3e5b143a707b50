"""Salesforce logins, so that an expired session can be renewed: OAuth 2.0 and SOAP.

``POST /services/oauth2/token`` takes the ``password``, ``client_credentials`` (HTTP Basic
client id and secret) and JWT bearer grants; ``POST /services/Soap/u/{version}`` the
partner ``login`` envelope simple-salesforce sends for username / password / security
token. Both answer with a new session id from the sandbox and an instance URL pointing back
at the host:port that was called, with the ``https`` scheme the client expects (the client
reaches it through ``connectors.transport``'s rewrite). The sandbox trusts every IP, so a
password is accepted with or without the security token appended.

The JWT bearer grant checks the assertion's structure (three base64url parts, ``RS256``)
and its claims: ``iss`` is the client id, ``sub`` the username, ``aud`` a Salesforce login
URL (or the sandbox itself), ``exp`` in the future and at most five minutes away. The
signature is NOT verified: that needs the certificate uploaded to the connected app,
which the sandbox is not configured with.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import re
import time
from typing import Any
from urllib.parse import parse_qsl
from xml.sax.saxutils import escape, unescape

import orjson
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from sandbox.core import Sandbox, SandboxConfig
from sandbox.responses import json_response
from sandbox.salesforce.ids import ORG_ID, USER_ID

__all__ = ["auth_routes"]

JWT_GRANT = "urn:ietf:params:oauth:grant-type:jwt-bearer"
_MAX_JWT_LIFETIME = 300  # seconds between now and a JWT's exp that Salesforce tolerates
_AUDIENCE = re.compile(r"https://([a-z0-9-]+\.)*(salesforce|force)\.com/?")
_XML_ENTITIES = {"&quot;": '"', "&apos;": "'"}
_FAULT = (
    '<?xml version="1.0" encoding="UTF-8"?>'
    '<soapenv:Envelope xmlns:soapenv="http://schemas.xmlsoap.org/soap/envelope/" '
    'xmlns:sf="urn:fault.partner.soap.sforce.com" '
    'xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance"><soapenv:Body><soapenv:Fault>'
    "<faultcode>sf:INVALID_LOGIN</faultcode><faultstring>INVALID_LOGIN: Invalid username, "
    "password, security token; or user locked out.</faultstring><detail>"
    '<sf:LoginFault xsi:type="sf:LoginFault"><sf:exceptionCode>INVALID_LOGIN</sf:exceptionCode>'
    "<sf:exceptionMessage>Invalid username, password, security token; or user locked out."
    "</sf:exceptionMessage></sf:LoginFault></detail></soapenv:Fault></soapenv:Body>"
    "</soapenv:Envelope>"
)


class _Refused(Exception):
    """An OAuth failure: the ``error`` and ``error_description`` Salesforce sends."""

    def __init__(self, error: str, description: str) -> None:
        super().__init__(description)
        self.error = error
        self.description = description


def _instance(request: Request) -> str:
    """``https://host:port`` of the sandbox as the client called it."""
    return f"https://{request.headers.get('host') or request.url.netloc}"


def _password_ok(config: SandboxConfig, username: str | None, password: str | None) -> bool:
    accepted = (
        config.salesforce_password,
        config.salesforce_password + config.salesforce_security_token,
    )
    return (
        username is not None
        and username.casefold() == config.salesforce_username.casefold()
        and password in accepted
    )


def _b64json(part: str) -> Any:
    return orjson.loads(base64.urlsafe_b64decode(part + "=" * (-len(part) % 4)))


def _check_jwt(config: SandboxConfig, assertion: str, instance: str) -> None:
    """Structure and claims of a JWT bearer assertion (not its signature; see module doc)."""
    parts = assertion.split(".")
    try:
        header, claims = _b64json(parts[0]), _b64json(parts[1])
    except (IndexError, ValueError, binascii.Error):
        raise _Refused("invalid_grant", "invalid assertion") from None
    if (
        len(parts) != 3
        or not parts[2]
        or not isinstance(header, dict)
        or not isinstance(claims, dict)
    ):
        raise _Refused("invalid_grant", "invalid assertion")
    if header.get("alg") != "RS256":
        raise _Refused("invalid_grant", "invalid assertion")
    if claims.get("iss") != config.salesforce_client_id:
        raise _Refused("invalid_client_id", "client identifier invalid")
    audience = str(claims.get("aud", ""))
    if not (_AUDIENCE.fullmatch(audience) or audience.rstrip("/") == instance):
        raise _Refused("invalid_grant", "audience is invalid")
    try:
        expires = float(claims.get("exp", ""))
    except (TypeError, ValueError):
        raise _Refused("invalid_grant", "invalid assertion") from None
    now = time.time()  # the client signs with the wall clock, not the sandbox's
    if expires <= now:
        raise _Refused("invalid_grant", "expired authorization code")
    if expires > now + _MAX_JWT_LIFETIME:
        raise _Refused("invalid_grant", "invalid assertion")
    subject = claims.get("sub")
    if not isinstance(subject, str) or subject.casefold() != config.salesforce_username.casefold():
        raise _Refused("invalid_grant", "authentication failure")


def _basic_client(request: Request) -> tuple[str, str] | None:
    kind, _, encoded = request.headers.get("authorization", "").partition(" ")
    if kind.casefold() != "basic":
        return None
    try:
        client_id, _, secret = base64.b64decode(encoded, validate=True).decode().partition(":")
    except (binascii.Error, UnicodeDecodeError):
        return None
    return client_id, secret


def _check_client(config: SandboxConfig, client_id: str | None, secret: str | None) -> None:
    if client_id != config.salesforce_client_id:
        raise _Refused("invalid_client_id", "client identifier invalid")
    if secret != config.salesforce_client_secret:
        raise _Refused("invalid_client", "invalid client credentials")


def _authenticate(config: SandboxConfig, request: Request, form: dict[str, str]) -> None:
    """Raise :class:`_Refused` unless the token request's grant is good."""
    grant = form.get("grant_type", "")
    if grant == "password":
        _check_client(config, form.get("client_id"), form.get("client_secret"))
        if not _password_ok(config, form.get("username"), form.get("password")):
            raise _Refused("invalid_grant", "authentication failure")
    elif grant == "client_credentials":
        client = _basic_client(request) or (form.get("client_id"), form.get("client_secret"))
        _check_client(config, *client)
    elif grant == JWT_GRANT:
        _check_jwt(config, form.get("assertion", ""), _instance(request))
    else:
        raise _Refused("unsupported_grant_type", "grant type not supported")


def _element(xml: str, name: str) -> str | None:
    """The text of the first ``<name>`` (any namespace prefix) in ``xml``, unescaped."""
    match = re.search(rf"<(?:[\w-]+:)?{name}(?:\s[^>]*)?>(.*?)</(?:[\w-]+:)?{name}>", xml, re.S)
    return None if match is None else unescape(match.group(1), _XML_ENTITIES)


def _login_response(instance: str, version: str, session_id: str, config: SandboxConfig) -> str:
    org = ORG_ID[:15]
    server = escape(f"{instance}/services/Soap/u/{version}/{org}")
    metadata = escape(f"{instance}/services/Soap/m/{version}/{org}")
    return (
        '<?xml version="1.0" encoding="UTF-8"?><soapenv:Envelope '
        'xmlns:soapenv="http://schemas.xmlsoap.org/soap/envelope/" '
        'xmlns="urn:partner.soap.sforce.com" '
        'xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance"><soapenv:Body><loginResponse>'
        f"<result><metadataServerUrl>{metadata}</metadataServerUrl>"
        "<passwordExpired>false</passwordExpired><sandbox>true</sandbox>"
        f"<serverUrl>{server}</serverUrl><sessionId>{escape(session_id)}</sessionId>"
        f"<userId>{USER_ID}</userId><userInfo><currencySymbol>$</currencySymbol>"
        f"<organizationId>{ORG_ID}</organizationId><organizationName>partnersync sandbox"
        "</organizationName><sessionSecondsValid>7200</sessionSecondsValid>"
        f"<userEmail>{escape(config.salesforce_username)}</userEmail>"
        f"<userFullName>Integration User</userFullName><userId>{USER_ID}</userId>"
        f"<userName>{escape(config.salesforce_username)}</userName>"
        "<userTimeZone>GMT</userTimeZone></userInfo></result></loginResponse>"
        "</soapenv:Body></soapenv:Envelope>"
    )


def auth_routes(sandbox: Sandbox) -> list[BaseRoute]:
    """The login endpoints of ``sandbox`` (never gated by the session middleware)."""

    async def token(request: Request) -> Response:
        config = sandbox.config
        form = dict(parse_qsl((await request.body()).decode("utf-8", "replace")))
        try:
            _authenticate(config, request, form)
        except _Refused as refused:
            return json_response(
                {"error": refused.error, "error_description": refused.description}, 400
            )
        instance = _instance(request)
        identity = f"{instance}/id/{ORG_ID}/{USER_ID}"
        issued_at = str(int(sandbox.now().timestamp() * 1000))
        digest = hmac.new(
            config.salesforce_client_secret.encode(),
            (identity + issued_at).encode(),
            hashlib.sha256,
        ).digest()
        return json_response(
            {
                "access_token": sandbox.sessions.issue("salesforce"),
                "instance_url": instance,
                "id": identity,
                "token_type": "Bearer",
                "issued_at": issued_at,
                "signature": base64.b64encode(digest).decode(),
            }
        )

    async def soap_login(request: Request) -> Response:
        config = sandbox.config
        body = (await request.body()).decode("utf-8", "replace")
        if not _password_ok(config, _element(body, "username"), _element(body, "password")):
            return Response(_FAULT, status_code=500, media_type="text/xml")
        answer = _login_response(
            _instance(request),
            str(request.path_params["version"]),
            sandbox.sessions.issue("salesforce"),
            config,
        )
        return Response(answer, media_type="text/xml")

    return [
        Route("/services/oauth2/token", token, methods=["POST"]),
        Route("/services/Soap/u/{version}", soap_login, methods=["POST"]),
    ]
