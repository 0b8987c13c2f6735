"""What goes on the wire: paths, headers, body encoding, bearer auth, timeouts and pool limits.

Sources: dashscope-protocol.md sections 1, 2 and 10. Paths are relative to the ``.../api/v1``
base URL.
"""

from __future__ import annotations

import itertools
import json
import threading
from collections.abc import Generator, Mapping, Sequence
from datetime import datetime
from enum import Enum
from importlib import metadata
from typing import Any, Final, Protocol
from urllib.parse import quote

import httpx
from pydantic import SecretStr

from config.settings import UpstreamSettings
from workers.errors import InputInvalid

MESSAGES: Final = "MESSAGES"
PROMPT_IMAGES: Final = "PROMPT_IMAGES"

ASYNC_PATHS: Final[Mapping[str, str]] = {
    MESSAGES: "/services/aigc/image-generation/generation",
    PROMPT_IMAGES: "/services/aigc/image2image/image-synthesis",
}
"""Async submit endpoint per protocol (sent with ``X-DashScope-Async: enable``)."""

SYNC_PATHS: Final[Mapping[str, str]] = {
    MESSAGES: "/services/aigc/multimodal-generation/generation",
}
"""Synchronous endpoint per protocol; the prompt/images protocol (wan2.5) has none."""

TASKS_PATH: Final = "/tasks"

JSON_TYPE: Final = "application/json; charset=utf-8"
ASYNC_HEADER: Final = "X-DashScope-Async"
OSS_RESOLVE_HEADER: Final = "X-DashScope-OssResourceResolve"
WORKSPACE_HEADER: Final = "X-DashScope-WorkSpace"
LIST_TIME_FORMAT: Final = "%Y%m%d%H%M%S"


def protocol_key(protocol: str | Enum) -> str:
    """Normalise a protocol (the contract's enum member, or its name as text) to a key.

    Args:
        protocol: ``Protocol.MESSAGES`` / ``Protocol.PROMPT_IMAGES``, or ``"messages"``,
            ``"prompt_images"`` (any case; ``-`` or ``/`` for ``_``).

    Raises:
        InputInvalid: Not a known protocol.
    """
    name = protocol.name if isinstance(protocol, Enum) else str(protocol)
    key = name.upper().replace("-", "_").replace("/", "_")
    if key not in ASYNC_PATHS:
        raise InputInvalid("protocol", "must be MESSAGES or PROMPT_IMAGES", repr(name)[:80])
    return key


def task_path(task_id: str, suffix: str = "") -> str:
    """``/tasks/{task_id}[suffix]`` with the id escaped.

    Raises:
        InputInvalid: The id is empty or blank (it would address the task list instead).
    """
    if not task_id or not task_id.strip():
        raise InputInvalid("task_id", "must be a non-empty task id", repr(task_id))
    return f"{TASKS_PATH}/{quote(task_id, safe='')}{suffix}"


def contains_oss(value: object) -> bool:
    """Whether any string inside ``value`` is an ``oss://`` URL (needs the resolve header)."""
    if isinstance(value, str):
        return value.startswith("oss://")
    if isinstance(value, Mapping):
        return any(contains_oss(item) for item in value.values())
    if isinstance(value, list | tuple):
        return any(contains_oss(item) for item in value)
    return False


def with_model(model: str, body: Mapping[str, Any]) -> dict[str, Any]:
    """The body with its ``model`` set to ``model``.

    Raises:
        InputInvalid: The body names another model.
    """
    named = body.get("model")
    if named is not None and named != model:
        raise InputInvalid("model", f"body names {named!r} but the call is for {model!r}")
    return {**body, "model": str(model)}


def encode_body(body: Mapping[str, Any]) -> bytes:
    """Compact UTF-8 JSON for a request body.

    Raises:
        InputInvalid: The body holds something JSON cannot carry.
    """
    try:
        text = json.dumps(body, ensure_ascii=False, separators=(",", ":"), allow_nan=False)
    except (TypeError, ValueError) as exc:
        raise InputInvalid("body", "must be JSON-serialisable", type(exc).__name__) from exc
    return text.encode("utf-8")


def list_params(
    page_no: int,
    page_size: int,
    model: str | None = None,
    status: str | None = None,
    start_time: datetime | None = None,
    end_time: datetime | None = None,
) -> dict[str, str | int]:
    """Query parameters of ``GET /tasks``; times as wall-clock ``YYYYMMDDhhmmss``.

    Raises:
        InputInvalid: ``page_no`` or ``page_size`` below 1.
    """
    if page_no < 1 or page_size < 1:
        raise InputInvalid("page_no/page_size", "must be at least 1", f"{page_no}/{page_size}")
    params: dict[str, str | int] = {"page_no": page_no, "page_size": page_size}
    if model is not None:
        params["model_name"] = str(model)
    if status is not None:
        params["status"] = str(status)
    if start_time is not None:
        params["start_time"] = start_time.strftime(LIST_TIME_FORMAT)
    if end_time is not None:
        params["end_time"] = end_time.strftime(LIST_TIME_FORMAT)
    return params


def post_headers(*, asynchronous: bool, body: Mapping[str, Any] | None = None) -> dict[str, str]:
    """Per-request headers of a POST (the client adds auth, Accept, UA and workspace)."""
    headers = {"Content-Type": JSON_TYPE}
    if asynchronous:
        headers[ASYNC_HEADER] = "enable"
    if body is not None and contains_oss(body):
        headers[OSS_RESOLVE_HEADER] = "enable"
    return headers


class BearerAuth(httpx.Auth):
    """Adds ``Authorization: Bearer <key>`` to each request; the keys stay SecretStrs.

    Several keys of one account are used in turn (they share the account's limits, and each
    sees the account's tasks).
    """

    def __init__(self, api_key: SecretStr | Sequence[SecretStr]) -> None:
        keys = (api_key,) if isinstance(api_key, SecretStr) else tuple(api_key)
        self._keys = itertools.cycle(keys)
        self._lock = threading.Lock()

    def auth_flow(self, request: httpx.Request) -> Generator[httpx.Request, httpx.Response, None]:
        with self._lock:
            key = next(self._keys)
        request.headers["Authorization"] = f"Bearer {key.get_secret_value()}"
        yield request

    def __repr__(self) -> str:
        return "BearerAuth(api_key=SecretStr('**********'))"


def _version() -> str:
    try:
        return metadata.version("wanqueue")
    except metadata.PackageNotFoundError:
        return "dev"


DEFAULT_USER_AGENT: Final = f"wanqueue/{_version()}"


class EditRequestLike(Protocol):
    """What the client needs from the job contract's ``EditRequest``."""

    @property
    def model(self) -> str:
        """The model name (the contract's ``ModelName``)."""

    @property
    def protocol(self) -> str | Enum:
        """The wire protocol (the contract's ``Protocol``)."""

    def to_body(self) -> Mapping[str, Any]:
        """The exact JSON body to send."""


def timeout_from(upstream: UpstreamSettings, *, sync: bool = False) -> httpx.Timeout:
    """The httpx timeout for ordinary calls, or for the synchronous endpoint when ``sync``."""
    return httpx.Timeout(
        connect=upstream.connect_timeout_s,
        read=upstream.sync_read_timeout_s if sync else upstream.read_timeout_s,
        write=upstream.write_timeout_s,
        pool=upstream.pool_timeout_s,
    )


def limits_from(upstream: UpstreamSettings) -> httpx.Limits:
    """The connection-pool limits of one process."""
    return httpx.Limits(
        max_connections=upstream.max_connections,
        max_keepalive_connections=upstream.max_keepalive_connections,
    )
