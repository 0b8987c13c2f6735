"""DashScope error answers the emulator gives, with the provider's codes and messages.

One exception type carries an answer through the server::

    ApiError(status, code, message)        rendered as {"request_id","code","message"}
    ├── 400  InvalidParameter, InvalidURL, UnsupportedOperation, BadRequest.*  (request)
    ├── 401  InvalidApiKey                                                    (auth)
    ├── 403  AccessDenied                                                     (endpoint)
    ├── 404  NotFound, ModelNotFound                                          (routing)
    ├── 429  Throttling, Throttling.RateQuota, Throttling.AllocationQuota     (limits)
    └── 5xx  InternalError, ServiceUnavailable                                (faults)

The messages are the ones quoted in dashscope-protocol.md section 7; the factories below are
the only place they are spelled.
"""

from __future__ import annotations

from typing import Final


class ApiError(Exception):
    """An error answer of the emulated API.

    Attributes:
        status: HTTP status code.
        code: DashScope error code.
        message: Error message.
        retry_after_s: Value for a ``Retry-After`` header, or None for no header.
    """

    def __init__(
        self, status: int, code: str, message: str, retry_after_s: float | None = None
    ) -> None:
        super().__init__(status, code, message, retry_after_s)
        self.status = status
        self.code = code
        self.message = message
        self.retry_after_s = retry_after_s

    def __str__(self) -> str:
        return f"{self.status} {self.code}: {self.message}"


THROTTLING: Final = "Throttling"
THROTTLING_RATE: Final = "Throttling.RateQuota"
THROTTLING_ALLOCATION: Final = "Throttling.AllocationQuota"
INTERNAL_ERROR_MESSAGE: Final = (
    "An internal error has occured, please try again later or contact service support."
)
SERVICE_UNAVAILABLE_MESSAGE: Final = (
    "Service temporarily unavailable, possibly overloaded or not ready."
)


def invalid_api_key() -> ApiError:
    """401 for a missing or unknown key."""
    return ApiError(401, "InvalidApiKey", "Invalid API-key provided.")


def sync_not_supported() -> ApiError:
    """403 for an async-only endpoint called without ``X-DashScope-Async: enable``."""
    return ApiError(403, "AccessDenied", "current user api does not support synchronous calls")


def cancel_not_pending() -> ApiError:
    """400 for a cancel of a task that is not PENDING."""
    return ApiError(
        400,
        "UnsupportedOperation",
        "Failed to cancel the task, please confirm if the task is in PENDING status.",
    )


def invalid_parameter(message: str) -> ApiError:
    """400 InvalidParameter with a specific message."""
    return ApiError(400, "InvalidParameter", message)


def not_found(path: str) -> ApiError:
    """404 for a path the emulated API does not serve."""
    return ApiError(404, "NotFound", f"The requested resource {path} is not found.")


def method_not_allowed(method: str, path: str) -> ApiError:
    """405 for a known path called with the wrong method."""
    return ApiError(405, "MethodNotAllowed", f"Method {method} is not allowed on {path}.")


def too_large() -> ApiError:
    """413 for a request body above the emulator's cap."""
    return ApiError(413, "BadRequest.TooLarge", "Payload Too Large")


def rate_quota(retry_after_s: float | None) -> ApiError:
    """429 for the per-model submit rate."""
    return ApiError(
        429,
        THROTTLING_RATE,
        "Requests rate limit exceeded, please try again later.",
        retry_after_s,
    )


def allocation_quota(retry_after_s: float | None) -> ApiError:
    """429 for the per-model concurrent-task cap in reject mode."""
    return ApiError(
        429,
        THROTTLING_ALLOCATION,
        "Allocated quota exceeded, please increase your quota limit.",
        retry_after_s,
    )


def query_throttled(retry_after_s: float | None) -> ApiError:
    """429 for the account-wide task query budget."""
    return ApiError(429, THROTTLING, "Requests throttling triggered.", retry_after_s)


def internal_error() -> ApiError:
    """500 InternalError."""
    return ApiError(500, "InternalError", INTERNAL_ERROR_MESSAGE)


def service_unavailable() -> ApiError:
    """503 ServiceUnavailable."""
    return ApiError(503, "ServiceUnavailable", SERVICE_UNAVAILABLE_MESSAGE)
