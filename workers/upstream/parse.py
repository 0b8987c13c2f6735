"""Build the typed answers of :mod:`workers.upstream.models` from raw JSON bodies.

Tolerant by design: unknown keys are ignored (the SDKs print extra fields such as
``status_code``, ``code``, ``message``, ``output.text`` and ``output.audio``; Java prints
``requestId``), ``null`` lists count as empty, and image URLs are flattened from every
``choices[*].message.content[*].image`` (messages models) and ``results[*].url`` (wan2.5). What
cannot be tolerated (no ``task_id``, an unknown ``task_status``, no ``output``) raises
:class:`ValueError` (usually its subclass :class:`pydantic.ValidationError`), which the client
turns into the right project error.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from pydantic import ValidationError

from workers.upstream.models import (
    SlotFailure,
    SubmitResult,
    SyncResult,
    TaskPage,
    TaskResult,
    TaskStatus,
    Usage,
    parse_task_time,
)


def decode_object(content: bytes) -> dict[str, Any] | None:
    """The body as a JSON object, or None when it is not one."""
    try:
        raw = json.loads(content)
    except (ValueError, UnicodeDecodeError):
        return None
    return raw if isinstance(raw, dict) else None


def first_error(exc: ValueError) -> str:
    """The first validation problem, as ``location: message`` (no input values)."""
    if not isinstance(exc, ValidationError):
        return str(exc)
    first = exc.errors()[0]
    where = ".".join(str(part) for part in first["loc"])
    return f"{where}: {first['msg']}"


def header_request_id(headers: Mapping[str, str]) -> str | None:
    """The ``x-request-id`` response header, if any."""
    return headers.get("x-request-id") or None


def request_id_of(content: bytes, headers: Mapping[str, str]) -> str | None:
    """A response's request id: the body's when it is a JSON object, else the header's."""
    raw = decode_object(content)
    return (body_request_id(raw) if raw else None) or header_request_id(headers)


def _none_if_blank(value: object) -> object:
    return None if value == "" else value


def _dict(value: object) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _list(value: object) -> list[Any]:
    return value if isinstance(value, list) else []


def body_request_id(raw: Mapping[str, Any]) -> str | None:
    """The request id printed in a body (``request_id``, or Java's ``requestId``)."""
    for key in ("request_id", "requestId"):
        value = raw.get(key)
        if isinstance(value, str) and value:
            return value
    return None


def _content_parts(output: Mapping[str, Any]) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """Image URLs and texts of every choice's content, plus wan2.5 ``results[*].url``."""
    images: list[str] = []
    texts: list[str] = []
    for choice in _list(output.get("choices")):
        content = _dict(_dict(choice).get("message")).get("content")
        for part in _list(content):
            part = _dict(part)
            if isinstance(part.get("image"), str) and part["image"]:
                images.append(part["image"])
            elif isinstance(part.get("text"), str):
                texts.append(part["text"])
    for result in _list(output.get("results")):
        url = _dict(result).get("url")
        if isinstance(url, str) and url:
            images.append(url)
    return tuple(images), tuple(texts)


def _slot_failures(output: Mapping[str, Any]) -> tuple[SlotFailure, ...]:
    failures = []
    for index, result in enumerate(_list(output.get("results"))):
        result = _dict(result)
        if not result.get("url"):
            code, message = result.get("code"), result.get("message")
            failures.append(
                SlotFailure(
                    index=index,
                    code=None if code is None else str(code),
                    message=None if message is None else str(message),
                )
            )
    return tuple(failures)


def _usage(raw: Mapping[str, Any]) -> Usage | None:
    usage = raw.get("usage")
    return Usage.model_validate(usage) if isinstance(usage, dict) else None


def parse_submit(raw: Mapping[str, Any], request_id: str | None = None) -> SubmitResult:
    """Parse an async submit answer ``{"request_id", "output": {"task_id", "task_status"}}``.

    Args:
        raw: The decoded JSON body.
        request_id: Fallback request id (the ``x-request-id`` header).

    Raises:
        pydantic.ValidationError: No ``task_id``, or an unknown status.
    """
    output = _dict(raw.get("output"))
    return SubmitResult.model_validate(
        {
            "request_id": body_request_id(raw) or request_id,
            "task_id": output.get("task_id"),
            "task_status": output.get("task_status") or TaskStatus.PENDING,
        }
    )


def parse_task(
    raw: Mapping[str, Any], request_id: str | None = None, task_id: str | None = None
) -> TaskResult:
    """Parse a ``GET /tasks/{task_id}`` answer (either protocol, any status).

    Args:
        raw: The decoded JSON body.
        request_id: Fallback request id (the ``x-request-id`` header).
        task_id: Fallback task id (the one asked for), should the body omit it.

    Raises:
        pydantic.ValidationError: No ``task_id``, or an unknown status.
    """
    output = _dict(raw.get("output"))
    images, texts = _content_parts(output)
    metrics = output.get("task_metrics", output.get("task_metric"))
    return TaskResult.model_validate(
        {
            "request_id": body_request_id(raw) or request_id,
            "task_id": output.get("task_id") or task_id,
            "status": output.get("task_status"),
            "submit_time": parse_task_time(output.get("submit_time")),
            "scheduled_time": parse_task_time(output.get("scheduled_time")),
            "end_time": parse_task_time(output.get("end_time")),
            "code": _none_if_blank(output.get("code")) or _none_if_blank(raw.get("code")),
            "message": _none_if_blank(output.get("message")) or _none_if_blank(raw.get("message")),
            "image_urls": images,
            "texts": texts,
            "failures": _slot_failures(output),
            "task_metrics": metrics if isinstance(metrics, dict) else None,
            "usage": _usage(raw),
        }
    )


def parse_sync(raw: Mapping[str, Any], request_id: str | None = None) -> SyncResult:
    """Parse an answer of the synchronous endpoint.

    Args:
        raw: The decoded JSON body.
        request_id: Fallback request id (the ``x-request-id`` header).

    Raises:
        ValueError: The body has no ``output`` object.
    """
    output = raw.get("output")
    if not isinstance(output, dict):
        raise ValueError("output: missing")
    images, texts = _content_parts(output)
    return SyncResult(
        request_id=body_request_id(raw) or request_id,
        image_urls=images,
        texts=texts,
        usage=_usage(raw),
    )


def parse_task_page(raw: Mapping[str, Any], request_id: str | None = None) -> TaskPage:
    """Parse a ``GET /tasks`` answer.

    Args:
        raw: The decoded JSON body.
        request_id: Fallback request id (the ``x-request-id`` header).

    Raises:
        pydantic.ValidationError: An entry without ``task_id`` or with an unknown status.
    """
    page = TaskPage.model_validate(raw)
    if page.request_id is None and request_id is not None:
        page = page.model_copy(update={"request_id": request_id})
    return page
