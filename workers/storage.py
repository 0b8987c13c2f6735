"""Object storage: a small protocol and its S3 implementation (boto3, any S3-compatible store).

The client and the translation of botocore's exceptions are the project's one S3 adapter
(:mod:`adapters.s3`, shared with producers and the local stack): :class:`S3Store` catches
:data:`~adapters.s3.TRANSLATED_EXCEPTIONS` around every call and raises
:class:`~workers.errors.StorageUnavailable` (retryable) or
:class:`~workers.errors.StorageRejected` (permanent) ``from`` the original.

Retries are Celery's (declared once on the base task), so the boto3 client makes one attempt
per call. Checksums are computed by wanqueue and sent as ``ChecksumSHA256`` when the settings
allow; boto3's own default checksums are limited to the calls that require them, for
S3-compatible stores that refuse the newer headers.
"""

from __future__ import annotations

import base64
from collections.abc import Mapping
from typing import IO, Any, Final, Protocol

from adapters.s3 import TRANSLATED_EXCEPTIONS, is_not_found, s3_client, translate
from config.settings import S3Settings
from workers.errors import StorageRejected

SHA256_METADATA: Final = "sha256"
"""User-metadata key holding an object's SHA-256 (hex)."""


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


class S3Store:
    """:class:`ObjectStore` on an S3-compatible endpoint.

    Args:
        client: A boto3 S3 client (see :func:`adapters.s3.s3_client`).
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
            if is_not_found(exc):
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
