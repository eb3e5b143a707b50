"""Retries inside a connector, for seconds-long trouble: tenacity, honouring ``Retry-After``.

Transient failures (5xx, network, record locks) and rate limits are retried with bounded
attempts; the wait is the CRM's ``Retry-After`` when it gave one, else exponential backoff
with jitter. Quota exhaustion, configuration errors and rejected records are never retried
here: the message-level retry (the queue) or a person deals with those.
"""

from __future__ import annotations

import threading
import time
from collections import Counter
from collections.abc import Callable
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass, field
from typing import Protocol, TypeVar

from tenacity import RetryCallState, Retrying, retry_if_exception, stop_after_attempt
from tenacity.wait import wait_exponential_jitter

from connectors.errors import RateLimited, Transient

__all__ = [
    "CallGate",
    "CountedCalls",
    "RetryPolicy",
    "call_with_retries",
    "is_retryable",
    "no_gate",
]

T = TypeVar("T")
_COUNT_LOCK = threading.Lock()


@dataclass(frozen=True)
class RetryPolicy:
    """How long a connector keeps trying one call (``attempts`` in all; seconds of wait)."""

    attempts: int = 6
    initial_wait: float = 0.5
    max_wait: float = 30.0
    sleep: Callable[[float], None] = field(default=time.sleep, compare=False)


def is_retryable(exc: BaseException) -> bool:
    """Transient errors and rate limits (an exhausted daily quota is neither)."""
    return isinstance(exc, Transient | RateLimited)


def call_with_retries(
    policy: RetryPolicy,
    call: Callable[[], T],
    on_retry: Callable[[BaseException, int, float], None] | None = None,
) -> T:
    """Run ``call`` with retries per ``policy``; the last error is re-raised as it was."""
    backoff = wait_exponential_jitter(multiplier=policy.initial_wait, max=policy.max_wait)

    def wait(state: RetryCallState) -> float:
        exc = state.outcome.exception() if state.outcome else None
        retry_after = getattr(exc, "retry_after", None)
        if retry_after is not None:
            return float(min(max(retry_after, 0.0), policy.max_wait))
        return float(backoff(state))

    def before_sleep(state: RetryCallState) -> None:
        exc = state.outcome.exception() if state.outcome else None
        if on_retry is not None and exc is not None:
            sleep = state.next_action.sleep if state.next_action else 0.0
            on_retry(exc, state.attempt_number, sleep)

    retrying = Retrying(
        retry=retry_if_exception(is_retryable),
        wait=wait,
        stop=stop_after_attempt(policy.attempts),
        sleep=policy.sleep,
        before_sleep=before_sleep,
        reraise=True,
    )
    return retrying(call)


class CallGate(Protocol):
    """Where a call waits for limits shared beyond this connector (every worker of a
    daemon together): given the CRM and the kind of call (``call``, ``search``), a
    context manager held for the call's length."""

    def __call__(self, crm: str, kind: str) -> AbstractContextManager[None]: ...


def no_gate(crm: str, kind: str) -> AbstractContextManager[None]:
    """No shared limit: the connector's own retries on 429 are all."""
    return nullcontext()


class CountedCalls:
    """Call counting and translated, retried calls: what every adapter does around a call.

    Subclasses set ``_calls = 0``, ``retries = 0`` and ``endpoint_calls = Counter()`` and
    pass their ``translate``.
    """

    _calls: int
    retries: int
    #: API calls made so far by endpoint (``deals/search``, ``query``...).
    endpoint_calls: Counter[str]
    crm: str
    #: Waits, before each call, for the limits every worker shares (see :class:`CallGate`).
    gate: CallGate = staticmethod(no_gate)

    @property
    def calls(self) -> int:
        """API calls made so far (each retry is a call)."""
        return self._calls

    def _note_retry(self, exc: BaseException, attempt: int, wait: float) -> None:
        self.retries += 1

    def _retried(
        self,
        policy: RetryPolicy,
        call: Callable[[], T],
        translate: Callable[[Exception], BaseException],
        kind: str = "call",
        endpoint: str = "other",
    ) -> T:
        """``call`` counted (in all and by ``endpoint``), its errors translated, retried per
        ``policy``; each attempt waits at the gate first (``kind``: ``call``, or ``search``
        for a search)."""

        def attempt() -> T:
            with _COUNT_LOCK:  # writers may call from several threads
                self._calls += 1
                self.endpoint_calls[endpoint] += 1
            try:
                with self.gate(self.crm, kind):
                    return call()
            except Exception as exc:
                raise translate(exc) from exc

        return call_with_retries(policy, attempt, self._note_retry)
