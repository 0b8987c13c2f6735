"""The producer's S3 adapter: put staged inputs, read stored results.

Producers keep their own small client (they must not import the worker's storage module).
botocore's exceptions are seen here only: :func:`translate` maps each through
:data:`EXCEPTION_RULES` (nearest class first) to :class:`~workers.errors.StorageUnavailable`
(try again later) or :class:`~workers.errors.StorageRejected` (the store said no).
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from types import MappingProxyType
from typing import Any, Final

import boto3
import botocore.exceptions as bce
from botocore.config import Config

from config import S3Settings
from workers.errors import StorageRejected, StorageUnavailable, WanqError

MAX_MESSAGE_CHARS: Final = 300

EXCEPTION_RULES: Final[Mapping[type[Exception], bool]] = MappingProxyType(
    {
        # True: retryable (the store did not answer usefully); False: permanent.
        bce.EndpointConnectionError: True,
        bce.ConnectionClosedError: True,
        bce.ConnectTimeoutError: True,
        bce.ReadTimeoutError: True,
        bce.ResponseStreamingError: True,
        bce.HTTPClientError: True,
        bce.NoCredentialsError: False,
        bce.PartialCredentialsError: False,
        bce.ParamValidationError: False,
        bce.ClientError: False,  # refined by HTTP status in _client_error_retryable
        bce.BotoCoreError: True,
    }
)
"""Whether each botocore exception is retryable; the nearest class of an error's MRO wins."""

_NOT_FOUND: Final = frozenset({"404", "NoSuchKey", "NotFound"})


def s3_client(s3: S3Settings) -> Any:
    """A boto3 S3 client for the settings (boto3 ships no types; clients are thread-safe)."""
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
            retries={"mode": "standard", "max_attempts": 3},
            request_checksum_calculation="when_required",
            response_checksum_validation="when_required",
        ),
    )


def _code_and_status(exc: bce.ClientError) -> tuple[str, int | None]:
    response: Mapping[str, Any] = getattr(exc, "response", {}) or {}
    code = str(response.get("Error", {}).get("Code") or "Unknown")
    status = response.get("ResponseMetadata", {}).get("HTTPStatusCode")
    return code, status if isinstance(status, int) else None


def is_retryable(exc: Exception) -> bool:
    """The table's answer for a botocore exception.

    Raises:
        KeyError: Not a botocore exception.
    """
    for cls in type(exc).__mro__:
        if cls in EXCEPTION_RULES:
            if isinstance(exc, bce.ClientError):
                _, status = _code_and_status(exc)
                return status is not None and (status >= 500 or status in (408, 429))
            return EXCEPTION_RULES[cls]
    raise KeyError(type(exc).__name__)


def translate(exc: Exception, operation: str) -> WanqError:
    """The project error for a botocore exception (raise it ``from exc``)."""
    code = _code_and_status(exc)[0] if isinstance(exc, bce.ClientError) else type(exc).__name__
    message = str(exc)[:MAX_MESSAGE_CHARS]
    if is_retryable(exc):
        return StorageUnavailable(operation, f"{code}: {message}")
    return StorageRejected(operation, code, message)


def is_not_found(exc: Exception) -> bool:
    """Whether a botocore exception says the object does not exist."""
    return isinstance(exc, bce.ClientError) and _code_and_status(exc)[0] in _NOT_FOUND


@contextmanager
def translated(operation: str) -> Iterator[None]:
    """Translate botocore exceptions raised inside the block."""
    try:
        yield
    except (bce.BotoCoreError, bce.ClientError) as exc:
        raise translate(exc, operation) from exc


class S3Objects:
    """Objects in one bucket: what producers need of S3.

    The client is built on first use, so that a producer whose inputs are all URLs never
    builds one.

    Args:
        bucket: The bucket of staged inputs and stored results.
        client_factory: Builds a boto3 S3 client (see :func:`s3_client`).
    """

    def __init__(self, bucket: str, client_factory: Callable[[], Any]) -> None:
        self.bucket = bucket
        self._client_factory = client_factory
        self._built: Any = None

    @classmethod
    def from_settings(cls, s3: S3Settings) -> S3Objects:
        """Objects in ``s3.bucket``, through a client for these settings."""
        return cls(s3.bucket, functools.partial(s3_client, s3))

    @property
    def _client(self) -> Any:
        if self._built is None:
            self._built = self._client_factory()
        return self._built

    def exists(self, key: str) -> bool:
        """Whether the object exists.

        Raises:
            StorageUnavailable: The store did not answer.
            StorageRejected: The store refused (no bucket, no access, ...).
        """
        try:
            self._client.head_object(Bucket=self.bucket, Key=key)
        except (bce.BotoCoreError, bce.ClientError) as exc:
            if is_not_found(exc):
                return False
            raise translate(exc, "head_object") from exc
        return True

    def put(self, key: str, body: bytes, content_type: str) -> None:
        """Store an object (overwriting it).

        Raises:
            StorageUnavailable: The store did not answer.
            StorageRejected: The store refused.
        """
        with translated("put_object"):
            self._client.put_object(
                Bucket=self.bucket, Key=key, Body=body, ContentType=content_type
            )

    def read(self, key: str) -> bytes:
        """An object's bytes.

        Raises:
            StorageUnavailable: The store did not answer.
            StorageRejected: The store refused (``NoSuchKey`` included).
        """
        with translated("get_object"):
            answer = self._client.get_object(Bucket=self.bucket, Key=key)
            body: bytes = answer["Body"].read()
        return body

    def close(self) -> None:
        """Close the client's connections, if it was built."""
        if self._built is not None:
            self._built.close()
            self._built = None
