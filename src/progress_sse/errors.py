"""The exceptions of progress-sse, each mapped to one HTTP status in `web/api/errors.py`.

ProgressSSEError
 ├── BadRequest            400  malformed JSON or header
 │    └── HeadersTooLarge  400  headers too large (the contract's error statuses have no 431)
 ├── Unauthorized          401  no or unknown API key
 ├── Forbidden             403  authenticated, not allowed
 ├── NotFound              404  unknown, or another tenant's
 ├── Conflict              409  active run for the lock key, finished run, ...
 ├── RequestTimeout        408  the body did not arrive in time
 ├── PayloadTooLarge       413
 ├── ValidationFailed      422  unknown kind, bad params (fields named)
 ├── RateLimited           429  with Retry-After
 ├── DatabaseBusy          503  SQLite's one writer is busy past the busy timeout; retry
 └── Misconfigured         ---  a setting that cannot work: refused at start-up, never served
JobError                        raised by a job: its message is safe to show users
 └── RunCancelled               the run was cancelled at a checkpoint
"""

from __future__ import annotations

from typing import Any


class ProgressSSEError(Exception):
    """Base of every error that becomes a JSON error response."""

    status_code = 500
    code = "internal_error"

    def __init__(self, message: str, *, code: str | None = None, **extra: Any) -> None:
        super().__init__(message)
        self.message = message
        if code is not None:
            self.code = code
        self.extra = extra


class BadRequest(ProgressSSEError):
    status_code = 400
    code = "bad_request"


class Unauthorized(ProgressSSEError):
    status_code = 401
    code = "unauthorized"


class Forbidden(ProgressSSEError):
    status_code = 403
    code = "forbidden"


class NotFound(ProgressSSEError):
    status_code = 404
    code = "not_found"


class Conflict(ProgressSSEError):
    status_code = 409
    code = "conflict"


class RequestTimeout(ProgressSSEError):
    status_code = 408
    code = "request_timeout"


class PayloadTooLarge(ProgressSSEError):
    status_code = 413
    code = "payload_too_large"


class ValidationFailed(ProgressSSEError):
    status_code = 422
    code = "validation_error"


class RateLimited(ProgressSSEError):
    status_code = 429
    code = "rate_limited"


class DatabaseBusy(ProgressSSEError):
    status_code = 503
    code = "database_busy"


class Misconfigured(ProgressSSEError):
    code = "misconfigured"


class HeadersTooLarge(BadRequest):
    status_code = 400
    code = "headers_too_large"


class JobError(Exception):
    """A failure a job reports on purpose; `message` is shown to users as is."""

    def __init__(self, message: str, *, code: str = "job_error") -> None:
        super().__init__(message)
        self.message = message
        self.code = code


class RunCancelled(JobError):
    """Raised at a checkpoint once a cancel was requested."""

    def __init__(self) -> None:
        super().__init__("The run was cancelled.", code="cancelled")


class RunPaused(JobError):
    """Raised as a chunk begins once a pause was requested: the runner records `paused`
    (nothing is open: the chunk before has committed), and a resume continues with it."""

    def __init__(self) -> None:
        super().__init__("The run was paused.", code="paused")
