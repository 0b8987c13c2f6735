"""Object storage: a small protocol and its S3 implementation (boto3, any S3-compatible store).

Only this module sees botocore's exceptions. :class:`S3Store` translates every one of them
through one table, :data:`EXCEPTION_RULES` (walked along the exception's MRO) and, for the
store's own answers (``ClientError``), :data:`CODE_RULES` then the HTTP status, into
:class:`~workers.errors.StorageUnavailable` (retryable) or
:class:`~workers.errors.StorageRejected` (permanent), raised ``from`` the original.

Retries are Celery's (declared once on the base task), so the boto3 client makes one attempt
per call. Checksums are computed by wanqueue and sent as ``ChecksumSHA256`` when the settings
allow; boto3's own default checksums are limited to the calls that require them, for
S3-compatible stores that refuse the newer headers.
"""

from __future__ import annotations

import base64
from collections.abc import Mapping
from enum import Enum
from types import MappingProxyType
from typing import IO, Any, Final, Protocol

import boto3
import botocore.exceptions as bce
from botocore.config import Config

from config.settings import S3Settings
from workers.errors import StorageRejected, StorageUnavailable, WanqError

SHA256_METADATA: Final = "sha256"
"""User-metadata key holding an object's SHA-256 (hex)."""
MAX_POOL_CONNECTIONS: Final = 50


class ObjectStore(Protocol):
    """Where results are kept (and staged inputs are read from)."""

    @property
    def bucket(self) -> str:
        """The bucket results go to."""

    def stored_sha256(self, key: str) -> str | None:
        """The SHA-256 (hex) recorded on an object, or None when there is no such object."""

    def put(
        self,
        key: str,
        body: IO[bytes],
        *,
        size: int,
        sha256_hex: str,
        content_type: str,
        metadata: Mapping[str, str],
    ) -> None:
        """Store an object with its checksum and metadata."""

    def presign_get(self, bucket: str, key: str, ttl_s: int) -> str:
        """A URL that reads an object without credentials for ``ttl_s`` seconds."""

    def read(self, bucket: str, key: str, max_bytes: int) -> bytes:
        """An object's bytes (StorageRejected ``TooLarge`` past ``max_bytes``)."""


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

TRANSLATED_EXCEPTIONS: Final = (
    bce.BotoCoreError,
    bce.ClientError,
    bce.UndefinedModelAttributeError,
)
"""What :class:`S3Store` catches around every boto3 call."""

_NOT_FOUND: Final = frozenset({"404", "NoSuchKey", "NotFound"})


def rule_for(exc: BaseException) -> Outcome:
    """The table's outcome for an exception (nearest class of its MRO).

    Raises:
        KeyError: Not a botocore exception.
    """
    for cls in type(exc).__mro__:
        if cls in EXCEPTION_RULES:
            if issubclass(cls, bce.ClientError) and isinstance(exc, bce.ClientError):
                return _client_error_rule(exc)
            return EXCEPTION_RULES[cls]
    raise KeyError(type(exc).__name__)


def _client_error_rule(exc: bce.ClientError) -> Outcome:
    code, status = _code_and_status(exc)
    if code in CODE_RULES:
        return CODE_RULES[code]
    if status is not None and (status >= 500 or status in (408, 429)):
        return _R
    return _P


def _code_and_status(exc: bce.ClientError) -> tuple[str, int | None]:
    response: Mapping[str, Any] = getattr(exc, "response", {}) or {}
    code = str(response.get("Error", {}).get("Code") or "Unknown")
    status = response.get("ResponseMetadata", {}).get("HTTPStatusCode")
    return code, status if isinstance(status, int) else None


def translate(exc: Exception, operation: str) -> WanqError:
    """The project error for a botocore exception (raise it ``from exc``)."""
    if isinstance(exc, bce.ClientError):
        code, _ = _code_and_status(exc)
    else:
        code = type(exc).__name__
    message = str(exc)[:500]
    if rule_for(exc) is Outcome.RETRYABLE:
        return StorageUnavailable(operation, f"{code}: {message}")
    return StorageRejected(operation, code, message)


def s3_client(s3: S3Settings) -> Any:
    """A boto3 S3 client for the settings (one per process; boto3 clients are thread-safe)."""
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
            retries={"mode": "standard", "total_max_attempts": 1},
            max_pool_connections=MAX_POOL_CONNECTIONS,
            request_checksum_calculation="when_required",
            response_checksum_validation="when_required",
        ),
    )


class S3Store:
    """:class:`ObjectStore` on an S3-compatible endpoint.

    Args:
        client: A boto3 S3 client (see :func:`s3_client`).
        bucket: The results bucket.
        checksum_sha256: Send ``ChecksumSHA256`` on puts (the store verifies it).
    """

    def __init__(self, client: Any, bucket: str, *, checksum_sha256: bool = True) -> None:
        self._client = client
        self._bucket = bucket
        self._checksum_sha256 = checksum_sha256

    @classmethod
    def from_settings(cls, s3: S3Settings) -> S3Store:
        """The process's store, with a client built from the ``s3`` settings."""
        return cls(s3_client(s3), s3.bucket, checksum_sha256=s3.checksum_sha256)

    @property
    def bucket(self) -> str:
        """The results bucket."""
        return self._bucket

    def close(self) -> None:
        """Close the client's connection pool."""
        self._client.close()

    def stored_sha256(self, key: str) -> str | None:
        """The ``sha256`` metadata of an object, or None when it does not exist.

        An object without the metadata gives ``""`` (it exists, checksum unknown).
        """
        try:
            head = self._client.head_object(Bucket=self._bucket, Key=key)
        except TRANSLATED_EXCEPTIONS as exc:
            if isinstance(exc, bce.ClientError) and _code_and_status(exc)[0] in _NOT_FOUND:
                return None
            raise translate(exc, "head_object") from exc
        metadata: Mapping[str, str] = head.get("Metadata") or {}
        return metadata.get(SHA256_METADATA, "")

    def put(
        self,
        key: str,
        body: IO[bytes],
        *,
        size: int,
        sha256_hex: str,
        content_type: str,
        metadata: Mapping[str, str],
    ) -> None:
        """Store an object; its SHA-256 goes into the metadata (and ``ChecksumSHA256``)."""
        kwargs: dict[str, Any] = {
            "Bucket": self._bucket,
            "Key": key,
            "Body": body,
            "ContentLength": size,
            "ContentType": content_type,
            "Metadata": {**metadata, SHA256_METADATA: sha256_hex},
        }
        if self._checksum_sha256:
            kwargs["ChecksumSHA256"] = base64.b64encode(bytes.fromhex(sha256_hex)).decode()
        try:
            self._client.put_object(**kwargs)
        except TRANSLATED_EXCEPTIONS as exc:
            raise translate(exc, "put_object") from exc

    def presign_get(self, bucket: str, key: str, ttl_s: int) -> str:
        """A presigned GET URL (computed locally; nothing is sent)."""
        try:
            url: str = self._client.generate_presigned_url(
                "get_object", Params={"Bucket": bucket, "Key": key}, ExpiresIn=ttl_s
            )
        except TRANSLATED_EXCEPTIONS as exc:
            raise translate(exc, "generate_presigned_url") from exc
        return url

    def read(self, bucket: str, key: str, max_bytes: int) -> bytes:
        """An object's bytes, refused past ``max_bytes``."""
        try:
            answer = self._client.get_object(Bucket=bucket, Key=key)
            size = int(answer.get("ContentLength") or 0)
            if size > max_bytes:
                answer["Body"].close()
                raise StorageRejected("get_object", "TooLarge", f"{size} > {max_bytes} bytes")
            data: bytes = answer["Body"].read(max_bytes + 1)
        except TRANSLATED_EXCEPTIONS as exc:
            raise translate(exc, "get_object") from exc
        if len(data) > max_bytes:
            raise StorageRejected("get_object", "TooLarge", f"more than {max_bytes} bytes")
        return data
