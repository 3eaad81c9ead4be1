"""Domain errors that know their HTTP status, and the handlers that render them.

    TrackerError (500)
    ├── Unauthorized (401)
    ├── Forbidden (403)
    ├── NotFound (404)
    │   └── LinkNotFound
    ├── Conflict (409)
    │   └── SlugTaken
    ├── Unprocessable (422)
    │   └── InvalidBody (400 for malformed JSON, else 422 with FastAPI's list of errors)
    └── TooManyAttempts (429, with Retry-After)

Services raise these and never ``HTTPException``; one handler turns them into
``{"detail": "..."}``. Malformed JSON is a 400, a well-formed body of the
wrong shape a 422 naming the field (FastAPI's own format). A database that is
away is a 503 with Retry-After and one log line, not a traceback per request:
a platform retries the webhook later, an operator reads one line.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any, ClassVar

from fastapi import FastAPI, Request
from fastapi.encoders import jsonable_encoder
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel
from sqlalchemy.exc import DBAPIError, InterfaceError, OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeout

log = logging.getLogger(__name__)
RETRY_AFTER_SECONDS = 5


class Problem(BaseModel):
    """What every error answers: one sentence, or (a wrong field) FastAPI's list of errors."""

    detail: str | list[dict[str, Any]]


class TrackerError(Exception):
    status_code: ClassVar[int] = 500
    headers: ClassVar[dict[str, str]] = {}

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class Unauthorized(TrackerError):
    status_code = 401
    headers: ClassVar[dict[str, str]] = {"WWW-Authenticate": "Bearer"}


class Forbidden(TrackerError):
    status_code = 403


class NotFound(TrackerError):
    status_code = 404


class LinkNotFound(NotFound):
    def __init__(self, slug: str) -> None:
        super().__init__(f"no link with slug {slug!r}")


class Conflict(TrackerError):
    status_code = 409


class SlugTaken(Conflict):
    def __init__(self, slug: str) -> None:
        super().__init__(f"slug {slug!r} is already taken")
        self.slug = slug


class Unprocessable(TrackerError):
    """A well-formed request that breaks a rule the schema cannot express."""

    status_code = 422


class InvalidBody(Unprocessable):
    """A body read by the service rather than by FastAPI, wrong in pydantic's terms."""

    def __init__(self, errors: Sequence[Any]) -> None:
        super().__init__("the request body is invalid")
        self.errors = errors


def _invalid(errors: Sequence[Any]) -> JSONResponse:
    if any(error.get("type") == "json_invalid" for error in errors):
        return JSONResponse({"detail": "malformed JSON body"}, 400)
    # The offending input is left out: it may be huge, binary or a secret.
    detail = [{key: error[key] for key in ("type", "loc", "msg")} for error in errors]
    return JSONResponse({"detail": jsonable_encoder(detail)}, 422)


class TooManyAttempts(TrackerError):
    status_code = 429

    def __init__(self, message: str, retry_after: int) -> None:
        super().__init__(f"{message} {retry_after} s")
        self.headers = {"Retry-After": str(retry_after)}  # type: ignore[misc]


async def _tracker_error(_request: Request, exc: Exception) -> JSONResponse:
    if isinstance(exc, InvalidBody):
        return _invalid(exc.errors)
    assert isinstance(exc, TrackerError)
    return JSONResponse({"detail": exc.message}, exc.status_code, headers=exc.headers)


async def _validation_error(_request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    return _invalid(exc.errors())


def _away(exc: Exception) -> bool:
    """Whether ``exc`` says the database cannot be reached (not that a statement was wrong)."""
    if isinstance(exc, DBAPIError):
        return exc.connection_invalidated or isinstance(exc, OperationalError | InterfaceError)
    return True


async def _database_away(request: Request, exc: Exception) -> JSONResponse:
    if not _away(exc):
        raise exc  # a wrong statement is a bug to fix where the input enters, not an outage
    route = getattr(request.scope.get("route"), "path", "unmatched")
    log.warning("database unavailable: %s %s answered 503 (%s)", request.method, route, exc)
    return JSONResponse(
        {"detail": "the database is unavailable; try again shortly"},
        503,
        headers={"Retry-After": str(RETRY_AFTER_SECONDS)},
    )


def install_error_handlers(app: FastAPI) -> None:
    app.add_exception_handler(TrackerError, _tracker_error)
    app.add_exception_handler(RequestValidationError, _validation_error)
    # What a database that is down, slow or refusing raises, whichever the driver.
    for error in (DBAPIError, PoolTimeout, OSError, TimeoutError):
        app.add_exception_handler(error, _database_away)
