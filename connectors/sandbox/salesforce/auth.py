"""Salesforce logins, so an expired session can be renewed: OAuth 2.0 token and SOAP login.

``POST /services/oauth2/token`` accepts the password, client-credentials and JWT-bearer
grants; ``POST /services/Soap/u/{version}`` the partner ``login`` envelope. Both hand out
new session ids from the sandbox. The JWT bearer grant checks the assertion's structure and
claims (``iss`` = client id, ``sub`` = username, ``aud``, ``exp``); its signature cannot be
verified without the org's certificate, which the sandbox does not hold.
"""

from __future__ import annotations

import base64
import binascii
import json
import re
import time
from typing import Any
from urllib.parse import parse_qs
from xml.sax.saxutils import escape

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from connectors.sandbox.core import Sandbox
from connectors.sandbox.responses import json_response

__all__ = ["auth_routes"]


def _b64json(part: str) -> Any:
    padded = part + "=" * (-len(part) % 4)
    return json.loads(base64.urlsafe_b64decode(padded))


def auth_routes(sandbox: Sandbox) -> list[BaseRoute]:
    """The login endpoints of ``sandbox``."""
    cfg = sandbox.config

    def _instance(request: Request) -> str:
        return f"https://{request.headers.get('host', request.url.netloc)}"

    def _granted(request: Request) -> Response:
        token = sandbox.sessions.issue("salesforce")
        instance = _instance(request)
        return json_response(
            {
                "access_token": token,
                "instance_url": instance,
                "id": f"{instance}/id/00DSANDBOX/005SANDBOX",
                "token_type": "Bearer",
                "issued_at": str(int(time.time() * 1000)),
                "signature": "sandbox",
            }
        )

    def _refused(description: str = "authentication failure") -> Response:
        return json_response({"error": "invalid_grant", "error_description": description}, 400)

    async def token(request: Request) -> Response:
        form = {
            k: v[-1] for k, v in parse_qs((await request.body()).decode("utf-8", "replace")).items()
        }
        grant = str(form.get("grant_type", ""))
        if grant == "password":
            ok = (
                form.get("client_id") == cfg.salesforce_client_id
                and form.get("client_secret") == cfg.salesforce_client_secret
                and form.get("username") == cfg.salesforce_username
                and form.get("password")
                in (
                    cfg.salesforce_password,
                    cfg.salesforce_password + cfg.salesforce_security_token,
                )
            )
            return _granted(request) if ok else _refused()
        if grant == "client_credentials":
            kind, _, encoded = request.headers.get("authorization", "").partition(" ")
            try:
                pair = base64.b64decode(encoded).decode() if kind.lower() == "basic" else ""
            except (binascii.Error, UnicodeDecodeError):
                pair = ""
            if not pair:
                pair = f"{form.get('client_id', '')}:{form.get('client_secret', '')}"
            ok = pair == f"{cfg.salesforce_client_id}:{cfg.salesforce_client_secret}"
            return _granted(request) if ok else _refused("invalid client credentials")
        if grant == "urn:ietf:params:oauth:grant-type:jwt-bearer":
            parts = str(form.get("assertion", "")).split(".")
            try:
                header, claims = _b64json(parts[0]), _b64json(parts[1])
            except (IndexError, ValueError, binascii.Error):
                return _refused("invalid assertion")
            ok = (
                len(parts) == 3
                and header.get("alg") == "RS256"
                and claims.get("iss") == cfg.salesforce_client_id
                and claims.get("sub") == cfg.salesforce_username
                and str(claims.get("aud", "")).startswith("https://")
                and float(claims.get("exp", 0)) > time.time()
            )
            return _granted(request) if ok else _refused("invalid assertion")
        return json_response(
            {"error": "unsupported_grant_type", "error_description": "grant type not supported"},
            400,
        )

    async def soap_login(request: Request) -> Response:
        body = (await request.body()).decode("utf-8", "replace")
        username = _element(body, "username")
        password = _element(body, "password")
        expected = (
            cfg.salesforce_password,
            cfg.salesforce_password + cfg.salesforce_security_token,
        )
        if username != cfg.salesforce_username or password not in expected:
            fault = (
                '<?xml version="1.0" encoding="UTF-8"?><soapenv:Envelope xmlns:soapenv='
                '"http://schemas.xmlsoap.org/soap/envelope/" xmlns:sf='
                '"urn:fault.partner.soap.sforce.com"><soapenv:Body><soapenv:Fault>'
                "<faultcode>INVALID_LOGIN</faultcode><faultstring>INVALID_LOGIN: Invalid "
                "username, password, security token; or user locked out.</faultstring>"
                "<detail><sf:LoginFault><sf:exceptionCode>INVALID_LOGIN</sf:exceptionCode>"
                "<sf:exceptionMessage>Invalid username, password, security token; or user "
                "locked out.</sf:exceptionMessage></sf:LoginFault></detail></soapenv:Fault>"
                "</soapenv:Body></soapenv:Envelope>"
            )
            return Response(fault, status_code=500, media_type="text/xml")
        session_id = sandbox.sessions.issue("salesforce")
        version = request.path_params["version"]
        server = f"{_instance(request)}/services/Soap/u/{version}/00DSANDBOX"
        answer = (
            '<?xml version="1.0" encoding="UTF-8"?><soapenv:Envelope xmlns:soapenv='
            '"http://schemas.xmlsoap.org/soap/envelope/" xmlns="urn:partner.soap.sforce.com">'
            "<soapenv:Body><loginResponse><result><metadataServerUrl>"
            f"{escape(server)}</metadataServerUrl><passwordExpired>false</passwordExpired>"
            f"<sandbox>true</sandbox><serverUrl>{escape(server)}</serverUrl>"
            f"<sessionId>{escape(session_id)}</sessionId><userId>005SANDBOX</userId>"
            "</result></loginResponse></soapenv:Body></soapenv:Envelope>"
        )
        return Response(answer, media_type="text/xml")

    return [
        Route("/services/oauth2/token", token, methods=["POST"]),
        Route("/services/Soap/u/{version}", soap_login, methods=["POST"]),
    ]


def _element(xml: str, name: str) -> str | None:
    match = re.search(rf"<(?:\w+:)?{name}>(.*?)</(?:\w+:)?{name}>", xml, re.S)
    if match is None:
        return None
    text = match.group(1)
    for entity, char in (
        ("&lt;", "<"),
        ("&gt;", ">"),
        ("&quot;", '"'),
        ("&apos;", "'"),
        ("&amp;", "&"),
    ):
        text = text.replace(entity, char)
    return text
