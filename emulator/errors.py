"""The error answers the emulator gives, with the provider's codes and messages.

One exception type carries every error answer; the surface that answers renders it, as a
DashScope JSON body ``{"request_id","code","message"}`` on the API (emulator.http.wire) or as an
OSS XML ``<Error>`` on result downloads and the upload target::

    ApiError(status, code, message, retry_after_s)   (RequestRejected is the same type)
    ├── DashScope, JSON
    │   ├── 400  InvalidParameter, InvalidURL, UnsupportedOperation,
    │   │        BadRequest.EmptyModel, BadRequest.EmptyInput              (request)
    │   ├── 401  InvalidApiKey                                             (auth)
    │   ├── 403  AccessDenied                                              (endpoint, admin)
    │   ├── 404  NotFound, ModelNotFound                                   (routing)
    │   ├── 405  MethodNotAllowed;  413  BadRequest.TooLarge               (routing, body)
    │   ├── 429  Throttling, Throttling.RateQuota, Throttling.AllocationQuota  (limits)
    │   └── 5xx  InternalError, ServiceUnavailable                         (faults)
    └── OSS, XML
        ├── 400  InvalidArgument, InvalidPolicyDocument, EntityTooLarge    (upload form)
        ├── 403  AccessDenied, SignatureDoesNotMatch, InvalidAccessKeyId   (URL, policy)
        ├── 404  NoSuchKey                                                 (result image)
        └── 409  FileAlreadyExists                                         (upload)

The DashScope messages are the ones quoted in dashscope-protocol.md section 7. The factories
below are the only place a fixed message is spelled; a FAILED task's answer carries the code
and message its plan drew from the configuration.
"""

from __future__ import annotations

from typing import Final


class ApiError(Exception):
    """An error answer of the emulated service.

    Passes every constructor argument to ``Exception``, so it survives pickling.

    Attributes:
        status: HTTP status code.
        code: DashScope (or OSS) error code, e.g. "InvalidParameter".
        message: Error message; for a bad request it names the offending wire field.
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


RequestRejected = ApiError
"""The name request validation documents its refusals under; the same type as `ApiError`."""

THROTTLING: Final = "Throttling"
THROTTLING_RATE: Final = "Throttling.RateQuota"
THROTTLING_ALLOCATION: Final = "Throttling.AllocationQuota"
INTERNAL_ERROR_MESSAGE: Final = (
    "An internal error has occured, please try again later or contact service support."
)
SERVICE_UNAVAILABLE_MESSAGE: Final = (
    "Service temporarily unavailable, possibly overloaded or not ready."
)
URL_EXPIRED_MESSAGE: Final = "Request has expired."
_SIGNATURE_MISMATCH_MESSAGE: Final = (
    "The request signature we calculated does not match the signature you provided."
)

# ------------------------------------------------------------------------ DashScope, JSON


def invalid_api_key() -> ApiError:
    """401 for a missing or unknown key."""
    return ApiError(401, "InvalidApiKey", "Invalid API-key provided.")


def sync_not_supported() -> ApiError:
    """403 for an async-only endpoint called without ``X-DashScope-Async: enable``."""
    return ApiError(403, "AccessDenied", "current user api does not support synchronous calls")


def admin_token_required() -> ApiError:
    """403 for an admin call without the configured ``X-Admin-Token``."""
    return ApiError(403, "AccessDenied", "A valid X-Admin-Token header is required.")


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


def invalid_url(message: str) -> ApiError:
    """400 InvalidURL: an input image source the service cannot resolve."""
    return ApiError(400, "InvalidURL", message)


def empty_model() -> ApiError:
    """400 for a body without ``model``."""
    return ApiError(
        400, "BadRequest.EmptyModel", 'Required parameter "model" missing from request.'
    )


def empty_input() -> ApiError:
    """400 for a body without (or with an empty) ``input``."""
    return ApiError(400, "BadRequest.EmptyInput", "Required input parameter missing from request.")


def model_not_found(model: str) -> ApiError:
    """404 for an unknown model (`model` as it should be echoed)."""
    return ApiError(404, "ModelNotFound", f"Model not found ({model})")


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


# ------------------------------------------------------------------------------ OSS, XML


def no_such_key() -> ApiError:
    """404 for a result image that does not exist (or not yet, or no longer)."""
    return ApiError(404, "NoSuchKey", "The specified key does not exist.")


def url_unsigned() -> ApiError:
    """403 for a result URL without a readable ``Expires`` or ``Signature``."""
    return ApiError(
        403, "AccessDenied", "You have no right to access this object because of bucket acl."
    )


def url_signature_mismatch() -> ApiError:
    """403 for a result URL whose signature does not match."""
    return ApiError(
        403,
        "SignatureDoesNotMatch",
        _SIGNATURE_MISMATCH_MESSAGE + " Check your key and signing method.",
    )


def url_expired() -> ApiError:
    """403 for a result URL past its ``Expires``."""
    return ApiError(403, "AccessDenied", URL_EXPIRED_MESSAGE)


def invalid_access_key_id() -> ApiError:
    """403 for an upload form without the policy's access key id (or without a policy)."""
    return ApiError(
        403,
        "InvalidAccessKeyId",
        "The OSS Access Key Id you provided does not exist in our records.",
    )


def policy_signature_mismatch() -> ApiError:
    """403 for an upload form whose policy signature does not match."""
    return ApiError(403, "SignatureDoesNotMatch", _SIGNATURE_MISMATCH_MESSAGE)


def invalid_policy() -> ApiError:
    """400 for an upload policy that does not decode."""
    return ApiError(400, "InvalidPolicyDocument", "Invalid Policy: Invalid JSON.")


def policy_expired() -> ApiError:
    """403 for an upload under an expired policy."""
    return ApiError(403, "AccessDenied", "Invalid according to Policy: Policy expired.")


def policy_condition_failed(prefix: str) -> ApiError:
    """403 for an upload key outside the policy's ``upload_dir``."""
    return ApiError(
        403,
        "AccessDenied",
        "Invalid according to Policy: Policy Condition failed: "
        '["starts-with", "$key", "' + prefix + '"]',
    )


def invalid_argument(message: str) -> ApiError:
    """400 InvalidArgument: an upload form that cannot be read, or lacks its file."""
    return ApiError(400, "InvalidArgument", message)


def entity_too_large() -> ApiError:
    """400 for an uploaded file above the policy's size limit."""
    return ApiError(400, "EntityTooLarge", "Your proposed upload exceeds the maximum allowed size.")


def file_already_exists() -> ApiError:
    """409 for an upload over an existing key with ``x-oss-forbid-overwrite``."""
    return ApiError(
        409,
        "FileAlreadyExists",
        "The object you specified already exists and can not be overwritten.",
    )
