"""What producers need of S3: put staged inputs, read stored results.

The client and the translation of botocore's exceptions are the project's one S3 adapter,
:mod:`adapters.s3` (shared with the workers): every failure leaves as
:class:`~workers.errors.StorageUnavailable` (try again later) or
:class:`~workers.errors.StorageRejected` (the store said no).
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

from adapters.s3 import TRANSLATED_EXCEPTIONS, is_not_found, s3_client, translate, translated
from config import S3Settings
from producers.constants import S3_MAX_ATTEMPTS


class S3Objects:
    """Objects in one bucket: what producers need of S3.

    The client is built on first use, so that a producer whose inputs are all URLs never
    builds one.

    Args:
        bucket: The bucket of staged inputs and stored results.
        client_factory: Builds a boto3 S3 client (see :func:`adapters.s3.s3_client`).
    """

    def __init__(self, bucket: str, client_factory: Callable[[], Any]) -> None:
        self.bucket = bucket
        self._client_factory = client_factory
        self._built: Any = None

    @classmethod
    def from_settings(cls, s3: S3Settings) -> S3Objects:
        """Objects in ``s3.bucket``, through a client for these settings."""
        return cls(s3.bucket, functools.partial(s3_client, s3, max_attempts=S3_MAX_ATTEMPTS))

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
        except TRANSLATED_EXCEPTIONS as exc:
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
