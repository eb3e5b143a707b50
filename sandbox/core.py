"""The sandbox's shared state: configuration, clock, sessions, call statistics and limits.

One :class:`Sandbox` holds a Salesforce org and a HubSpot portal in memory. Both halves
read the clock, the data lock and the fault source from it, so a test can freeze time or
inject faults for the whole emulator at once. Its :class:`WriteJournal` lists every record
write the HTTP APIs accepted, so a test can tell what a client actually wrote.
"""

from __future__ import annotations

import secrets
import threading
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, Literal

from sandbox.knobs import Faults, FaultSpec, RateLimitSpec, RollingWindow
from sandbox.person import PersonInTheCrm

if TYPE_CHECKING:
    from sandbox.hubspot.portal import HubSpotPortal
    from sandbox.salesforce.org import SalesforceOrg

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
    """Knobs and credentials of one sandbox."""

    latency_ms: float = 0.0
    faults: FaultSpec = field(default_factory=FaultSpec)
    hubspot_rate: RateLimitSpec | None = None
    hubspot_daily_limit: int = 1_000_000
    salesforce_daily_limit: int = 5_000_000
    static_token: str = STATIC_TOKEN
    salesforce_username: str = "sandbox@partnersync.test"
    salesforce_password: str = "sandbox"
    salesforce_security_token: str = ""
    salesforce_client_id: str = "sandbox"
    salesforce_client_secret: str = "sandbox"
    hubspot_client_id: str = "sandbox"
    hubspot_client_secret: str = "sandbox"
    hubspot_refresh_token: str = "sandbox-refresh"


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

        self.config = config or SandboxConfig()
        self.clock: Callable[[], datetime] = clock or utc_now
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

    def _apply(self, config: SandboxConfig) -> None:
        self.faults = Faults(config.faults)
        self.sessions = Sessions(config.static_token, config.faults.expire_session_after)
        self.hubspot_window = RollingWindow(config.hubspot_rate) if config.hubspot_rate else None

    def reconfigure(self, **changes: Any) -> SandboxConfig:
        """Change knobs at run time (latency, faults, limits); sessions are re-issued."""
        self.config = replace(self.config, **changes)
        self._apply(self.config)
        return self.config

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
