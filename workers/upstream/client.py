"""The DashScope client: one synchronous httpx client per worker process.

Celery runs tasks in threads, and ``httpx.Client`` is thread-safe, so a process builds one
:class:`DashScopeClient` at start (``from_settings``), shares it, and closes it on shutdown.

The client does one HTTP exchange per call. It never retries and never sleeps: retries are
Celery's, declared once, and a submit must not be repeated blindly (see
:mod:`workers.upstream.translate`). Every failure leaves as an error of :mod:`workers.errors`,
raised ``from`` the httpx exception when there is one.

The API key is a :class:`~pydantic.SecretStr` until the moment a request's ``Authorization``
header is written; it is redacted from every message and never logged.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping, Sequence
from datetime import datetime
from enum import Enum
from types import TracebackType
from typing import Any, Self, TypeVar

import httpx
from pydantic import SecretStr

from config.accounts import AccountSettings
from config.settings import UpstreamSettings
from workers.errors import InputInvalid, UpstreamUnavailable, WanqError
from workers.upstream import translate, wire
from workers.upstream.answers import redact
from workers.upstream.models import SubmitResult, SyncResult, TaskPage, TaskResult, TaskStatus
from workers.upstream.parse import (
    decode_object,
    first_error,
    header_request_id,
    parse_submit,
    parse_sync,
    parse_task,
    parse_task_page,
    request_id_of,
)
from workers.upstream.wire import (
    DEFAULT_USER_AGENT,
    EditRequestLike,
    limits_from,
    timeout_from,
)

_log = logging.getLogger(__name__)
_T = TypeVar("_T")


class DashScopeClient:
    """DashScope's task API for the Wan image-editing models.

    Every call raises only errors of :mod:`workers.errors`: besides those listed per method,
    ``UpstreamThrottled`` (429), ``UpstreamAuthFailed`` (bad key, no access),
    ``UpstreamRejected`` (the service said no) and ``UpstreamUnavailable`` (no usable answer;
    for billed calls only when provably nothing was taken, else ``SubmitAmbiguous``).

    Args:
        base_url: The ``.../api/v1`` URL (a region's gateway, a proxy or the emulator).
        api_key: The key, or several keys of one account used in turn; never logged or put
            in a message.
        timeout: For submit, fetch, cancel and list (default: the settings' defaults).
        sync_timeout: For the synchronous endpoint, whose answers take tens of seconds.
        limits: Pool limits of the default transport (ignored when ``transport`` is given).
        transport: An httpx transport to use instead of the network (tests, proxies).
        workspace_id: Sent as ``X-DashScope-WorkSpace`` when set.
        user_agent: The ``User-Agent`` header.

    Raises:
        ValueError: The base URL is not http(s), or a key is empty or holds spaces or
            control characters.
    """

    def __init__(
        self,
        base_url: str,
        api_key: SecretStr | Sequence[SecretStr],
        *,
        timeout: httpx.Timeout | None = None,
        sync_timeout: httpx.Timeout | None = None,
        limits: httpx.Limits | None = None,
        transport: httpx.BaseTransport | None = None,
        workspace_id: str | None = None,
        user_agent: str = DEFAULT_USER_AGENT,
    ) -> None:
        try:
            scheme = httpx.URL(base_url).scheme
        except httpx.InvalidURL as exc:
            raise ValueError(f"base_url is not a URL: {base_url!r}") from exc
        if scheme not in ("http", "https"):
            raise ValueError(f"base_url must be an http(s) URL, got {base_url!r}")
        keys = (api_key,) if isinstance(api_key, SecretStr) else tuple(api_key)
        if not keys or not all(key.get_secret_value() for key in keys):
            raise ValueError("api_key is empty")
        if not all(_header_safe(key.get_secret_value()) for key in keys):
            # httpx would only refuse it when sending, quoting the whole header in its error.
            raise ValueError("api_key holds spaces or control characters (a stray newline?)")
        defaults = UpstreamSettings()
        self._base_url = base_url.rstrip("/")
        self._keys = keys
        self._workspace_id = workspace_id
        self._timeout = timeout or timeout_from(defaults)
        self._sync_timeout = sync_timeout or timeout_from(defaults, sync=True)
        headers = {"Accept": wire.JSON_TYPE, "User-Agent": user_agent}
        if workspace_id:
            headers[wire.WORKSPACE_HEADER] = workspace_id
        # trust_env=False: no proxy or CA setting is read from os.environ (settings only).
        self._http = httpx.Client(
            base_url=self._base_url,
            auth=wire.BearerAuth(keys),
            headers=headers,
            timeout=self._timeout,
            transport=transport
            or httpx.HTTPTransport(limits=limits or limits_from(defaults), trust_env=False),
            follow_redirects=False,
            trust_env=False,
        )

    @classmethod
    def for_account(
        cls,
        account: AccountSettings,
        upstream: UpstreamSettings,
        *,
        transport: httpx.BaseTransport | None = None,
    ) -> Self:
        """Build the client of one account: its place and keys (used in turn), the timeouts
        and pool of the ``upstream`` section.

        Raises:
            ValueError: The account has no API key.
        """
        if not account.api_keys:
            raise ValueError(
                f"account {account.name!r} has no DashScope API key "
                "(WANQ_UPSTREAM__API_KEY, or api_keys in WANQ_ACCOUNTS)"
            )
        return cls(
            account.resolved_base_url(),
            account.api_keys,
            timeout=timeout_from(upstream),
            sync_timeout=timeout_from(upstream, sync=True),
            limits=limits_from(upstream),
            transport=transport,
            workspace_id=account.workspace_id,
        )

    @classmethod
    def from_settings(
        cls, upstream: UpstreamSettings, *, transport: httpx.BaseTransport | None = None
    ) -> Self:
        """Build the process's client from the ``upstream`` settings section.

        Raises:
            ValueError: No API key is configured (``WANQ_UPSTREAM__API_KEY``).
        """
        if upstream.api_key is None:
            raise ValueError("no DashScope API key configured (WANQ_UPSTREAM__API_KEY)")
        return cls.for_account(upstream.account(), upstream, transport=transport)

    def __repr__(self) -> str:
        return f"DashScopeClient(base_url={self._base_url!r}, workspace_id={self._workspace_id!r})"

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def close(self) -> None:
        """Close the connection pool (and the transport)."""
        self._http.close()

    # --- calls --------------------------------------------------------------------------

    def submit(self, request: EditRequestLike) -> SubmitResult:
        """Create an async task for a validated edit request (see :meth:`submit_body`)."""
        return self.submit_body(request.model, request.protocol, request.to_body())

    def submit_body(
        self, model: str, protocol: str | Enum, body: Mapping[str, Any]
    ) -> SubmitResult:
        """Create an async task from a wire body.

        Args:
            model: The model; the body's ``model`` must match it (it is set when missing).
            protocol: ``MESSAGES`` or ``PROMPT_IMAGES``; picks the endpoint.
            body: The exact JSON body.

        Raises:
            InputInvalid: Unknown protocol, a body for another model, or a non-JSON value.
            UpstreamUnavailable: Provably nothing was taken; safe to submit again.
            SubmitAmbiguous: A task may exist; reconcile before submitting again.
        """
        path = wire.ASYNC_PATHS[wire.protocol_key(protocol)]
        response = self._post_body(path, model, body, asynchronous=True, timeout=self._timeout)
        return self._decode(response, parse_submit, submit=True)

    def generate(self, request: EditRequestLike) -> SyncResult:
        """Run an edit on the synchronous endpoint (see :meth:`generate_body`)."""
        return self.generate_body(request.model, request.protocol, request.to_body())

    def generate_body(
        self, model: str, protocol: str | Enum, body: Mapping[str, Any]
    ) -> SyncResult:
        """Run an edit synchronously (messages models only); billed like a submit.

        Raises:
            InputInvalid: The protocol has no synchronous endpoint (wan2.5), or a bad body.
        """
        key = wire.protocol_key(protocol)
        if key not in wire.SYNC_PATHS:
            raise InputInvalid("model", "has no synchronous endpoint; submit it as a task", model)
        path = wire.SYNC_PATHS[key]
        response = self._post_body(
            path, model, body, asynchronous=False, timeout=self._sync_timeout
        )
        return self._decode(response, parse_sync, submit=True)

    def fetch(self, task_id: str) -> TaskResult:
        """Read a task's status and, when it has ended, its results.

        A FAILED task is returned, not raised (see ``translate.error_from_failed_task``); an
        unknown or expired id gives status UNKNOWN.

        Raises:
            InputInvalid: An empty task id.
        """
        response = self._send("GET", wire.task_path(task_id), submit=False)

        def parse(raw: Mapping[str, Any], request_id: str | None) -> TaskResult:
            return parse_task(raw, request_id, task_id=task_id)

        return self._decode(response, parse, submit=False)

    def cancel(self, task_id: str) -> None:
        """Cancel a PENDING task (otherwise: UpstreamRejected ``UnsupportedOperation``).

        Raises:
            InputInvalid: An empty task id.
        """
        self._send(
            "POST",
            wire.task_path(task_id, "/cancel"),
            submit=False,
            headers=wire.post_headers(asynchronous=False),
            content=b"",
        )

    def list_tasks(
        self,
        *,
        page_no: int = 1,
        page_size: int = 10,
        model: str | None = None,
        status: TaskStatus | None = None,
        start_time: datetime | None = None,
        end_time: datetime | None = None,
    ) -> TaskPage:
        """List the account's tasks (used to reconcile an ambiguous submit).

        Times are sent as their wall-clock value (``YYYYMMDDhhmmss``); the service reads
        them in its own local time, which is not documented.

        Raises:
            InputInvalid: ``page_no`` or ``page_size`` below 1.
        """
        params = wire.list_params(page_no, page_size, model, status, start_time, end_time)
        response = self._send("GET", wire.TASKS_PATH, submit=False, params=params)
        return self._decode(response, parse_task_page, submit=False)

    # --- plumbing -----------------------------------------------------------------------

    def _send(
        self,
        method: str,
        path: str,
        *,
        submit: bool,
        headers: Mapping[str, str] | None = None,
        content: bytes | None = None,
        params: Mapping[str, str | int] | None = None,
        timeout: httpx.Timeout | None = None,
    ) -> httpx.Response:
        """One exchange; any failure leaves translated. Returns only 2xx answers."""
        what = f"{method} {path}"
        if self._http.is_closed:  # a shutdown race: nothing was sent, so retrying is safe
            raise UpstreamUnavailable("ClientClosed", f"{what}: the client is closed")
        secret = tuple(key.get_secret_value() for key in self._keys)
        try:
            response = self._http.request(
                method,
                path,
                headers=headers,
                content=content,
                params=params,
                timeout=timeout or self._timeout,
            )
        except translate.TRANSLATED_EXCEPTIONS as exc:
            _log.warning("dashscope %s failed: %s", what, type(exc).__name__)
            _scrub_chain(exc, secret)  # it is raised ``from``: tracebacks (logs, Flower) show it
            raise translate.error_from_exception(
                exc, submit=submit, what=what, secret=secret
            ) from exc
        _log.debug(
            "dashscope %s -> %d request_id=%s",
            what,
            response.status_code,
            header_request_id(response.headers),
        )
        if not response.is_success:
            raise translate.error_from_answer(response, submit=submit, secret=secret)
        return response

    def _post_body(
        self,
        path: str,
        model: str,
        body: Mapping[str, Any],
        *,
        asynchronous: bool,
        timeout: httpx.Timeout,
    ) -> httpx.Response:
        """POST a billed request body (submit or generate)."""
        full = wire.with_model(model, body)
        return self._send(
            "POST",
            path,
            submit=True,
            headers=wire.post_headers(asynchronous=asynchronous, body=full),
            content=wire.encode_body(full),
            timeout=timeout,
        )

    def _decode(
        self,
        response: httpx.Response,
        parse: Callable[[Mapping[str, Any], str | None], _T],
        *,
        submit: bool,
    ) -> _T:
        """Parse a 2xx answer; an unusable one is ambiguous (submit) or unavailable."""
        raw = decode_object(response.content)
        if raw is not None:
            try:
                return parse(raw, header_request_id(response.headers))
            except ValueError as exc:  # pydantic's ValidationError is one
                detail = f"unusable answer: {first_error(exc)}"
                raise self._malformed(response, detail, submit) from exc
        raise self._malformed(response, "answer is not a JSON object", submit)

    @staticmethod
    def _malformed(response: httpx.Response, detail: str, submit: bool) -> WanqError:
        return translate.malformed(
            f"{response.request.method} {response.request.url.path}: {detail}",
            submit=submit,
            request_id=request_id_of(response.content, response.headers),
            status=response.status_code,
        )


def _header_safe(key: str) -> bool:
    """Whether a key can be sent in a header as it is (printable ASCII, no space)."""
    return key.isascii() and key.isprintable() and " " not in key


def _scrub_chain(exc: BaseException, secret: tuple[str, ...]) -> None:
    """Redact the keys from the text arguments of ``exc`` and of the exceptions it chains."""
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        if any(isinstance(arg, str) and redact(arg, secret) != arg for arg in current.args):
            current.args = tuple(
                redact(arg, secret) if isinstance(arg, str) else arg for arg in current.args
            )
        current = current.__cause__ or current.__context__
