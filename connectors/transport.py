"""HTTP transport for Salesforce instance URLs that are not ``https://``.

simple-salesforce builds every URL as ``https://{instance}/...``. To reach an ``http://``
instance (the CRM sandbox, or a test double on loopback) we mount an adapter that rewrites
the scheme of those requests, rather than patching the library.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit, urlunsplit

import requests
from requests.adapters import HTTPAdapter

__all__ = ["PlainHttpAdapter", "session_for"]


class PlainHttpAdapter(HTTPAdapter):
    """Sends ``https://`` requests for the given hosts (``host:port``) over plain ``http``."""

    def __init__(self, hosts: frozenset[str], **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.hosts = hosts

    def send(self, request: requests.PreparedRequest, **kwargs: Any) -> requests.Response:  # type: ignore[override]
        if request.url:
            parts = urlsplit(request.url)
            if parts.scheme == "https" and parts.netloc in self.hosts:
                request.url = urlunsplit(("http", *parts[1:]))
        return super().send(request, **kwargs)


def session_for(instance_url: str, pool_maxsize: int = 10) -> tuple[requests.Session, str]:
    """A session that can reach ``instance_url``, and the ``https://`` URL to give the client.

    For an ``https://`` URL this is a plain session and the URL unchanged. For ``http://``
    the session rewrites requests to that host back to plain http.
    """
    parts = urlsplit(instance_url)
    session = requests.Session()
    if parts.scheme == "http":
        adapter = PlainHttpAdapter(frozenset({parts.netloc}), pool_maxsize=pool_maxsize)
        session.mount("https://", adapter)
        return session, urlunsplit(("https", *parts[1:]))
    return session, instance_url
