"""The one S3 adapter: the boto3 client factory, the botocore error table, input references.

Workers (:mod:`workers.storage`), producers (:mod:`producers.s3`) and the local stack
(:mod:`devstack.s3`) build their clients with :func:`s3_client` and translate botocore's
exceptions with :func:`translate`, so that the same failure means the same thing everywhere.

Translation walks the exception's MRO through :data:`EXCEPTION_RULES`; for the store's own
answers (``ClientError``) :data:`CODE_RULES` decides, then the HTTP status. The result is
:class:`~workers.errors.StorageUnavailable` (retryable) or
:class:`~workers.errors.StorageRejected` (permanent), to be raised ``from`` the original.

``s3://`` inputs are read with the worker's credentials, so only objects a producer could
have staged are accepted (:func:`check_input_ref`): the configured bucket, under
``inputs_prefix``. Anything else would let a job read any object the worker can.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from enum import Enum
from types import MappingProxyType
from typing import Any, Final

import boto3
import botocore.exceptions as bce
from botocore.config import Config

from config import S3Settings
from workers.errors import InputInvalid, StorageRejected, StorageUnavailable, WanqError

MAX_POOL_CONNECTIONS: Final = 50
MAX_MESSAGE_CHARS: Final = 500
S3_SCHEME: Final = "s3://"


class Outcome(Enum):
    """What a failure means for the caller."""

    RETRYABLE = "retryable"
    PERMANENT = "permanent"


_R, _P = Outcome.RETRYABLE, Outcome.PERMANENT
EXCEPTION_RULES: Final[Mapping[type[Exception], Outcome]] = MappingProxyType(
    {
        # The store could not be reached, or the exchange broke: try again later.
        bce.ConnectionError: _R,  # EndpointConnectionError, ConnectTimeoutError, SSLError...
        bce.HTTPClientError: _R,  # ReadTimeoutError, ConnectionClosedError, streaming errors
        bce.IncompleteReadError: _R,
        bce.ChecksumError: _R,  # the bytes were damaged on the way
        bce.FlexibleChecksumError: _R,
        bce.CredentialRetrievalError: _R,  # an instance-metadata hiccup
        bce.MetadataRetrievalError: _R,
        bce.CapacityNotAvailableError: _R,  # botocore's own retry quota ran out for now
        # Configuration and programming errors: the same call fails again.
        bce.NoCredentialsError: _P,
        bce.PartialCredentialsError: _P,
        bce.ParamValidationError: _P,
        bce.BotoCoreError: _P,
        bce.UndefinedModelAttributeError: _P,  # a broken service model (not a BotoCoreError)
        # The store answered: decided by its code, then by the HTTP status.
        bce.ClientError: _P,
    }
)
"""Every botocore exception, by its nearest listed class (MRO)."""

CODE_RULES: Final[Mapping[str, Outcome]] = MappingProxyType(
    {
        "SlowDown": _R,
        "Throttling": _R,
        "RequestLimitExceeded": _R,
        "InternalError": _R,
        "ServiceUnavailable": _R,
        "RequestTimeout": _R,
        "BadDigest": _R,
        "XAmzContentSHA256Mismatch": _R,
        "NoSuchBucket": _P,
        "NoSuchKey": _P,
        "AccessDenied": _P,
        "InvalidAccessKeyId": _P,
        "SignatureDoesNotMatch": _P,
        "InvalidBucketName": _P,
        "InvalidRequest": _P,
        "InvalidArgument": _P,
    }
)
"""S3 error codes whose meaning does not follow from their HTTP status."""

TRANSLATED_EXCEPTIONS: Final[tuple[type[Exception], ...]] = tuple(EXCEPTION_RULES)
"""What every caller catches around a boto3 call (then :func:`translate`)."""

NOT_FOUND_CODES: Final = frozenset({"404", "NoSuchKey", "NotFound"})


def s3_client(s3: S3Settings, *, max_attempts: int = 1) -> Any:
    """A boto3 S3 client for the settings (boto3 ships no types; clients are thread-safe).

    Args:
        s3: Endpoint, region, credentials, addressing style and timeouts.
        max_attempts: Attempts per call, the first included. Workers keep the default (one:
            Celery's retry policy is the only one); callers without a retry policy of their
            own (producers, the local stack) may ask for more.
    """
    if s3.secret_access_key is not None:
        _SECRETS.add(s3.secret_access_key.get_secret_value())
    return boto3.client(
        "s3",
        endpoint_url=s3.endpoint_url,
        region_name=s3.region,
        aws_access_key_id=s3.access_key_id.get_secret_value() if s3.access_key_id else None,
        aws_secret_access_key=(
            s3.secret_access_key.get_secret_value() if s3.secret_access_key else None
        ),
        config=Config(
            s3={"addressing_style": s3.addressing_style},
            connect_timeout=s3.connect_timeout_s,
            read_timeout=s3.read_timeout_s,
            retries={"mode": "standard", "total_max_attempts": max_attempts},
            max_pool_connections=MAX_POOL_CONNECTIONS,
            request_checksum_calculation="when_required",
            response_checksum_validation="when_required",
        ),
    )


def rule_for(exc: BaseException) -> Outcome:
    """The table's outcome for an exception (nearest class of its MRO).

    Raises:
        KeyError: Not a botocore exception.
    """
    for cls in type(exc).__mro__:
        if cls in EXCEPTION_RULES:
            if isinstance(exc, bce.ClientError):
                return _client_error_rule(exc)
            return EXCEPTION_RULES[cls]
    raise KeyError(type(exc).__name__)


def _client_error_rule(exc: bce.ClientError) -> Outcome:
    code, status = code_and_status(exc)
    if code in CODE_RULES:
        return CODE_RULES[code]
    if status is not None and (status >= 500 or status in (408, 429)):
        return _R
    return _P


def code_and_status(exc: bce.ClientError) -> tuple[str, int | None]:
    """The store's error code (``Unknown`` if none) and HTTP status of an answer."""
    response: Mapping[str, Any] = getattr(exc, "response", {}) or {}
    code = str(response.get("Error", {}).get("Code") or "Unknown")
    status = response.get("ResponseMetadata", {}).get("HTTPStatusCode")
    return code, status if isinstance(status, int) else None


def is_not_found(exc: BaseException) -> bool:
    """Whether a botocore exception says the object does not exist."""
    return isinstance(exc, bce.ClientError) and code_and_status(exc)[0] in NOT_FOUND_CODES


_SECRETS: set[str] = set()
"""The secret keys of the clients this process made (:func:`s3_client`): a store's message
that quotes one (a misconfigured proxy echoing a configuration dump) never carries it on."""


def _redacted(message: str) -> str:
    for secret in sorted(_SECRETS, key=len, reverse=True):  # a key inside another: longest first
        if secret:
            message = message.replace(secret, "***")
    return message


def translate(exc: Exception, operation: str) -> WanqError:
    """The project error for a botocore exception (raise it ``from exc``), with the secret
    keys of this process's clients taken out of its message."""
    code = code_and_status(exc)[0] if isinstance(exc, bce.ClientError) else type(exc).__name__
    # The caller raises ``from exc``: tracebacks (logs, Flower) print exc too.
    exc.args = tuple(_redacted(a) if isinstance(a, str) else a for a in exc.args)
    message = _redacted(str(exc))[:MAX_MESSAGE_CHARS]
    if rule_for(exc) is Outcome.RETRYABLE:
        return StorageUnavailable(operation, f"{code}: {message}")
    return StorageRejected(operation, code, message)


@contextmanager
def translated(operation: str) -> Iterator[None]:
    """Translate the botocore exceptions raised inside the block."""
    try:
        yield
    except TRANSLATED_EXCEPTIONS as exc:
        raise translate(exc, operation) from exc


def split_ref(ref: str) -> tuple[str, str]:
    """``(bucket, key)`` of an ``s3://bucket/key`` reference (either may be empty)."""
    bucket, _, key = ref[len(S3_SCHEME) :].partition("/")
    return bucket, key


def check_input_ref(
    ref: str, bucket: str, inputs_prefix: str, field: str = "images"
) -> tuple[str, str]:
    """The ``(bucket, key)`` of an ``s3://`` input that wanqueue may read for a job.

    Only ``bucket`` (``S3Settings.bucket``), under ``inputs_prefix`` (where producers stage
    inputs), with no empty, ``.`` or ``..`` segment in the key (some stores normalise them).

    Raises:
        InputInvalid: Any other reference.
    """
    shown = ref[:120]
    if ref[: len(S3_SCHEME)].lower() != S3_SCHEME:
        raise InputInvalid(field, "an s3 source must be s3://bucket/key", shown)
    ref_bucket, key = split_ref(ref)
    if ref_bucket != bucket or not key.startswith(inputs_prefix):
        raise InputInvalid(field, f"an s3 source must be in s3://{bucket}/{inputs_prefix}", shown)
    if any(part in ("", ".", "..") for part in key.split("/")):
        raise InputInvalid(field, "an s3 key may not have empty, '.' or '..' segments", shown)
    return ref_bucket, key
