"""HTTP transport for Salesforce instance URLs that are not ``https://``.

simple-salesforce builds every URL as ``https://{instance}/...`` and logs in at
``https://{domain}.salesforce.com``. To reach an ``http://`` instance (the CRM sandbox, or
a test double on loopback) we mount an adapter that sends those requests over plain http
to that instance, rather than patching the library. The login hosts can be routed the same
way, so that a client logging in (and re-logging in when its session expires) reaches the
sandbox's ``/services/oauth2/token`` and ``/services/Soap/u/{version}``.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import requests
from requests.adapters import HTTPAdapter

__all__ = ["PlainHttpAdapter", "session_for"]


class PlainHttpAdapter(HTTPAdapter):
    """Sends ``https://`` requests for the mapped hosts over plain http to their targets.

    ``hosts`` maps a requested ``host[:port]`` to the ``host:port`` that serves it.
    """

    def __init__(self, hosts: Mapping[str, str], **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.hosts = dict(hosts)

    def send(self, request: requests.PreparedRequest, **kwargs: Any) -> requests.Response:  # type: ignore[override]
        if request.url:
            parts = urlsplit(request.url)
            target = self.hosts.get(parts.netloc)
            if parts.scheme == "https" and target is not None:
                request.url = urlunsplit(("http", target, *parts[2:]))
        return super().send(request, **kwargs)


def session_for(
    instance_url: str,
    login_domain: str | None = None,
    pool_maxsize: int = 10,
    login_hosts: Iterable[str] = (),
) -> tuple[requests.Session, str]:
    """A session that can reach ``instance_url``, and the ``https://`` URL to give the client.

    For an ``https://`` URL this is a plain session and the URL unchanged. For ``http://``
    the session sends requests for that host to it over plain http, and so it does for
    the login hosts: ``{login_domain}.salesforce.com`` and every host in ``login_hosts``
    (e.g. ``login.salesforce.com`` and a My Domain ``acme.my.salesforce.com``, for
    clients that log in with a password, OAuth or a JWT, and renew expired sessions).
    """
    parts = urlsplit(instance_url)
    session = requests.Session()
    if parts.scheme != "http":
        return session, instance_url
    hosts = {parts.netloc: parts.netloc}
    if login_domain:
        hosts[f"{login_domain}.salesforce.com"] = parts.netloc
    for host in login_hosts:
        hosts[host] = parts.netloc
    session.mount("https://", PlainHttpAdapter(hosts, pool_maxsize=pool_maxsize))
    return session, urlunsplit(("https", *parts[1:]))
