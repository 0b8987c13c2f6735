"""Staging inputs: local files and large data URIs go to S3, so that records stay small.

================  ===============================================================
source            staged as
================  ===============================================================
http(s) URL       itself
``s3://``         itself, if in the bucket under ``inputs_prefix`` (else refused)
data URI          itself up to ``inputs.inline_max_bytes``, else ``s3://`` (below)
local / file://   always ``s3://bucket/{inputs_prefix}{sha256}.{ext}``
================  ===============================================================

Keys are content-addressed: the same bytes are uploaded once (an existing key is not put
again), whichever job or producer stages them. Images are validated *before* staging (the
producer's gate decodes them), so only images a model accepts reach the bucket. An ``s3://``
source is read later with the workers' credentials, so only the bucket's staged inputs are
accepted (:func:`adapters.s3.check_input_ref`, which the workers apply again).
"""

from __future__ import annotations

import base64
import hashlib
import io
from collections import OrderedDict
from typing import Final, Protocol

from PIL import Image

from adapters.s3 import check_input_ref
from config import Settings
from producers.constants import CONTENT_TYPES, IMAGE_EXTENSIONS, STAGED_KEYS_REMEMBERED
from producers.s3 import S3Objects
from workers.contract import EditRequest, SourceKind, source_kind
from workers.contract.images import source_size
from workers.contract.sources import data_uri_mime, data_uri_payload, local_path_of
from workers.errors import InputInvalid

IMAGE_RULE: Final = "must be a JPEG, PNG, BMP or WEBP image"


class InputStager(Protocol):
    """Turns a validated request into one whose sources can go into a job record."""

    def stage(self, request: EditRequest) -> EditRequest:
        """The request with every source a record may hold (http(s), small data URI, s3://).

        Raises:
            InputInvalid: A source cannot be read, or is an ``s3://`` object outside the
                bucket's inputs.
            StorageUnavailable: The store did not answer.
            StorageRejected: The store refused.
        """

    def close(self) -> None:
        """Release connections."""


class S3Stager:
    """:class:`InputStager` that uploads to the configured bucket.

    Args:
        objects: The bucket.
        inputs_prefix: Key prefix of staged inputs.
        inline_max_bytes: Largest data URI kept inline.
    """

    def __init__(self, objects: S3Objects, inputs_prefix: str, inline_max_bytes: int) -> None:
        self.objects = objects
        self._inputs_prefix = inputs_prefix
        self._inline_max_bytes = inline_max_bytes
        self._known: OrderedDict[str, None] = OrderedDict()

    @classmethod
    def from_settings(cls, settings: Settings, objects: S3Objects | None = None) -> S3Stager:
        """A stager for ``settings.s3`` and ``settings.inputs``."""
        return cls(
            objects or S3Objects.from_settings(settings.s3),
            settings.s3.inputs_prefix,
            settings.inputs.inline_max_bytes,
        )

    def stage(self, request: EditRequest) -> EditRequest:
        """See :meth:`InputStager.stage`."""
        staged = tuple(
            self._stage_one(src, f"images[{index}]") for index, src in enumerate(request.images)
        )
        if staged == request.images:
            return request
        return request.model_copy(update={"images": staged})

    def _stage_one(self, src: str, field: str) -> str:
        kind = source_kind(src, field)
        if kind is SourceKind.DATA_URI:
            size = source_size(src, field) or 0
            if size <= self._inline_max_bytes:
                return src
            ext = IMAGE_EXTENSIONS[data_uri_mime(src, field)]
            return self._upload(base64.b64decode(data_uri_payload(src)), ext)
        if kind is SourceKind.LOCAL:
            body = _read_file(local_path_of(src), field)
            return self._upload(body, _extension(body, field))
        if kind is SourceKind.S3:
            check_input_ref(src, self.objects.bucket, self._inputs_prefix, field)
        return src

    def _upload(self, body: bytes, ext: str) -> str:
        key = f"{self._inputs_prefix}{hashlib.sha256(body).hexdigest()}.{ext}"
        if key in self._known:
            self._known.move_to_end(key)
        else:
            if not self.objects.exists(key):
                self.objects.put(key, body, CONTENT_TYPES[ext])
            self._known[key] = None
            if len(self._known) > STAGED_KEYS_REMEMBERED:
                self._known.popitem(last=False)
        return f"s3://{self.objects.bucket}/{key}"

    def close(self) -> None:
        """Close the S3 client, if it was built."""
        self.objects.close()


def _read_file(path: str, field: str) -> bytes:
    try:
        with open(path, "rb") as file:
            return file.read()
    except OSError as exc:
        raise InputInvalid(field, "the local image file cannot be read", path) from exc


def _extension(body: bytes, field: str) -> str:
    """The extension of an image's format (read from its header only)."""
    try:
        with Image.open(io.BytesIO(body)) as image:
            image_format = image.format or ""
    except Exception as exc:
        # Pillow raises many types for bytes it cannot identify; all mean the same here.
        raise InputInvalid(field, IMAGE_RULE, type(exc).__name__) from exc
    ext = IMAGE_EXTENSIONS.get(image_format)
    if ext is None:
        raise InputInvalid(field, IMAGE_RULE, image_format or "unknown")
    return ext
