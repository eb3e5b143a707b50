"""The authorisation matrix: every route of the app x every kind of caller, with the
status each gets. The rows are checked against the app's own route list, so a route added
without a row here fails this test."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from starlette.routing import Route

from sync.api.app import create_app
from sync.settings import Settings
from sync.store import make_engine, session_factory
from tests.conftest import NewDatabase
from tests.sync.api.world import World, build

#: The callers, in the order each route's requests are made.
CALLERS = ("none", "malformed", "revoked", "B", "A", "admin")
NO_KEY = {"none": 401, "malformed": 401, "revoked": 401}
PUBLIC = dict.fromkeys(CALLERS, 200)


def anyone(status: int) -> dict[str, int]:
    return {**NO_KEY, "B": status, "A": status, "admin": status}


def own(status: int) -> dict[str, int]:
    """A's resource: B gets 404, as if it did not exist."""
    return {**NO_KEY, "B": 404, "A": status, "admin": status}


def admin(status: int) -> dict[str, int]:
    return {**NO_KEY, "B": 403, "A": 403, "admin": status}


Request = Callable[[World, str], tuple[str, dict[str, Any] | None]]


def path(template: str) -> Request:
    def request(world: World, who: str) -> tuple[str, dict[str, Any] | None]:
        return template.format(r=world.registration, p=world.payout, d=world.deal), None

    return request


def body(template: str, make: Callable[[World, str], dict[str, Any]]) -> Request:
    def request(world: World, who: str) -> tuple[str, dict[str, Any] | None]:
        return path(template)(world, who)[0], make(world, who)

    return request


def registration(world: World, who: str) -> dict[str, Any]:
    name = {"A": "Aardvark", "B": "Bluebird", "admin": "Zephyr"}.get(who, "Nobody")
    given = {"customer_name": name, "customer_domain": f"{name.lower()}.com"}
    return {**given, "partner_id": "B"} if who == "admin" else given


#: (method, route) -> (how to make the request, the status of each caller)
MATRIX: dict[tuple[str, str], tuple[Request, dict[str, int]]] = {
    ("GET", "/healthz"): (path("/healthz"), PUBLIC),
    ("GET", "/metrics"): (path("/metrics"), PUBLIC),
    ("GET", "/openapi.json"): (path("/openapi.json"), PUBLIC),
    ("GET", "/docs"): (path("/docs"), PUBLIC),
    ("GET", "/docs/oauth2-redirect"): (path("/docs/oauth2-redirect"), PUBLIC),
    ("GET", "/redoc"): (path("/redoc"), PUBLIC),
    ("POST", "/v1/registrations"): (body("/v1/registrations", registration), anyone(201)),
    ("GET", "/v1/registrations"): (path("/v1/registrations"), anyone(200)),
    ("GET", "/v1/registrations/{registration_id}"): (path("/v1/registrations/{r}"), own(200)),
    ("POST", "/v1/registrations/{registration_id}/approve"): (
        path("/v1/registrations/{r}/approve"), admin(200)),
    ("POST", "/v1/registrations/{registration_id}/reject"): (
        body("/v1/registrations/{r}/reject", lambda w, who: {"reason": "no"}), admin(200)),
    # A pending registration cannot be extended: the admin's request is a legal one refused.
    ("POST", "/v1/registrations/{registration_id}/extend"): (
        path("/v1/registrations/{r}/extend"), admin(409)),
    # A withdraws its own; the admin then finds it withdrawn already.
    ("POST", "/v1/registrations/{registration_id}/withdraw"): (
        path("/v1/registrations/{r}/withdraw"), {**own(200), "admin": 409}),
    ("GET", "/v1/partners"): (path("/v1/partners"), anyone(200)),
    ("GET", "/v1/partners/{partner_id}"): (path("/v1/partners/A"), own(200)),
    ("POST", "/v1/partners"): (
        body("/v1/partners", lambda w, who: {"id": f"N{who}", "name": "New", "tier": "gold"}),
        admin(201)),
    ("GET", "/v1/payouts"): (path("/v1/payouts"), anyone(200)),
    ("GET", "/v1/payouts/{payout_id}"): (path("/v1/payouts/{p}"), own(200)),
    ("POST", "/v1/payouts/approve"): (
        body("/v1/payouts/approve", lambda w, who: {"ids": [w.payout]}), admin(200)),
    # An accrued payout is approved before it is scheduled or paid: 409 for the admin.
    ("POST", "/v1/payouts/schedule"): (
        body("/v1/payouts/schedule", lambda w, who: {"ids": [w.payout]}), admin(409)),
    ("POST", "/v1/payouts/pay"): (
        body("/v1/payouts/pay", lambda w, who: {"ids": [w.payout], "reference": "W1"}),
        admin(409)),
    ("POST", "/v1/payouts/reverse"): (
        body("/v1/payouts/reverse", lambda w, who: {"ids": [w.payout], "reason": "x"}),
        admin(200)),
    ("GET", "/v1/reports/{name}"): (path("/v1/reports/ytd-summary"), admin(200)),
    ("GET", "/v1/deals/{crm}/{crm_id}"): (path("/v1/deals/salesforce/{d}"), admin(200)),
    # Webhooks are signed, not keyed: a key changes nothing (no signature: 401; no
    # Outbound Message: 422).
    ("POST", "/v1/webhooks/hubspot"): (path("/v1/webhooks/hubspot"), dict.fromkeys(CALLERS, 401)),
    ("POST", "/v1/webhooks/salesforce"): (
        path("/v1/webhooks/salesforce"), dict.fromkeys(CALLERS, 422)),
}  # fmt: skip


def app_routes() -> list[tuple[str, str]]:
    app = create_app(Settings(), factory=session_factory(make_engine("sqlite://")))
    found = []
    for route in app.routes:
        if isinstance(route, Route):
            found += [(m, route.path) for m in sorted(route.methods or ()) if m != "HEAD"]
    return found


def test_every_route_has_a_row() -> None:
    routes = app_routes()
    missing = sorted(set(routes) - set(MATRIX))
    assert not missing, f"routes without a row in the authorisation matrix: {missing}"
    assert not sorted(set(MATRIX) - set(routes)), "rows for routes the app does not have"


@pytest.mark.parametrize("route", app_routes(), ids=lambda r: f"{r[0]} {r[1]}")
def test_authorisation(route: tuple[str, str], new_database: NewDatabase) -> None:
    url = new_database("sqlite", migrated=True)
    world = build(session_factory(make_engine(url)))
    make, expected = MATRIX[route]
    got = {}
    for who in CALLERS:
        target, payload = make(world, who)
        response = world.client.request(route[0], target, json=payload,
                                        headers=world.headers(who))  # fmt: skip
        got[who] = response.status_code
        if response.status_code >= 400 and target.startswith("/v1"):
            error = response.json()["error"]  # the one error shape
            assert set(error) <= {"code", "message", "field", "registration"}, error
            assert error["code"]
            assert error["message"]
        if response.status_code == 401 and "/webhooks/" not in target:  # signed, not keyed
            assert response.headers["WWW-Authenticate"] == "Bearer"
    assert got == expected, response.text
