"""HubSpot's OAuth token endpoint: a refresh token buys a new access token.

``POST /oauth/v1/token`` with a form body ``grant_type=refresh_token``, ``client_id``,
``client_secret`` and ``refresh_token`` (what ``hs.oauth.tokens_api.create`` sends)
answers ``{"access_token", "refresh_token", "expires_in", "token_type": "bearer"}``. The
new token comes from ``sandbox.sessions``, so it lives as many calls as the
``expire-session-after`` fault allows, like the first one. Refusals are HubSpot's OAuth
errors: 400 ``{"status": "BAD_REFRESH_TOKEN" | "BAD_CLIENT_ID" | ..., "message"}``.
"""

from __future__ import annotations

import uuid
from typing import TYPE_CHECKING
from urllib.parse import parse_qsl

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from sandbox.responses import json_response

if TYPE_CHECKING:
    from sandbox.core import Sandbox

__all__ = ["TOKEN_LIFETIME_SECONDS", "token_route"]

#: ``expires_in`` of an access token, as HubSpot sets it (seconds).
TOKEN_LIFETIME_SECONDS = 1800


def _refusal(status: str, message: str) -> Response:
    return json_response(
        {"status": status, "message": message, "correlationId": str(uuid.uuid4())}, 400
    )


def token_route(sandbox: Sandbox) -> Route:
    """The ``/oauth/v1/token`` route of ``sandbox``."""

    async def token(request: Request) -> Response:
        form = dict(parse_qsl((await request.body()).decode("utf-8", "replace")))
        config = sandbox.config
        grant = form.get("grant_type")
        if grant == "authorization_code":
            return _refusal("BAD_AUTH_CODE", "missing or unknown auth code")
        if grant != "refresh_token":
            return _refusal("BAD_GRANT_TYPE", f"unsupported grant_type: {grant}")
        if form.get("client_id") != config.hubspot_client_id:
            return _refusal("BAD_CLIENT_ID", "missing or unknown client id")
        if form.get("client_secret") != config.hubspot_client_secret:
            return _refusal("BAD_CLIENT_SECRET", "missing or invalid client secret")
        if form.get("refresh_token") != config.hubspot_refresh_token:
            return _refusal("BAD_REFRESH_TOKEN", "missing or unknown refresh token")
        return json_response(
            {
                "access_token": sandbox.sessions.issue("hubspot"),
                "refresh_token": config.hubspot_refresh_token,
                "expires_in": TOKEN_LIFETIME_SECONDS,
                "token_type": "bearer",
            }
        )

    return Route("/oauth/v1/token", token, methods=["POST"])
