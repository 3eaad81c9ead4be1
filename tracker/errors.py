"""Domain errors that know their HTTP status (server/error_handlers.py renders them).

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

from collections.abc import Sequence
from typing import Any, ClassVar

from pydantic import BaseModel

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


class TooManyAttempts(TrackerError):
    status_code = 429

    def __init__(self, message: str, retry_after: int) -> None:
        super().__init__(f"{message} {retry_after} s")
        self.headers = {"Retry-After": str(retry_after)}  # type: ignore[misc]
