"""The API's one error shape, ``{"error": {"code", "message", "field"?}}``, and the status
of each refusal. The codes are the command line's: a service's ``ProgramError`` says the
same thing to both.

=====================================  ======  ==============================================
refusal                                status  code
=====================================  ======  ==============================================
no key, malformed, unknown, revoked    401     ``missing_key``, ``malformed_key``, ...
a partner key on an admin route        403     ``forbidden``
unknown route, or another partner's    404     ``not_found``
illegal transition, state conflict     409     ``illegal_transition``, ``conflict``, ...
body too large                         413     ``too_large``
bad body or parameter                  422     ``invalid`` and the ``field``
submission refused by the rules        422     its reason (``house_account``, ...)
too many requests for one key          429     ``rate_limited`` (and ``Retry-After``)
anything unexpected                    500     ``internal`` (the log has the rest)
=====================================  ======  ==============================================
"""

from __future__ import annotations

from typing import Any

import structlog
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from sync.api.keys import Unauthorized
from sync.program import Conflict, NotFound, ProgramError
from sync.store import StoreError

__all__ = ["ApiError", "Forbidden", "error_body", "install"]

log = structlog.get_logger("partnersync.api")

#: ProgramError codes that are a clash with the state of things, not a bad input.
_CONFLICT_CODES = frozenset({"exists", "revoked", "inactive_partner"})


class Forbidden(ProgramError):
    """A valid key asking for what only an admin key may do."""

    code = "forbidden"


class ApiError(Exception):
    """A refusal with its status, code and message (and ``extra`` keys in the error)."""

    def __init__(
        self, status: int, code: str, message: str, *, field: str | None = None,
        headers: dict[str, str] | None = None, extra: dict[str, Any] | None = None,
    ) -> None:  # fmt: skip
        super().__init__(message)
        self.status, self.code, self.message, self.field = status, code, message, field
        self.headers = headers
        self.extra = extra or {}


def error_body(code: str, message: str, field: str | None = None, **extra: Any) -> dict[str, Any]:
    error: dict[str, Any] = {"code": code, "message": message}
    if field:
        error["field"] = field
    error.update(extra)
    return {"error": error}


def status_of(exc: ProgramError) -> int:
    if isinstance(exc, Unauthorized):
        return 401
    if isinstance(exc, Forbidden):
        return 403
    if isinstance(exc, NotFound):
        return 404
    if isinstance(exc, Conflict) or exc.code in _CONFLICT_CODES:
        return 409
    return 422


def _field(location: tuple[Any, ...]) -> str:
    parts = [str(p) for p in location if p not in ("body", "query", "path", "header")]
    return ".".join(parts) or "body"


def install(app: FastAPI) -> None:
    """Turn every refusal of ``app`` into the one error shape."""

    @app.exception_handler(ApiError)
    async def api_error(request: Request, exc: ApiError) -> JSONResponse:
        return JSONResponse(error_body(exc.code, exc.message, exc.field, **exc.extra),
                            status_code=exc.status, headers=exc.headers)  # fmt: skip

    @app.exception_handler(ProgramError)
    async def program_error(request: Request, exc: ProgramError) -> JSONResponse:
        status = status_of(exc)
        headers = {"WWW-Authenticate": "Bearer"} if status == 401 else None
        return JSONResponse(error_body(exc.code, str(exc), exc.field), status_code=status,
                            headers=headers)  # fmt: skip

    @app.exception_handler(RequestValidationError)
    async def invalid(request: Request, exc: RequestValidationError) -> JSONResponse:
        first = exc.errors()[0] if exc.errors() else {"loc": (), "msg": "invalid request"}
        field = _field(tuple(first.get("loc", ())))
        message = f"{field}: {first.get('msg', 'invalid')}"
        return JSONResponse(error_body("invalid", message, field), status_code=422)

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        if exc.status_code == 400:  # a body FastAPI could not even parse: a bad body
            return JSONResponse(error_body("invalid", "body: not a JSON document (UTF-8)", "body"),
                                status_code=422)  # fmt: skip
        codes = {404: "not_found", 405: "method_not_allowed", 413: "too_large",
                 406: "not_acceptable"}  # fmt: skip
        code = codes.get(exc.status_code, "http_error")
        message = str(exc.detail) if exc.detail else code.replace("_", " ")
        if exc.status_code == 404 and message == "Not Found":
            message = f"no route {request.method} {request.url.path}"
        return JSONResponse(error_body(code, message), status_code=exc.status_code,
                            headers=getattr(exc, "headers", None))  # fmt: skip

    @app.exception_handler(StoreError)
    async def store_error(request: Request, exc: StoreError) -> JSONResponse:
        log.error("api.store_error", error=str(exc), path=request.url.path)
        return JSONResponse(error_body("store_unavailable", "the store is unavailable"),
                            status_code=503)  # fmt: skip

    @app.exception_handler(Exception)
    async def internal(request: Request, exc: Exception) -> JSONResponse:
        log.exception("api.internal_error", path=request.url.path, error_type=type(exc).__name__)
        return JSONResponse(error_body("internal", "internal error; the server log has it"),
                            status_code=500)  # fmt: skip
