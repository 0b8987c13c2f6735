"""The project's one error tree.

Every failure that crosses a module boundary is one of these. Adapters (the DashScope client,
the S3 store, the result fetcher, the job store) translate third-party exceptions into this
tree through one table each, re-raising ``from exc``; nothing above them sees an httpx,
botocore or redis-py exception.

::

    WanqError
    ├── RetryableError                 try again later; nothing was spent
    │   ├── UpstreamThrottled          429: Throttling, Throttling.RateQuota,
    │   │                              Throttling.AllocationQuota, burst protection
    │   ├── UpstreamUnavailable        5xx, timeouts, refused or dropped connections,
    │   │                              malformed answers to idempotent calls
    │   ├── StorageUnavailable         the object store did not answer
    │   ├── RedisUnavailable           Redis (job store, limiter, broker) did not answer
    │   │                              (refused, dropped, timed out, loading, read-only)
    │   └── BrokerUnavailable          (producers) the broker did not take some submit
    │                                  messages; the jobs are recorded and listed as unsent
    ├── PermanentError                 retrying cannot help
    │   ├── InputInvalid               refused before anything was queued or spent
    │   ├── UpstreamRejected           the service said no (InvalidParameter,
    │   │   │                          DataInspectionFailed, Arrearage, ModelNotFound, ...)
    │   │   └── UpstreamAuthFailed     InvalidApiKey, AccessDenied*: the key or account is wrong
    │   ├── ResultExpired              a result URL no longer serves its image (403 from OSS)
    │   ├── ResultRefused              a result URL wanqueue will not fetch (host not allowed,
    │   │                              a private address, a redirect, too large, another 4xx)
    │   ├── StorageRejected            the object store refused (NoSuchBucket, AccessDenied,
    │   │                              NoSuchKey for an input, bad credentials, ...)
    │   ├── RedisRejected              Redis refused a command for good (a script error, a
    │   │                              wrong type, bad credentials, no permission, ...)
    │   ├── JobNotFound                (producers) no record for a job id (never created,
    │   │                              or expired)
    │   └── FlowerRefused              (producers) Flower would start without a password
    └── SubmitAmbiguous                a submit may have reached the service but no answer
                                       came back; the service has no idempotency key and bills
                                       every task, so the caller must reconcile (list the
                                       account's tasks) instead of resubmitting blindly

Leaves marked (producers) are defined in :mod:`producers.errors`; they are drawn here so that
the whole tree reads in one place (this module imports nothing of the producers).

Exceptions survive the queue: each passes all its constructor arguments to
``super().__init__`` in order and keeps only JSON-safe attributes, so Celery can rebuild it
from ``args``.
"""

from __future__ import annotations


class WanqError(Exception):
    """Root of every wanqueue error."""


class RetryableError(WanqError):
    """A failure that may pass if the same call is made again later."""


class PermanentError(WanqError):
    """A failure that the same call will meet again."""


class _UpstreamError:
    """Fields shared by errors that carry the service's answer (a mixin, not a branch)."""

    code: str
    message: str
    request_id: str | None
    status_code: int | None

    def _describe(self) -> str:
        where = f"HTTP {self.status_code}" if self.status_code is not None else "no HTTP status"
        rid = f", request_id={self.request_id}" if self.request_id else ""
        return f"{self.code}: {self.message} ({where}{rid})"


class UpstreamThrottled(_UpstreamError, RetryableError):
    """The service answered 429.

    Attributes:
        code: The service's code (``Throttling``, ``Throttling.RateQuota``, ...).
        message: The service's message.
        request_id: The service's request id, when it sent one.
        status_code: The HTTP status (429).
        retry_after_s: Seconds from a ``Retry-After`` header, when present.
    """

    def __init__(
        self,
        code: str,
        message: str,
        request_id: str | None = None,
        status_code: int | None = 429,
        retry_after_s: float | None = None,
    ) -> None:
        super().__init__(code, message, request_id, status_code, retry_after_s)
        self.code = code
        self.message = message
        self.request_id = request_id
        self.status_code = status_code
        self.retry_after_s = retry_after_s

    def __str__(self) -> str:
        return self._describe()


class UpstreamUnavailable(_UpstreamError, RetryableError):
    """The service failed to answer usefully: 5xx, timeout, connection error, bad body.

    Attributes:
        code: The service's code, or a local one (``Timeout``, ``ConnectError``, ...).
        message: What happened.
        request_id: The service's request id, when it sent one.
        status_code: The HTTP status, or None when no response arrived.
    """

    def __init__(
        self,
        code: str,
        message: str,
        request_id: str | None = None,
        status_code: int | None = None,
    ) -> None:
        super().__init__(code, message, request_id, status_code)
        self.code = code
        self.message = message
        self.request_id = request_id
        self.status_code = status_code

    def __str__(self) -> str:
        return self._describe()


class _ServiceUnavailable(RetryableError):
    """A service of ours (object store, Redis) did not answer in time; a later try may pass.

    Attributes:
        operation: What was attempted (``put_object``, ``acquire``, ``send_task``, ...).
        message: What happened.
    """

    def __init__(self, operation: str, message: str) -> None:
        super().__init__(operation, message)
        self.operation = operation
        self.message = message

    def __str__(self) -> str:
        return f"{self.operation}: {self.message}"


class StorageUnavailable(_ServiceUnavailable):
    """The object store could not be reached or answered with a server error."""


class RedisUnavailable(_ServiceUnavailable):
    """Redis (the job store, the limiter or the broker) could not be reached in time."""


class InputInvalid(PermanentError):
    """A request broke a rule of the job contract; nothing was queued or spent.

    Attributes:
        field: Dotted path of the offending field (``parameters.size``, ``images[2]``).
        rule: The rule that was broken, in words.
        value: A short, printable rendering of the offending value.
    """

    def __init__(self, field: str, rule: str, value: str | None = None) -> None:
        super().__init__(field, rule, value)
        self.field = field
        self.rule = rule
        self.value = value

    def __str__(self) -> str:
        shown = f" (got {self.value})" if self.value is not None else ""
        return f"{self.field}: {self.rule}{shown}"


class UpstreamRejected(_UpstreamError, PermanentError):
    """The service refused the request or failed the task for good.

    Attributes:
        code: The service's code (``InvalidParameter``, ``DataInspectionFailed``, ...).
        message: The service's message.
        request_id: The service's request id, when it sent one.
        status_code: The HTTP status (None for a FAILED task reported with HTTP 200).
    """

    def __init__(
        self,
        code: str,
        message: str,
        request_id: str | None = None,
        status_code: int | None = None,
    ) -> None:
        super().__init__(code, message, request_id, status_code)
        self.code = code
        self.message = message
        self.request_id = request_id
        self.status_code = status_code

    def __str__(self) -> str:
        return self._describe()


class UpstreamAuthFailed(UpstreamRejected):
    """The key is invalid, or the account may not use this model or workspace."""


class ResultExpired(PermanentError):
    """A result URL answered that its image is gone (expired signature or object).

    Attributes:
        index: Position of the result in the task's output.
        message: What the host answered (never the URL's signature).
    """

    def __init__(self, index: int, message: str) -> None:
        super().__init__(index, message)
        self.index = index
        self.message = message

    def __str__(self) -> str:
        return f"result {self.index}: {self.message}"


class ResultRefused(PermanentError):
    """A result that wanqueue will not fetch or keep.

    Attributes:
        index: Position of the result in the task's output.
        reason: Why (``HostNotAllowed``, ``AddressNotAllowed``: a host that resolves to a
            private address, ``Redirect``, ``TooLarge``, ``HTTP 404``...).
        message: Details (never the URL's signature).
    """

    def __init__(self, index: int, reason: str, message: str) -> None:
        super().__init__(index, reason, message)
        self.index = index
        self.reason = reason
        self.message = message

    def __str__(self) -> str:
        return f"result {self.index}: {self.reason}: {self.message}"


class _ServiceRejected(PermanentError):
    """A service of ours (object store, Redis) refused a request for good.

    Attributes:
        operation: What was attempted (``put_object``, ``transition``, ...).
        code: The service's error code or the client's exception class (``NoSuchBucket``,
            ``AccessDenied``, ``ResponseError``, ...).
        message: What happened.
    """

    def __init__(self, operation: str, code: str, message: str) -> None:
        super().__init__(operation, code, message)
        self.operation = operation
        self.code = code
        self.message = message

    def __str__(self) -> str:
        return f"{self.operation}: {self.code}: {self.message}"


class StorageRejected(_ServiceRejected):
    """The object store refused a request for good (``NoSuchBucket``, ``AccessDenied``, ...)."""


class RedisRejected(_ServiceRejected):
    """Redis refused a command in a way that the same command will meet again."""


class SubmitAmbiguous(WanqError):
    """A submit whose fate is unknown: it may have created (and billed) a task.

    Attributes:
        reason: What cut the exchange short (``ReadTimeout``, ``RemoteProtocolError``, a 5xx
            after the body was sent, an unparseable 200, ...).
        message: Details.
        request_id: The request id, if one was seen.
    """

    def __init__(self, reason: str, message: str, request_id: str | None = None) -> None:
        super().__init__(reason, message, request_id)
        self.reason = reason
        self.message = message
        self.request_id = request_id

    def __str__(self) -> str:
        rid = f" (request_id={self.request_id})" if self.request_id else ""
        return f"submit outcome unknown after {self.reason}: {self.message}{rid}"
