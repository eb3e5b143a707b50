"""The sandbox's shared state: configuration, clock, sessions, call statistics and limits.

One :class:`Sandbox` holds a Salesforce org and a HubSpot portal in memory. Both halves
read the clock, the data lock and the fault source from it, so a test can freeze time or
inject faults for the whole emulator at once. Its :class:`WriteJournal` lists every record
write the HTTP APIs accepted, so a test can tell what a client actually wrote; its
:class:`~sandbox.webhooks.Webhooks` sends the CRMs' change notifications.

Knobs of :class:`SandboxConfig` (library default / ``partnersync sandbox`` default):

- ``latency_ms`` (0 / 0): milliseconds added to every API call;
- ``faults`` (none / none): injected faults, see :mod:`sandbox.knobs`;
- ``hubspot_rate`` (none / none): the account's rolling limit (``100/10s``), over it a
  429 with ``policyName`` ``TEN_SECONDLY_ROLLING``;
- ``hubspot_search_rate`` (none / ``5/1s``): the search endpoints' limit per access
  token, over it a 429 with ``policyName`` ``SECONDLY``;
- ``hubspot_daily_limit`` / ``salesforce_daily_limit`` (1,000,000 / 5,000,000): calls a
  day, then a 429 ``DAILY`` / a 403 ``REQUEST_LIMIT_EXCEEDED`` "TotalRequests";
- ``search_lag_seconds`` (0 / 3): HubSpot search sees a record as it was before any write
  made less than this many real seconds ago (not at all if it was created in that time);
  reads by id, listings and batch reads are never lagged, as on HubSpot;
- ``salesforce_concurrent_limit`` / ``salesforce_long_request_seconds`` (25 / 20 s, both):
  with that many Salesforce requests in flight that have each run longer than that, a new
  one gets 403 ``REQUEST_LIMIT_EXCEEDED`` "ConcurrentRequests" (transient);
- ``hubspot_webhook_url`` (none): where deal events go, signed with
  ``hubspot_client_secret`` (``X-HubSpot-Signature-v3``);
- ``salesforce_outbound_url`` (none) and ``salesforce_organization_id`` (the org's id):
  where Opportunity Outbound Messages go, and the ``OrganizationId`` they carry;
- ``webhook_debounce_seconds`` (0.2), ``webhook_retry_seconds`` (1: the first gap
  before a retry, doubling after each failure, at most 60) and ``webhook_attempts`` (10).

A knob out of range raises :class:`~sandbox.knobs.FaultSpecError` naming it, from the
constructor and from :meth:`Sandbox.reconfigure` alike.
"""

from __future__ import annotations

import secrets
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, Literal

from sandbox.knobs import (
    Faults,
    FaultSpec,
    FaultSpecError,
    RateLimitSpec,
    RollingWindow,
    check_count,
    check_org_id,
    check_seconds,
    check_url,
)
from sandbox.limits import LongRequests, SearchLimiter
from sandbox.person import PersonInTheCrm
from sandbox.salesforce.ids import ORG_ID

if TYPE_CHECKING:
    from sandbox.hubspot.portal import HubSpotPortal
    from sandbox.salesforce.org import SalesforceOrg
    from sandbox.webhooks import Webhooks

__all__ = [
    "Api",
    "Sandbox",
    "SandboxConfig",
    "Sessions",
    "Stats",
    "TokenState",
    "WriteAction",
    "WriteEvent",
    "WriteJournal",
]

Api = Literal["salesforce", "hubspot"]
TokenState = Literal["ok", "expired", "invalid"]
WriteAction = Literal["create", "update", "delete"]

#: The token both APIs accept from the start (``session_id`` / ``access_token`` in settings).
STATIC_TOKEN = "sandbox"


@dataclass(frozen=True)
class SandboxConfig:
    """Knobs and credentials of one sandbox (see the module docstring for each knob)."""

    latency_ms: float = 0.0
    faults: FaultSpec = field(default_factory=FaultSpec)
    hubspot_rate: RateLimitSpec | None = None
    hubspot_search_rate: RateLimitSpec | None = None
    hubspot_daily_limit: int = 1_000_000
    salesforce_daily_limit: int = 5_000_000
    search_lag_seconds: float = 0.0
    salesforce_concurrent_limit: int = 25
    salesforce_long_request_seconds: float = 20.0
    hubspot_webhook_url: str | None = None
    salesforce_outbound_url: str | None = None
    salesforce_organization_id: str = ORG_ID
    webhook_debounce_seconds: float = 0.2
    webhook_retry_seconds: float = 1.0
    webhook_attempts: int = 10
    static_token: str = STATIC_TOKEN
    salesforce_username: str = "sandbox@partnersync.test"
    salesforce_password: str = "sandbox"
    salesforce_security_token: str = ""
    salesforce_client_id: str = "sandbox"
    salesforce_client_secret: str = "sandbox"
    hubspot_client_id: str = "sandbox"
    hubspot_client_secret: str = "sandbox"
    hubspot_refresh_token: str = "sandbox-refresh"

    def __post_init__(self) -> None:
        check_seconds("search_lag_seconds", self.search_lag_seconds)
        check_count("salesforce_concurrent_limit", self.salesforce_concurrent_limit)
        check_seconds("salesforce_long_request_seconds", self.salesforce_long_request_seconds)
        check_url("hubspot_webhook_url", self.hubspot_webhook_url)
        check_url("salesforce_outbound_url", self.salesforce_outbound_url)
        check_org_id("salesforce_organization_id", self.salesforce_organization_id)
        check_seconds("webhook_debounce_seconds", self.webhook_debounce_seconds)
        check_seconds("webhook_retry_seconds", self.webhook_retry_seconds, positive=True)
        check_count("webhook_attempts", self.webhook_attempts)
        for name in ("hubspot_rate", "hubspot_search_rate"):
            if not isinstance(getattr(self, name), RateLimitSpec | None):
                raise FaultSpecError(f"{name}: expected a RateLimitSpec (see parse_rate)")


class Sessions:
    """Valid session ids / access tokens per API, each with an optional life in calls."""

    def __init__(self, static_token: str, life_calls: int | None) -> None:
        self._lock = threading.Lock()
        self._life = life_calls
        self._remaining: dict[tuple[Api, str], int | None] = {
            ("salesforce", static_token): life_calls,
            ("hubspot", static_token): life_calls,
        }

    def issue(self, api: Api) -> str:
        """A fresh token for ``api`` (what a login or token refresh hands out)."""
        prefix = "00DSANDBOX!" if api == "salesforce" else "pat-sandbox-"
        token = prefix + secrets.token_urlsafe(24)
        with self._lock:
            self._remaining[(api, token)] = self._life
        return token

    def use(self, api: Api, token: str | None) -> TokenState:
        """Spend one call of ``token``: ``ok``, ``expired`` (life used up) or ``invalid``."""
        if not token:
            return "invalid"
        with self._lock:
            key = (api, token)
            if key not in self._remaining:
                return "invalid"
            left = self._remaining[key]
            if left is None:
                return "ok"
            if left <= 0:
                return "expired"
            self._remaining[key] = left - 1
            return "ok"

    def expire_all(self, api: Api | None = None) -> None:
        """Expire every token (of one API, or of both): the next call answers 401."""
        with self._lock:
            for key in self._remaining:
                if api is None or key[0] == api:
                    self._remaining[key] = 0


class Stats:
    """Call counters per endpoint (``"METHOD /route/template"``) and per API."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._calls: Counter[str] = Counter()
        self._errors: Counter[str] = Counter()
        self._apis: Counter[str] = Counter()

    def record(self, api: str, endpoint: str, status: int) -> None:
        with self._lock:
            self._calls[endpoint] += 1
            self._apis[api] += 1
            if status >= 400:
                self._errors[endpoint] += 1

    def count(self, endpoint: str | None = None, *, api: str | None = None) -> int:
        """Calls to one endpoint, to one API, or in all."""
        with self._lock:
            if endpoint is not None:
                return self._calls[endpoint]
            if api is not None:
                return self._apis[api]
            return sum(self._apis.values())

    def snapshot(self) -> dict[str, Any]:
        with self._lock:
            return {
                "total": sum(self._apis.values()),
                "apis": dict(self._apis),
                "endpoints": {
                    key: {"calls": calls, "errors": self._errors[key]}
                    for key, calls in sorted(self._calls.items())
                },
            }

    def reset(self) -> None:
        with self._lock:
            self._calls.clear()
            self._errors.clear()
            self._apis.clear()


@dataclass(frozen=True, slots=True)
class WriteEvent:
    """One record write an HTTP API call made (one per record of a batch that succeeded).

    ``object`` is the sObject (``Opportunity``) or HubSpot object type (``deals``);
    ``values`` are the fields / properties exactly as the request gave them for this
    record, without the key naming it (``attributes``, ``id``, an upsert's external id or
    ``idProperty`` value), and ``{}`` for a delete (HubSpot: archive). ``at`` is the
    sandbox clock at the write.
    """

    api: Api
    object: str
    record_id: str
    values: dict[str, Any]
    at: datetime
    action: WriteAction


class WriteJournal:
    """Append-only, thread-safe list of :class:`WriteEvent` (API writes only: the Python
    API used by seeding and tests' manual edits is not journaled)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._events: list[WriteEvent] = []

    def extend(self, events: Iterable[WriteEvent]) -> None:
        """Append the events of one API call, in order."""
        with self._lock:
            self._events.extend(events)

    def events(self, api: Api | None = None) -> list[WriteEvent]:
        """A copy of the events (of one API, or of both), oldest first."""
        with self._lock:
            if api is None:
                return list(self._events)
            return [e for e in self._events if e.api == api]

    def count(self, api: Api | None = None) -> int:
        """How many events there are (of one API, or of both)."""
        with self._lock:
            if api is None:
                return len(self._events)
            return sum(1 for e in self._events if e.api == api)

    def clear(self) -> None:
        """Forget every event (e.g. after seeding through the API, before the act)."""
        with self._lock:
            self._events.clear()

    def __len__(self) -> int:
        return self.count()


def utc_now() -> datetime:
    """The wall clock, UTC-aware."""
    return datetime.now(UTC)


class Sandbox(PersonInTheCrm):
    """One in-memory Salesforce org plus one HubSpot portal, and the knobs around them;
    :class:`~sandbox.person.PersonInTheCrm` gives what people do in the CRMs' screens."""

    def __init__(
        self,
        config: SandboxConfig | None = None,
        clock: Callable[[], datetime] | None = None,
    ) -> None:
        from sandbox.hubspot.portal import HubSpotPortal
        from sandbox.salesforce.org import SalesforceOrg
        from sandbox.webhooks import Webhooks

        self.config = config or SandboxConfig()
        self.clock: Callable[[], datetime] = clock or utc_now
        #: Real elapsed seconds: the search index lag counts on it (tests may replace it).
        self.monotonic: Callable[[], float] = time.monotonic
        #: Where the sandbox is served (``http://host:port``), once a server knows it.
        self.url: str | None = None
        #: Salesforce API requests in flight (the concurrent long-running request limit).
        self.in_flight = LongRequests(lambda: self.monotonic())
        #: Guards the org and the portal; held for the length of one API operation.
        self.lock = threading.RLock()
        self.stats = Stats()
        #: Every record write the HTTP APIs accepted (see :class:`WriteJournal`).
        self.journal = WriteJournal()
        self._usage_lock = threading.Lock()
        self.api_usage: Counter[str] = Counter()
        self._apply(self.config)
        self.salesforce: SalesforceOrg = SalesforceOrg(self)
        self.hubspot: HubSpotPortal = HubSpotPortal(self)
        #: Change notifications: HubSpot webhooks and Salesforce Outbound Messages.
        self.webhooks: Webhooks = Webhooks(self)

    def _apply(self, config: SandboxConfig) -> None:
        self.faults = Faults(config.faults)
        self.sessions = Sessions(config.static_token, config.faults.expire_session_after)
        self.hubspot_window = RollingWindow(config.hubspot_rate) if config.hubspot_rate else None
        self.search_limiter = SearchLimiter(config.hubspot_search_rate)

    def reconfigure(self, **changes: Any) -> SandboxConfig:
        """Change knobs at run time (latency, faults, limits, webhooks); sessions are
        re-issued. A bad value raises :class:`~sandbox.knobs.FaultSpecError` and changes
        nothing."""
        config = replace(self.config, **changes)
        self.config = config
        self._apply(config)
        return config

    def close(self, timeout: float = 5.0) -> None:
        """Stop sending webhooks (the delivery thread ends within ``timeout`` seconds);
        undelivered events are dropped. A later change starts delivery again."""
        self.webhooks.close(timeout)

    def now(self) -> datetime:
        """The sandbox clock (UTC-aware); tests may replace :attr:`clock`."""
        value = self.clock()
        if value.tzinfo is None:
            raise ValueError("the sandbox clock must return UTC-aware datetimes")
        return value.astimezone(UTC)

    def count_usage(self, api: Api) -> int:
        """Count one call against the API's daily allocation; returns the calls so far."""
        with self._usage_lock:
            self.api_usage[api] += 1
            return self.api_usage[api]

    def journal_events(self, api: Api | None = None) -> list[WriteEvent]:
        """A copy of the write journal (of one API, or of both), oldest first."""
        return self.journal.events(api)
