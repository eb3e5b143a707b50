"""``Idempotency-Key``: a POST sent again with the same key (by the same API key) gets its
first answer back instead of acting twice: a client that timed out can retry safely.

The key is reserved before the request acts, in its own transaction (a row with no status
yet); a second request with that key meanwhile is 409 ``idempotency_in_progress``, so two
racing retries act once. The answer is stored when the request is done, refusals (4xx)
included: retrying a refused request gets the same refusal. A 5xx answer, or a crash,
releases the key so a retry acts. A key reused for another request (another method, path
or body) is 422 ``idempotency_key_reused``. Keys expire after a day; a reservation left
by a process that died mid-request is taken over after ``STALE``.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import orjson
from sqlalchemy import delete, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from sync.api.errors import ApiError
from sync.api.keys import Principal
from sync.store import IdempotentRequest, transaction

__all__ = ["EXPIRY", "STALE", "Answer", "fingerprint", "idempotent", "sweep"]

EXPIRY = timedelta(hours=24)
STALE = timedelta(minutes=5)
_KEY = re.compile(r"[\x21-\x7e]{1,255}")  # printable ASCII, no spaces

#: A status and a JSON body.
Answer = tuple[int, Any]


def fingerprint(method: str, path: str, body: bytes) -> str:
    return hashlib.sha256(b"\n".join([method.encode(), path.encode(), body])).hexdigest()


def idempotent(
    factory: sessionmaker[Session],
    principal: Principal,
    key: str | None,
    signature: str,
    act: Callable[[], Answer],
    *,
    clock: Callable[[], datetime] = lambda: datetime.now(UTC),
) -> tuple[Answer, bool]:
    """``act()``'s answer, or the stored first answer for ``key``; and whether it is a
    replay. ``act`` turns refusals into answers itself (see the app's ``_answer``)."""
    if key is None:
        return act(), False
    if not _KEY.fullmatch(key):
        raise ApiError(422, "invalid", "Idempotency-Key: 1 to 255 printable characters, "
                       "no spaces", field="Idempotency-Key")  # fmt: skip
    now = clock()
    stored = _reserve(factory, principal.key_id, key, signature, now)
    if stored is not None:
        return stored, True
    try:
        status, body = act()
    except BaseException:
        _release(factory, principal.key_id, key)
        raise
    if status >= 500:
        _release(factory, principal.key_id, key)
    else:
        with transaction(factory) as session:
            session.execute(
                update(IdempotentRequest)
                .where(IdempotentRequest.api_key_id == principal.key_id,
                       IdempotentRequest.key == key)
                .values(status=status, body=orjson.dumps(body).decode())
            )  # fmt: skip
    return (status, body), False


def _reserve(
    factory: sessionmaker[Session], key_id: int, key: str, signature: str, now: datetime
) -> Answer | None:
    """Reserve ``key``; or the stored answer when it has one."""
    for _ in range(3):
        with transaction(factory) as session:
            row = session.scalar(
                select(IdempotentRequest)
                .where(IdempotentRequest.api_key_id == key_id, IdempotentRequest.key == key)
                .with_for_update()
            )
            if row is None:
                session.add(IdempotentRequest(api_key_id=key_id, key=key, fingerprint=signature,
                                              created_at=now, expires_at=now + EXPIRY))  # fmt: skip
                try:
                    session.flush()
                except IntegrityError:  # another request reserved it first: look again
                    session.rollback()
                    continue
                return None
            if row.expires_at <= now or (row.status is None and row.created_at <= now - STALE):
                # Expired, or left by a process that died: this request takes it over.
                row.fingerprint, row.status, row.body = signature, None, None
                row.created_at, row.expires_at = now, now + EXPIRY
                return None
            if row.fingerprint != signature:
                raise ApiError(422, "idempotency_key_reused", "this Idempotency-Key was used "
                               "for another request", field="Idempotency-Key")  # fmt: skip
            if row.status is None:
                raise ApiError(409, "idempotency_in_progress", "a request with this "
                               "Idempotency-Key is still running; retry in a moment",
                               headers={"Retry-After": "1"})  # fmt: skip
            return row.status, orjson.loads(row.body or "null")
    raise ApiError(409, "idempotency_in_progress", "Idempotency-Key contended; retry",
                   headers={"Retry-After": "1"})  # fmt: skip


def _release(factory: sessionmaker[Session], key_id: int, key: str) -> None:
    with transaction(factory) as session:
        session.execute(
            delete(IdempotentRequest).where(
                IdempotentRequest.api_key_id == key_id,
                IdempotentRequest.key == key,
                IdempotentRequest.status.is_(None),
            )
        )


def sweep(factory: sessionmaker[Session], *, now: datetime | None = None) -> int:
    """Delete expired answers; how many."""
    with transaction(factory) as session:
        result = session.execute(
            delete(IdempotentRequest).where(
                IdempotentRequest.expires_at <= (now or datetime.now(UTC))
            )
        )
        return int(getattr(result, "rowcount", 0) or 0)
