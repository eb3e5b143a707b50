"""Two partners submitting the same customer at the same moment through the API, on
PostgreSQL with real connections: one holds it, the other is a conflict."""

from __future__ import annotations

import threading
from typing import Any

import httpx
import pytest
from sqlalchemy import select

from sync.api.serve import serving
from sync.store import Registration, make_engine, session_factory
from tests.conftest import NewDatabase
from tests.sync.api.world import build, settings_for


@pytest.mark.postgres
@pytest.mark.parametrize("attempt", range(3))
def test_simultaneous_submissions_leave_one_holder_and_one_conflict(
    new_database: NewDatabase, attempt: int
) -> None:
    url = new_database("postgres", migrated=True)
    engine = make_engine(url)
    base = settings_for(rate_per_second=0)
    settings = base.model_copy(
        update={"program": base.program.model_copy(update={"auto_approve": True})}
    )
    world = build(session_factory(engine), settings)
    barrier = threading.Barrier(2)
    answers: dict[str, Any] = {}
    body = {"customer_name": "Soylent Corporation", "customer_domain": "soylent.com",
            "amount": "9000.00", "currency": "USD"}  # fmt: skip

    with serving(world.app) as base_url:

        def submit(who: str) -> None:
            with httpx.Client(base_url=base_url, timeout=30) as client:
                client.get("/healthz")  # the connection is open before the race
                barrier.wait()
                answers[who] = client.post("/v1/registrations", json=body,
                                           headers=world.headers(who))  # fmt: skip

        threads = [threading.Thread(target=submit, args=(who,)) for who in ("A", "B")]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=60)
    assert {who: r.status_code for who, r in answers.items()} == {"A": 201, "B": 201}
    statuses = sorted(r.json()["status"] for r in answers.values())
    assert statuses == ["approved", "conflict"]
    with world.store() as session:
        held = session.scalars(
            select(Registration).where(Registration.customer_domain_key == "soylent.com")
        ).all()
    assert sorted(r.status.value for r in held) == ["approved", "conflict"]
    engine.dispose()
