"""The producer's gate: user data in, a checked :class:`EditRequest` or one InputInvalid out."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from pydantic import ValidationError

from workers.contract.images import DEFAULT_FETCH_LIMIT_BYTES, inspect_image, source_size
from workers.contract.models import spec_of
from workers.contract.problems import first_problem
from workers.contract.request import FIELDS, EditRequest
from workers.contract.rules import check_boxes_inside, check_image, max_bytes_rule
from workers.contract.sources import SourceKind, data_uri_mime, source_kind
from workers.errors import InputInvalid


def validate_request(
    data: Mapping[str, Any],
    *,
    inspect_images: bool = True,
    fetch_limit_bytes: int = DEFAULT_FETCH_LIMIT_BYTES,
) -> EditRequest:
    """Build an edit request from user data (a manifest line) and check every rule.

    Args:
        data: The request's fields, as JSON would give them.
        inspect_images: Also decode each image whose bytes are at hand (data URIs and local
            files; never http(s) or s3://) and check its format, file size, sides, aspect,
            a data URI's declared MIME type, and that the boxes drawn on it lie inside it.
        fetch_limit_bytes: Most bytes read from one source; a larger source is refused
            without being read, even when its model would accept it.

    Returns:
        The request.

    Raises:
        InputInvalid: The first broken rule. ``field`` is the field path (``size``,
            ``images[1]``, ``bbox_list[0][1]``), ``rule`` names the model's rule and
            ``value`` is a short rendering of what was given.
    """
    try:
        request = EditRequest.model_validate(data)
    except ValidationError as exc:
        raise first_problem(exc, FIELDS) from exc
    if inspect_images:
        check_request_images(request, fetch_limit_bytes=fetch_limit_bytes)
    return request


def check_request_images(
    request: EditRequest, *, fetch_limit_bytes: int = DEFAULT_FETCH_LIMIT_BYTES
) -> None:
    """Decode the request's images whose bytes are at hand and check them against the model.

    Raises:
        InputInvalid: The first image (or box on it) that breaks a rule.
    """
    spec = spec_of(request.model)
    for index, src in enumerate(request.images):
        field = f"images[{index}]"
        size = source_size(src, field)
        if size is None:
            continue
        if size > spec.image.max_bytes:
            raise InputInvalid(field, max_bytes_rule(spec), f"{size} bytes")
        facts = inspect_image(src, limit_bytes=fetch_limit_bytes, field=field)
        if facts is None:
            continue
        is_data_uri = source_kind(src, field) is SourceKind.DATA_URI
        check_image(spec, field, facts, data_uri_mime(src, field) if is_data_uri else None)
        if request.bbox_list is not None:
            check_boxes_inside(request.bbox_list[index], index, facts)
