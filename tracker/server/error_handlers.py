"""The handlers that turn errors into answers: `tracker.errors`' own, a request FastAPI
could not read, and a database that is away.

Apart from the errors themselves so that processes without a web app (the
click writer) never import FastAPI.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

from fastapi import FastAPI, Request
from fastapi.encoders import jsonable_encoder
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from sqlalchemy.exc import DBAPIError, InterfaceError, OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeout

from tracker.errors import RETRY_AFTER_SECONDS, InvalidBody, TrackerError

log = logging.getLogger(__name__)


def _invalid(errors: Sequence[Any]) -> JSONResponse:
    if any(error.get("type") == "json_invalid" for error in errors):
        return JSONResponse({"detail": "malformed JSON body"}, 400)
    # The offending input is left out: it may be huge, binary or a secret.
    detail = [{key: error[key] for key in ("type", "loc", "msg")} for error in errors]
    return JSONResponse({"detail": jsonable_encoder(detail)}, 422)


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
