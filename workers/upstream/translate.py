"""The one table that turns DashScope answers and httpx exceptions into the project's errors.

Nothing outside ``workers/upstream`` sees an httpx exception or a raw error body: the client
hands every failure to :func:`error_from_answer` or :func:`error_from_exception` and raises
what they return ``from`` the original.

Error answers (dashscope-protocol.md section 7) are classified by the service's ``code`` through
:data:`CODE_KINDS` (exact match, then :data:`CODE_PREFIX_KINDS`); an unknown or missing code falls
back to the HTTP status class (401/403 auth, 408 and 5xx unavailable, 429 throttled, other
statuses rejected). A non-JSON body gets code ``Unknown`` and its text, truncated, as message,
as the SDK does. ``Retry-After`` (seconds or an HTTP date) and ``retry-after-ms`` fill
``UpstreamThrottled.retry_after_s``. Billing codes (Arrearage, PrepaidBillOverdue,
PostpaidBillOverdue, AllocationQuota.FreeTierOnly) are permanent rejections even when they come
with a 429: waiting does not pay the bill.

Submits are not idempotent: the service has no idempotency key and bills every task, so a
second submission of the same job is a defect. A failed submit (async submit, and the billed
synchronous ``generate``) is therefore retryable only when the request provably never reached
the service, or the service answered that it did not take it:

* Retryable (``UpstreamUnavailable``): no connection was made or the request was never complete
  (ConnectError, ConnectTimeout, PoolTimeout, ProxyError, UnsupportedProtocol, InvalidURL,
  LocalProtocolError); a JSON ``503 ServiceUnavailable`` (load shedding at the door); a 408
  (the server did not receive the whole request). 429 and 4xx answers are refusals by the
  service and create nothing.
* Ambiguous (``SubmitAmbiguous``): the request may have been taken but no usable answer came
  back (ReadTimeout, ReadError, RemoteProtocolError, WriteTimeout, WriteError, CloseError,
  DecodingError, TooManyRedirects, and the generic base classes, which could be any of these);
  every 502 and 504 (a gateway gave up on a service that may still be working); any non-JSON 5xx
  (e.g. envoy's 503 "upstream connect error or disconnect/reset", sent after forwarding); and a
  JSON ``500 InternalError`` (or ``InternalError.*``, or any other 5xx code). The 500 is the
  judgment call: the service answered, but an internal error or internal timeout can strike
  after the task was persisted and before the answer was built, and nothing in the answer says
  otherwise. Reconciling costs one list call; a wrong retry costs a billed duplicate. An HTTP
  200 without a usable ``task_id`` is ambiguous too (decided by the client).

Idempotent calls (fetch, list, cancel) map every transport failure and every 5xx to
``UpstreamUnavailable``. Local programming errors (httpx's StreamError family, CookieConflict,
HTTPStatusError: this client never streams, never uses cookies, never calls
``raise_for_status``) are in the table as ``BUG``: a permanent ``UpstreamRejected`` with code
``ClientBug``, except on a submit where a request may already have been sent (ambiguous).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from enum import Enum
from types import MappingProxyType
from typing import Final

import httpx

from workers.errors import (
    SubmitAmbiguous,
    UpstreamAuthFailed,
    UpstreamRejected,
    UpstreamThrottled,
    UpstreamUnavailable,
    WanqError,
)
from workers.upstream.answers import (
    UNKNOWN_CODE,
    ErrorBody,
    Secret,
    parse_retry_after,
    read_error_body,
    redact,
    truncate,
)
from workers.upstream.models import TaskResult

MALFORMED_CODE: Final = "MalformedAnswer"
BUG_CODE: Final = "ClientBug"


class ErrorKind(Enum):
    """What a DashScope error code means for the caller."""

    THROTTLED = "throttled"
    UNAVAILABLE = "unavailable"
    AUTH = "auth"
    REJECTED = "rejected"


class Outcome(Enum):
    """What a transport exception means for one kind of call."""

    UNAVAILABLE = "unavailable"
    """Nothing was taken: retry."""
    AMBIGUOUS = "ambiguous"
    """A submit may have created a task: reconcile, never resubmit blindly."""
    BUG = "bug"
    """A local programming error: fail for good."""


_K = ErrorKind
CODE_KINDS: Final[Mapping[str, ErrorKind]] = MappingProxyType(
    {
        "InvalidParameter": _K.REJECTED,
        "DataInspectionFailed": _K.REJECTED,
        "BadRequest.EmptyInput": _K.REJECTED,
        "BadRequest.EmptyParameters": _K.REJECTED,
        "BadRequest.EmptyModel": _K.REJECTED,
        "InvalidURL": _K.REJECTED,
        "Arrearage": _K.REJECTED,
        "UnsupportedOperation": _K.REJECTED,
        "InvalidApiKey": _K.AUTH,
        "AccessDenied": _K.AUTH,
        "AccessDenied.Unpurchased": _K.AUTH,
        "Model.AccessDenied": _K.AUTH,
        "Workspace.AccessDenied": _K.AUTH,
        "AllocationQuota.FreeTierOnly": _K.REJECTED,
        "ModelNotFound": _K.REJECTED,
        "Model.NotExist": _K.REJECTED,
        "WorkSpaceNotFound": _K.REJECTED,
        "Throttling": _K.THROTTLED,
        "Throttling.RateQuota": _K.THROTTLED,
        "Throttling.AllocationQuota": _K.THROTTLED,
        "Throttling.BurstRate": _K.THROTTLED,  # a guess at burst protection's code [I]
        "PrepaidBillOverdue": _K.REJECTED,
        "PostpaidBillOverdue": _K.REJECTED,
        "InternalError": _K.UNAVAILABLE,
        "ServiceUnavailable": _K.UNAVAILABLE,
        "GatewayTimeout": _K.UNAVAILABLE,
        "RequestTimeOut": _K.UNAVAILABLE,
    }
)
"""Every code of dashscope-protocol.md section 7.2 (burst protection has no known code: a 429
with an unknown code is throttling by status class)."""

CODE_PREFIX_KINDS: Final[tuple[tuple[str, ErrorKind], ...]] = (
    ("InternalError.", _K.UNAVAILABLE),
    ("Throttling.", _K.THROTTLED),
    ("AccessDenied.", _K.AUTH),
)


@dataclass(frozen=True)
class TransportRule:
    """How one httpx exception class is translated.

    Attributes:
        submit: Outcome for a non-idempotent call (submit, generate).
        idempotent: Outcome for fetch, list and cancel.
    """

    submit: Outcome
    idempotent: Outcome


_U, _A, _B = Outcome.UNAVAILABLE, Outcome.AMBIGUOUS, Outcome.BUG
TRANSPORT_RULES: Final[Mapping[type[Exception], TransportRule]] = MappingProxyType(
    {
        # The request provably never left (or never completed): safe to send again.
        httpx.ConnectError: TransportRule(_U, _U),
        httpx.ConnectTimeout: TransportRule(_U, _U),
        httpx.PoolTimeout: TransportRule(_U, _U),
        httpx.ProxyError: TransportRule(_U, _U),
        httpx.UnsupportedProtocol: TransportRule(_U, _U),
        httpx.LocalProtocolError: TransportRule(_U, _U),
        httpx.InvalidURL: TransportRule(_U, _U),
        # It may have reached the service; no usable answer came back.
        httpx.ReadTimeout: TransportRule(_A, _U),
        httpx.WriteTimeout: TransportRule(_A, _U),
        httpx.ReadError: TransportRule(_A, _U),
        httpx.WriteError: TransportRule(_A, _U),
        httpx.CloseError: TransportRule(_A, _U),
        httpx.RemoteProtocolError: TransportRule(_A, _U),
        httpx.DecodingError: TransportRule(_A, _U),
        httpx.TooManyRedirects: TransportRule(_A, _U),
        # Base classes: an unlisted subclass could be any of the above.
        httpx.TimeoutException: TransportRule(_A, _U),
        httpx.NetworkError: TransportRule(_A, _U),
        httpx.ProtocolError: TransportRule(_A, _U),
        httpx.TransportError: TransportRule(_A, _U),
        httpx.RequestError: TransportRule(_A, _U),
        httpx.HTTPError: TransportRule(_A, _U),
        # Programming errors; on a submit, a response (so a task) may already exist.
        httpx.HTTPStatusError: TransportRule(_A, _B),
        httpx.StreamError: TransportRule(_A, _B),
        httpx.StreamConsumed: TransportRule(_A, _B),
        httpx.StreamClosed: TransportRule(_A, _B),
        httpx.ResponseNotRead: TransportRule(_A, _B),
        httpx.RequestNotRead: TransportRule(_B, _B),
        httpx.CookieConflict: TransportRule(_B, _B),
    }
)
"""Every exception class httpx exports. Lookup walks the exception's MRO."""

TRANSLATED_EXCEPTIONS: Final[tuple[type[Exception], ...]] = tuple(TRANSPORT_RULES)
"""What the client catches around every httpx call."""


def kind_of_code(code: str | None) -> ErrorKind | None:
    """The kind of a DashScope code, or None when the code is unknown or missing."""
    if not code:
        return None
    if code in CODE_KINDS:
        return CODE_KINDS[code]
    for prefix, kind in CODE_PREFIX_KINDS:
        if code.startswith(prefix):
            return kind
    return None


def kind_of_status(status: int) -> ErrorKind:
    """The kind implied by an HTTP status alone (for unknown codes and non-JSON bodies)."""
    if status == 429:
        return _K.THROTTLED
    if status == 408 or status >= 500:
        return _K.UNAVAILABLE
    if status in (401, 403):
        return _K.AUTH
    return _K.REJECTED


def _submit_retry_is_safe(status: int, body: ErrorBody) -> bool:
    """Whether a failed submit's answer proves that no task was created."""
    if status == 408:
        return True
    return status == 503 and body.is_json and body.code == "ServiceUnavailable"


def error_from_answer(
    response: httpx.Response,
    *,
    submit: bool,
    secret: Secret = None,
    now: datetime | None = None,
) -> WanqError:
    """Translate a non-2xx answer into the project error to raise.

    Args:
        response: The answer, already read.
        submit: True for a non-idempotent call (submit, generate).
        secret: The API key, redacted from any message.
        now: The current time, for ``Retry-After`` dates.
    """
    status = response.status_code
    body = read_error_body(response, secret)
    kind = kind_of_code(body.code) or kind_of_status(status)
    if kind is _K.THROTTLED:
        return UpstreamThrottled(
            body.code,
            body.message,
            body.request_id,
            status,
            parse_retry_after(response.headers, now),
        )
    if kind is _K.AUTH:
        return UpstreamAuthFailed(body.code, body.message, body.request_id, status)
    if kind is _K.REJECTED:
        return UpstreamRejected(body.code, body.message, body.request_id, status)
    if submit and not _submit_retry_is_safe(status, body):
        return SubmitAmbiguous(f"HTTP {status} {body.code}", body.message, body.request_id)
    return UpstreamUnavailable(body.code, body.message, body.request_id, status)


def rule_for(exc: BaseException) -> TransportRule:
    """The table's rule for an exception, found by walking its MRO.

    Raises:
        KeyError: No class in the MRO is in the table (not an httpx exception).
    """
    for cls in type(exc).__mro__:
        if issubclass(cls, Exception) and cls in TRANSPORT_RULES:
            return TRANSPORT_RULES[cls]
    raise KeyError(type(exc).__name__)


def error_from_exception(
    exc: Exception, *, submit: bool, what: str, secret: Secret = None
) -> WanqError:
    """Translate an httpx exception into the project error to raise ``from`` it.

    Args:
        exc: An instance of a class in :data:`TRANSPORT_RULES` (or a subclass).
        submit: True for a non-idempotent call (submit, generate).
        what: The call, for the message (``"POST /tasks/abc/cancel"``); never the key.
        secret: The API key, redacted from the message.
    """
    rule = rule_for(exc)
    outcome = rule.submit if submit else rule.idempotent
    name = type(exc).__name__
    message = truncate(redact(f"{what}: {exc}" if str(exc) else what, secret))
    if outcome is Outcome.AMBIGUOUS:
        return SubmitAmbiguous(name, message)
    if outcome is Outcome.BUG:
        return UpstreamRejected(BUG_CODE, f"{name}: {message}")
    return UpstreamUnavailable(name, message)


def malformed(detail: str, *, submit: bool, request_id: str | None, status: int) -> WanqError:
    """The error for a 2xx answer that cannot be used (not JSON, missing fields)."""
    if submit:
        return SubmitAmbiguous(MALFORMED_CODE, detail, request_id)
    return UpstreamUnavailable(MALFORMED_CODE, detail, request_id, status)


def error_from_failed_task(task: TaskResult) -> WanqError:
    """The project error a FAILED task stands for, by its code (same table).

    A failed task is not billed, so an ``InternalError`` failure is retryable (a new submit);
    an unknown code is a permanent rejection.
    """
    code = task.code or UNKNOWN_CODE
    message = task.message or f"task {task.task_id} {task.status}"
    kind = kind_of_code(task.code) or _K.REJECTED
    if kind is _K.THROTTLED:
        return UpstreamThrottled(code, message, task.request_id, None)
    if kind is _K.UNAVAILABLE:
        return UpstreamUnavailable(code, message, task.request_id, None)
    if kind is _K.AUTH:
        return UpstreamAuthFailed(code, message, task.request_id, None)
    return UpstreamRejected(code, message, task.request_id, None)
