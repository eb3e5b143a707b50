"""The FastAPI application: routes over the services the command line uses.

``create_app(settings)`` builds it; ``partnersync api`` serves it with uvicorn. Every route
but ``/healthz`` and the documentation needs ``Authorization: Bearer KEY``. A partner key
sees its own partner only: another partner's registration or payout is 404, exactly as if
it did not exist. Only an admin key decides, pays, adds partners, inspects deals or reads
reports (403 for a partner key).
"""

from __future__ import annotations

import base64
import csv
import io
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi import Body, Depends, FastAPI, Header, Path, Query, Request
from fastapi.responses import JSONResponse, Response
from pydantic import BaseModel
from sqlalchemy.orm import Session, sessionmaker

from sync.api.errors import ApiError, Forbidden, error_body, install, status_of
from sync.api.idempotency import Answer, fingerprint, idempotent
from sync.api.keys import Principal, authenticate
from sync.api.limits import AccessLog, BodyLimit, Concurrency, RateLimiter, retry_after
from sync.api.models import (
    ActionIn,
    ErrorOut,
    Health,
    PartnerDetail,
    PartnerIn,
    PartnerOut,
    PartnerPage,
    PayoutActionIn,
    PayoutDetail,
    PayoutOut,
    PayoutPage,
    PayoutResult,
    RegistrationIn,
    RegistrationOut,
    RegistrationPage,
    ReportName,
    ReportOut,
)
from sync.api.webhooks import Hooks
from sync.api.webhooks import install as install_webhooks
from sync.payouts import PayoutService
from sync.plain import plain
from sync.program import NotFound, ProgramError
from sync.registrations import RegistrationService
from sync.settings import Settings
from sync.store import RegistrationSource, make_engine, reading, session_factory

__all__ = ["create_app"]

_ERRORS: dict[int | str, dict[str, Any]] = {
    status: {"model": ErrorOut, "description": description}
    for status, description in {
        401: "no key, or a malformed, unknown or revoked one",
        403: "an admin key is needed",
        404: "no such resource (or another partner's)",
        409: "the state of things forbids it (an illegal transition)",
        413: "the request body is too large",
        422: "a bad body or parameter, or a submission the rules refuse",
        429: "too many requests for this key; Retry-After says when to retry",
    }.items()
}


@dataclass
class _Context:
    settings: Settings
    factory: sessionmaker[Session]
    registrations: RegistrationService
    payouts: PayoutService
    limiter: RateLimiter
    clock: Callable[[], datetime]
    on_linked: Any


def create_app(
    settings: Settings,
    *,
    factory: sessionmaker[Session] | None = None,
    clock: Callable[[], datetime] | None = None,
    hooks: Callable[[], Hooks | None] | None = None,
) -> FastAPI:
    """The API over the store of ``settings`` (or ``factory``); ``clock`` for tests;
    ``hooks()``: the daemon webhooks trigger (default: one sending to the Redis broker,
    or none with the in-process queue, whose workers live in ``partnersync run``)."""
    from sync.deal_links import registration_links

    factory = factory or session_factory(make_engine(settings.store.url))
    the_clock = clock or (lambda: datetime.now(UTC))
    context = _Context(
        settings=settings,
        factory=factory,
        registrations=RegistrationService(factory, settings.program, the_clock),
        payouts=PayoutService(factory, clock=the_clock),
        limiter=RateLimiter(settings.api.rate_per_second, settings.api.burst),
        clock=the_clock,
        on_linked=registration_links(settings),
    )
    app = FastAPI(
        title="partnersync",
        summary="Partner deal registration, commissions and payouts, synced with the CRM.",
        version="1",
        responses=_ERRORS,
    )
    app.state.context = context
    install(app)
    _routes(app, context)
    install_webhooks(app, settings, factory, hooks or _queue_hooks(settings, factory), the_clock)
    app.add_middleware(BodyLimit, limit=settings.api.max_body_bytes)
    app.add_middleware(Concurrency, threads=settings.api.threads)
    app.add_middleware(AccessLog)
    return app


def _broker_health(settings: Settings) -> str:
    """``in-process`` for the memory broker; else ``ok`` or ``unreachable`` (Redis ping)."""
    if settings.queue.broker == "memory":
        return "in-process"
    import redis

    try:
        client = redis.Redis.from_url(settings.queue.broker, socket_timeout=2,
                                      socket_connect_timeout=2)  # fmt: skip
        client.ping()
        client.close()
    except redis.RedisError:
        return "unreachable"
    return "ok"


def _queue_hooks(settings: Settings, factory: sessionmaker[Session]) -> Callable[[], Hooks | None]:
    """With a Redis broker: a daemon that sends its triggers there (made on first use).
    With the in-process queue: none (this process runs no workers)."""
    if settings.queue.broker == "memory":
        return lambda: None
    made: list[Hooks] = []

    def daemon() -> Hooks:
        if not made:
            from sync.actors import declare, make_broker
            from sync.daemon import Daemon

            holder: dict[str, Daemon] = {}
            actors = declare(make_broker(settings), lambda: holder["daemon"])
            holder["daemon"] = Daemon(settings, factory, send=actors.send)
            made.append(holder["daemon"])
        return made[0]

    return daemon


# --- who is asking ------------------------------------------------------------------------


def _principal(request: Request,
               authorization: Annotated[str | None, Header()] = None) -> Principal:  # fmt: skip
    context: _Context = request.app.state.context
    with reading(context.factory) as session:
        principal = authenticate(session, authorization)
    request.scope.setdefault("state", {})["key_prefix"] = principal.prefix
    wait = context.limiter.take(principal.prefix)
    if wait:
        limit = context.settings.api.rate_per_second
        raise ApiError(429, "rate_limited", f"over {limit:g} requests a second for this key",
                       headers={"Retry-After": retry_after(wait)})  # fmt: skip
    return principal


Caller = Annotated[Principal, Depends(_principal)]


def _admin(principal: Caller) -> Principal:
    if not principal.admin:
        raise Forbidden("this needs an admin key")
    return principal


Admin = Annotated[Principal, Depends(_admin)]


def _own(principal: Principal, partner_id: str | None) -> str | None:
    """The partner a listing is limited to: a partner key's own, whatever was asked."""
    return partner_id if principal.admin else principal.partner_id


# --- answers --------------------------------------------------------------------------------


def _dump(model: type[BaseModel], data: Any) -> Any:
    """``data`` (a service's view) as ``model``'s JSON: checked against the schema the
    OpenAPI document promises."""
    return model.model_validate(plain(data)).model_dump(mode="json")


def _answer(act: Callable[[], Answer]) -> Answer:
    """``act()``, with a refusal as its answer (stored for an idempotent replay)."""
    try:
        return act()
    except ProgramError as exc:
        return status_of(exc), error_body(exc.code, str(exc), exc.field)
    except ApiError as exc:
        return exc.status, error_body(exc.code, exc.message, exc.field, **exc.extra)


def _respond(answer: Answer, *, replayed: bool = False) -> JSONResponse:
    status, body = answer
    headers = {"Idempotent-Replayed": "true"} if replayed else None
    return JSONResponse(body, status_code=status, headers=headers)


async def _once(request: Request, context: _Context, principal: Principal,
                key: str | None, act: Callable[[], Answer]) -> JSONResponse:  # fmt: skip
    """Act once per ``Idempotency-Key`` (see :mod:`sync.api.idempotency`)."""
    from starlette.concurrency import run_in_threadpool

    signature = fingerprint(request.method, request.url.path, await request.body())
    answer, replayed = await run_in_threadpool(
        idempotent,
        context.factory,
        principal,
        key,
        signature,
        lambda: _answer(act),
        clock=context.clock,
    )
    return _respond(answer, replayed=replayed)


def _cursor(value: str | None) -> int:
    if not value:
        return 0
    try:
        kind, _, number = base64.urlsafe_b64decode(value.encode() + b"==").decode().partition(":")
        after = int(number)
    except (ValueError, UnicodeDecodeError):
        raise ProgramError("cursor: not a cursor this API gave", field="cursor") from None
    if kind != "after" or not 0 <= after < 2**63:
        raise ProgramError("cursor: not a cursor this API gave", field="cursor")
    return after


def _next_cursor(items: list[dict[str, Any]], limit: int) -> str | None:
    if len(items) < limit:
        return None
    return base64.urlsafe_b64encode(f"after:{items[-1]['id']}".encode()).decode().rstrip("=")


@dataclass(frozen=True)
class _Listing:
    status: str | None
    partner_id: str | None
    cursor: str | None
    limit: int | None


def _listing(
    status: Annotated[str | None, Query(max_length=32)] = None,
    partner_id: Annotated[str | None, Query(max_length=32)] = None,
    cursor: Annotated[str | None, Query(max_length=200, description="next_cursor")] = None,
    limit: Annotated[int | None, Query(ge=1, le=500, description="rows per page")] = None,
) -> _Listing:
    return _Listing(status, partner_id, cursor, limit)


Listing = Annotated[_Listing, Depends(_listing)]


def _page(
    principal: Principal,
    listing: _Listing,
    page_size: int,
    fetch: Callable[[str | None, int, int], list[dict[str, Any]]],
    show: Callable[[dict[str, Any]], Any],
) -> dict[str, Any]:
    """A page of a listing: a partner key's own rows only (asking for another partner's
    finds none), from the cursor on."""
    size = listing.limit or page_size
    if not principal.admin and listing.partner_id not in (None, principal.partner_id):
        return {"items": [], "next_cursor": None}
    rows = fetch(_own(principal, listing.partner_id), size, _cursor(listing.cursor))
    return {"items": [show(r) for r in rows], "next_cursor": _next_cursor(rows, size)}


#: A stored row's number: the store's ids are 64-bit.
RowId = Annotated[int, Path(ge=1, le=2**63 - 1)]
IdempotencyKey = Annotated[
    str | None, Header(alias="Idempotency-Key", description="replay the first answer")
]


# --- routes ---------------------------------------------------------------------------------


def _routes(app: FastAPI, context: _Context) -> None:
    registrations, payouts = context.registrations, context.payouts

    @app.get("/healthz", response_model=Health, tags=["operations"],
             responses={503: {"model": ErrorOut}})  # fmt: skip
    def healthz() -> Any:
        """The store and the broker are reachable (no key needed); per CRM, seconds since
        its last successful pull."""
        from sync.status import facts

        try:
            known = facts(context.factory)
        except Exception:
            return JSONResponse(error_body("store_unavailable", "the store is unreachable"),
                                status_code=503)  # fmt: skip
        broker = _broker_health(context.settings)
        if broker == "unreachable":
            return JSONResponse(error_body("broker_unavailable", "the broker is unreachable"),
                                status_code=503)  # fmt: skip
        now = context.clock()
        lag = {crm: known.lag(crm, now) for crm in known.crms}
        shown = {crm: round(v, 1) if v is not None else None for crm, v in lag.items()}
        return {"status": "ok", "store": "ok", "broker": broker, "lag_seconds": shown}

    @app.get("/metrics", tags=["operations"], responses={
        200: {"content": {"text/plain": {"schema": {"type": "string"}}},
              "description": "Prometheus text format"}})  # fmt: skip
    def metrics() -> Response:
        """Prometheus metrics (no key needed): jobs, records pulled and pushed, API calls,
        rate-limit waits, write-back backlog, quarantine, sync lag, daily quota."""
        from sync.metrics import CONTENT_TYPE, exposition

        return Response(exposition(context.factory, context.clock), media_type=CONTENT_TYPE)

    # registrations

    @app.post("/v1/registrations", status_code=201, response_model=RegistrationOut,
              tags=["registrations"])  # fmt: skip
    async def submit(request: Request, body: RegistrationIn, principal: Caller,
                     idempotency_key: IdempotencyKey = None) -> Any:  # fmt: skip
        """Register a customer. 201 with the registration (``pending``, ``approved``, or
        ``conflict`` when another claim is in the way); 422 with the rules' reason when
        they refuse it (``house_account``, ``duplicate``, ...)."""
        partner_id = body.partner_id
        if not principal.admin:
            if partner_id not in (None, principal.partner_id):
                raise ApiError(422, "invalid", "partner_id: a partner key registers for its "
                               "own partner", field="partner_id")  # fmt: skip
            partner_id = principal.partner_id
        elif partner_id is None:
            raise ApiError(422, "invalid", "partner_id: an admin key names the partner",
                           field="partner_id")  # fmt: skip

        def act() -> Answer:
            view = registrations.submit(
                partner_id=partner_id or "", customer_name=body.customer_name,
                customer_domain=body.customer_domain, amount=body.amount,
                currency=body.currency, practice=body.practice, close_date=body.close_date,
                source=RegistrationSource.API, actor=principal.actor,
            )  # fmt: skip
            shown = _registration(view, principal)
            if view["status"] == "rejected":
                reason = view["reason"] or "rejected"
                message = f"registration {view['id']} is refused: {reason.replace('_', ' ')}"
                return 422, error_body(reason, message, registration=shown)
            return 201, shown

        return await _once(request, context, principal, idempotency_key, act)

    @app.get("/v1/registrations", response_model=RegistrationPage, tags=["registrations"])
    def list_registrations(principal: Caller, listing: Listing) -> Any:
        """Registrations, oldest first, a page at a time (``next_cursor``)."""
        return _page(
            principal, listing, context.settings.api.page_size,
            lambda partner, size, after: registrations.list(
                partner_id=partner, status=listing.status, limit=size, after_id=after),
            lambda row: _registration(row, principal),
        )  # fmt: skip

    @app.get("/v1/registrations/{registration_id}", response_model=RegistrationOut,
             tags=["registrations"])  # fmt: skip
    def get_registration(registration_id: RowId, principal: Caller) -> Any:
        view = registrations.get(registration_id)
        _visible(principal, view["partner_id"], f"no registration {registration_id}")
        return _registration(view, principal)

    def _decision(action: str, admin_only: bool) -> None:
        async def decide(request: Request, registration_id: RowId,
                         principal: Caller, body: Annotated[ActionIn | None, Body()] = None,
                         idempotency_key: IdempotencyKey = None) -> Any:  # fmt: skip
            given = body or ActionIn()
            if admin_only and not principal.admin:
                raise Forbidden(f"{action}: this needs an admin key")
            if action != "extend" and given.days is not None:
                raise ApiError(422, "invalid", "days: only extend takes days", field="days")

            def act() -> Answer:
                if not principal.admin:
                    view = registrations.get(registration_id)
                    _visible(principal, view["partner_id"], f"no registration {registration_id}")
                method = getattr(registrations, action)
                extra = {"days": given.days} if action == "extend" else {}
                view = method(registration_id, actor=principal.actor, note=given.reason, **extra)
                return 200, _registration(view, principal)

            return await _once(request, context, principal, idempotency_key, act)

        decide.__doc__ = {
            "approve": "Approve (admin): first approved wins; 409 while another holds it.",
            "reject": "Reject (admin), saying why.",
            "extend": "Extend an approved registration's protection (admin).",
            "withdraw": "Withdraw: a partner withdraws its own; an admin any.",
        }[action]
        app.post(f"/v1/registrations/{{registration_id}}/{action}",
                 response_model=RegistrationOut, tags=["registrations"],
                 name=f"{action}_registration")(decide)  # fmt: skip

    for action in ("approve", "reject", "extend"):
        _decision(action, admin_only=True)
    _decision("withdraw", admin_only=False)

    # partners

    @app.get("/v1/partners", response_model=PartnerPage, tags=["partners"])
    def list_partners(principal: Caller) -> Any:
        """Every partner (admin), or the key's own partner."""
        from sync.partners import list_partners

        rows = list_partners(context.factory)
        if not principal.admin:
            rows = [p for p in rows if p["id"] == principal.partner_id]
        return {"items": [_dump(PartnerOut, p) for p in rows]}

    @app.get("/v1/partners/{partner_id}", response_model=PartnerDetail, tags=["partners"])
    def get_partner(partner_id: Annotated[str, Path(max_length=32)], principal: Caller) -> Any:
        from sync.partners import show_partner

        _visible(principal, partner_id, f"no partner {partner_id!r}")
        return _dump(PartnerDetail, show_partner(context.factory, partner_id))

    @app.post("/v1/partners", status_code=201, response_model=PartnerOut, tags=["partners"])
    async def add_partner(request: Request, body: PartnerIn, principal: Admin,
                          idempotency_key: IdempotencyKey = None) -> Any:  # fmt: skip
        """Add a partner (admin); the mirrored deals that name it are linked to it."""
        from sync.partners import PartnerInput, add_partner

        def act() -> Answer:
            given = PartnerInput(body.id, body.name, body.tier, body.salesforce_account_id,
                                 body.hubspot_company_id)  # fmt: skip
            added = add_partner(context.factory, given, context.settings.program,
                                actor=principal.actor, on_linked=context.on_linked)  # fmt: skip
            return 201, _dump(PartnerOut, added)

        return await _once(request, context, principal, idempotency_key, act)

    # payouts

    @app.get("/v1/payouts", response_model=PayoutPage, tags=["payouts"])
    def list_payouts(principal: Caller, listing: Listing) -> Any:
        """Payouts by number, a page at a time; a partner key sees its own."""
        return _page(
            principal, listing, context.settings.api.page_size,
            lambda partner, size, after: payouts.list_payouts(
                partner_id=partner, status=listing.status, limit=size, after=after),
            plain,
        )  # fmt: skip

    @app.get("/v1/payouts/{payout_id}", response_model=PayoutDetail, tags=["payouts"])
    def get_payout(payout_id: RowId, principal: Caller) -> Any:
        view = payouts.get(payout_id)
        _visible(principal, view["partner_id"], f"no payout {payout_id}")
        return plain(view)

    def _payout_action(action: str) -> None:
        async def act_on(request: Request, body: PayoutActionIn, principal: Admin,
                         idempotency_key: IdempotencyKey = None) -> Any:  # fmt: skip
            def act() -> Answer:
                if action == "approve":
                    rows = payouts.approve(body.ids, actor=principal.actor)
                elif action == "schedule":
                    rows = payouts.schedule(body.ids, on=body.on, actor=principal.actor)
                elif action == "pay":
                    rows = payouts.pay(body.ids, reference=body.reference or "", on=body.on,
                                       actor=principal.actor)  # fmt: skip
                else:
                    rows = payouts.reverse(body.ids, reason=body.reason or "",
                                           actor=principal.actor)  # fmt: skip
                return 200, {"items": [_dump(PayoutOut, r) for r in rows]}

            return await _once(request, context, principal, idempotency_key, act)

        act_on.__doc__ = {
            "approve": "accrued -> approved, all or nothing (admin).",
            "schedule": "approved -> scheduled for ``on`` (default: each one's due date).",
            "pay": "Pay in bulk against one ``reference``, all or nothing (admin).",
            "reverse": "Reverse with a ``reason``: a negating ledger row each (admin).",
        }[action]
        app.post(f"/v1/payouts/{action}", response_model=PayoutResult, tags=["payouts"],
                 name=f"{action}_payouts")(act_on)  # fmt: skip

    for action in ("approve", "schedule", "pay", "reverse"):
        _payout_action(action)

    # reports and the deal inspector

    csv_too: dict[int | str, dict[str, Any]] = {
        200: {"content": {"text/csv": {"schema": {"type": "string"}}}}
    }

    @app.get("/v1/reports/{name}", response_model=ReportOut, tags=["reports"],
             responses=csv_too)  # fmt: skip
    def report(
        request: Request,
        name: ReportName,
        principal: Admin,
        year: Annotated[int | None, Query(ge=1900, le=9998)] = None,
        partner_id: Annotated[str | None, Query(max_length=32)] = None,
    ) -> Any:
        """A named report as JSON, or CSV with ``Accept: text/csv`` (admin)."""
        from sync.reports import run_report

        today = context.clock().date()
        rows = run_report(context.factory, name.value, year=year, partner_id=partner_id,
                          default_currency=context.settings.program.default_currency,
                          today=today)  # fmt: skip
        if "text/csv" in request.headers.get("accept", ""):
            return Response(_csv(rows), media_type="text/csv; charset=utf-8")
        return {"report": name.value, "year": year or today.year, "partner_id": partner_id,
                "rows": plain(rows)}  # fmt: skip

    @app.get("/v1/deals/{crm}/{crm_id}", tags=["deals"])
    def deal(
        crm: Annotated[str, Path(pattern="^(salesforce|hubspot)$")],
        crm_id: Annotated[str, Path(min_length=1, max_length=64)],
        principal: Admin,
    ) -> dict[str, Any]:
        """The deal inspector (admin): the mirrored deal, its registrations, its
        commission explained, its ledger rows and payouts, what waits for the CRM."""
        from sync.deals import show_deal

        found = show_deal(context.factory, crm_id, crm=crm,
                          default_currency=context.settings.program.default_currency)  # fmt: skip
        return dict(plain(found))


def _registration(view: dict[str, Any], principal: Principal) -> Any:
    """A registration as this key may see it: ``conflict_with`` for admin keys only."""
    shown = dict(view)
    if not principal.admin:
        shown["conflict_with"] = None
    return _dump(RegistrationOut, shown)


def _visible(principal: Principal, partner_id: str | None, missing: str) -> None:
    """404 for a partner key asking for another partner's resource."""
    if not principal.admin and partner_id != principal.partner_id:
        raise NotFound(missing, field="id")


def _csv(rows: list[dict[str, Any]]) -> str:
    out = io.StringIO()
    if rows:
        writer = csv.DictWriter(out, fieldnames=list(rows[0]), lineterminator="\n")
        writer.writeheader()
        for row in rows:
            writer.writerow({k: "" if v is None else v for k, v in plain(row).items()})
    return out.getvalue()
