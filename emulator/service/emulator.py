"""The emulated service behind the HTTP routes: accept, follow, cancel and list tasks.

`Emulator` owns all state (tasks, limits, uploads, result images, counters) and knows nothing of
HTTP; the routes of emulator.http translate requests to its calls, and its results and
`ApiError`s to answers. It counts every event it refuses or accepts (emulator.service.stats).
Everything runs on the event loop, so no locks are needed; only request validation (which may
fetch input images) and image rendering run in worker threads.
"""

from __future__ import annotations

import asyncio
import random
import secrets
import time
from collections.abc import Callable, Mapping
from typing import Any

import httpx

from emulator.auth import Caller, KeyRing
from emulator.config.root import EmulatorConfig
from emulator.constants import RESULT_CACHE_MAX_BYTES, SOURCE_CACHE_MAX_BYTES, SYNC_POLL_INTERVAL_S
from emulator.errors import ApiError, cancel_not_pending, invalid_parameter, no_such_key
from emulator.intake.new_task import new_task
from emulator.intake.sources import SourceLoader
from emulator.intake.validation import Endpoint, ValidatedRequest, validate_submit
from emulator.limits.quotas import Limits
from emulator.service.listing import page_of, parse_list_query
from emulator.service.stats import Stats
from emulator.service.views import task_output, unknown_output, usage
from emulator.storage.results import ResultImages, ResultSigner
from emulator.storage.uploads import Uploads
from emulator.tasks.planning import Planner
from emulator.tasks.store import TaskStore
from emulator.tasks.task import PENDING, SUCCEEDED, TERMINAL_STATUSES, Task


class Emulator:
    """All state and behaviour of one emulated DashScope service.

    Attributes:
        clock: Time source (Unix seconds).
        planner: The random draws of task plans and injected faults (one generator).
        stats: Event counters.
        limits: Rate limiters and concurrency lanes.
        store: Live tasks.
        uploads: Files posted to the fake OSS target.
        images: Rendered result images.
    """

    def __init__(
        self,
        config: EmulatorConfig,
        *,
        public_url: str,
        clock: Callable[[], float] = time.time,
        source_transport: httpx.BaseTransport | None = None,
    ) -> None:
        self.clock = clock
        secret = secrets.token_bytes(32)
        self._rng = random.Random(config.random_seed)
        self.planner = Planner(self._rng)
        self.stats = Stats()
        self.limits = Limits(config)
        self.store = TaskStore()
        self.uploads = Uploads(secret, public_url)
        self.loader = SourceLoader(self.uploads, source_transport)
        self.images = ResultImages(RESULT_CACHE_MAX_BYTES, SOURCE_CACHE_MAX_BYTES)
        self._signer = ResultSigner(secret, public_url)
        self.config = config
        self.keyring = KeyRing(config)

    # ------------------------------------------------------------------ configuration
    def set_config(self, config: EmulatorConfig) -> None:
        """Switch to a new configuration; tasks, counters and limiter state are kept."""
        if config.random_seed is not None and config.random_seed != self.config.random_seed:
            self._rng.seed(config.random_seed)
        self.config = config
        self.keyring = KeyRing(config)
        self.limits.configure(config)
        self.limits.advance_all(self.clock())

    def authenticate(self, authorization: str | None) -> Caller:
        """The caller behind an ``Authorization`` header (raises 401 ApiError)."""
        return self.keyring.authenticate(authorization)

    # ------------------------------------------------------------------ submit
    async def submit(
        self,
        caller: Caller,
        endpoint: Endpoint,
        body: Any,
        *,
        oss_resolve: bool,
        request_id: str,
        hidden: bool = False,
        stream: bool = False,
    ) -> Task:
        """Rate-check, validate and accept a request; returns its new task.

        Args:
            caller: The authenticated caller.
            endpoint: The endpoint that received the request.
            body: The parsed JSON body.
            oss_resolve: ``X-DashScope-OssResourceResolve: enable`` was sent.
            request_id: The request id of the submit.
            hidden: A synchronous call: the task is invisible to the task APIs.
            stream: The synchronous call asked for SSE (interleave mode requires it).

        Raises:
            ApiError: 429 (rate or concurrency) or the validation's 4xx answer.
        """
        model = body.get("model") if isinstance(body, dict) else None
        label = model if isinstance(model, str) and model else "(no model)"
        load = self.loader.for_account(caller.account)
        try:
            if label == model:
                self.limits.check_submit_rate(caller.account, label, self.clock())
            request = await asyncio.to_thread(
                validate_submit, body, endpoint=endpoint, oss_resolve=oss_resolve, load_source=load
            )
            if endpoint == "multimodal" and request.interleave and not stream:
                raise invalid_parameter(
                    "parameters.enable_interleave=true on the synchronous endpoint requires "
                    "streaming output (X-DashScope-SSE: enable)"
                )
            return self._create(caller, endpoint, request, request_id, hidden)
        except ApiError as exc:  # 429: throttled, else rejected; a valid model is `label`
            counters = self.stats.model(caller.account, label)
            (counters.throttled if exc.status == 429 else counters.rejected)[exc.code] += 1
            raise

    def _create(
        self,
        caller: Caller,
        endpoint: Endpoint,
        request: ValidatedRequest,
        request_id: str,
        hidden: bool,
    ) -> Task:
        now = self.clock()
        self._expire(now)
        task = new_task(
            caller,
            endpoint,
            request,
            request_id=request_id,
            hidden=hidden,
            now=now,
            plan=self.planner.plan(self.config, request.model, request.n, request.prompt),
        )
        self.limits.admit(task, now)
        self.store.add(task)
        first = request.images[0].data if request.images else None
        if first is not None and task.source_key is not None:
            self.images.keep_source(task.source_key, first)
        counters = self.stats.model(caller.account, request.model)
        if hidden:
            counters.sync_accepted += 1
        else:
            counters.submits_accepted += 1
        return task

    async def wait_done(self, task: Task) -> str:
        """Sleep until `task` is terminal (for synchronous calls); returns its status."""
        while True:
            now = self.clock()
            self.limits.advance(task, now)
            status = task.status_at(now)
            if status in TERMINAL_STATUSES:
                return status
            end_at = task.end_at
            delay_s = SYNC_POLL_INTERVAL_S if end_at is None else max(0.0, end_at - now)
            await asyncio.sleep(delay_s)

    # ------------------------------------------------------------------ task APIs
    def query(self, caller: Caller, task_id: str) -> dict[str, Any]:
        """Body of ``GET /tasks/{id}`` (without request id).

        Raises:
            ApiError: 429 Throttling (query budget).
        """
        now = self.clock()
        self._check_query(caller, now)
        self.stats.account(caller.account).queries += 1
        task = self._visible(caller, task_id, now)
        if task is None:
            return {"output": unknown_output(task_id)}
        self.limits.advance(task, now)
        status = task.status_at(now)
        body: dict[str, Any] = {"output": task_output(task, status, self.sign)}
        if status == SUCCEEDED:
            body["usage"] = usage(task)
        return body

    def cancel(self, caller: Caller, task_id: str) -> None:
        """Cancel a PENDING task.

        Raises:
            ApiError: 400 UnsupportedOperation when the task is not (or no longer) PENDING.
        """
        now = self.clock()
        task = self._visible(caller, task_id, now)
        if task is None:
            raise cancel_not_pending()
        self.limits.advance(task, now)
        if task.status_at(now) != PENDING:
            raise cancel_not_pending()
        task.canceled_at = now
        self.limits.release(task, now)
        self.stats.model(task.account, task.model).canceled += 1

    def list_tasks(self, caller: Caller, params: Mapping[str, str]) -> dict[str, Any]:
        """Body of ``GET /tasks`` (without request id).

        Raises:
            ApiError: 429 Throttling, or 400 InvalidParameter for a bad filter.
        """
        now = self.clock()
        self._check_query(caller, now)
        self.stats.account(caller.account).lists += 1
        query = parse_list_query(params)
        self._expire(now)
        self.limits.advance_account(caller.account, now)
        account = self.keyring.account(caller.account)
        region = account.region if account else ""
        wanted = query.region is None or query.region == region
        found = self.store.query(caller.account, query.filter, now) if wanted else []
        return page_of(found, query, region, now)

    def upload_policy(self, caller: Caller) -> dict[str, Any]:
        """The ``data`` of a getPolicy answer."""
        now = self.clock()
        self.uploads.expire(now, self.config.upload_ttl_s)
        return self.uploads.policy(caller.account, now)

    # ------------------------------------------------------------------ results
    def sign(self, task: Task, index: int) -> str:
        """The signed URL of image `index` of a finished task."""
        return self._signer.url(task, index, self.config.result_url_ttl_s)

    async def result_png(
        self, task_id: str, index: int, expires: str | None, signature: str | None
    ) -> bytes:
        """The PNG behind a result URL.

        Raises:
            ApiError: The OSS error to answer (bad or expired URL, no such image).
        """
        now = self.clock()
        refusal = self._signer.check(task_id, index, expires, signature, now)
        if refusal is not None:
            raise refusal
        task = self.store.get(task_id)
        if task is None or not task.has_image(index, now):
            raise no_such_key()
        return await self.images.png(task, index)

    # ------------------------------------------------------------------ admin
    def snapshot(self) -> dict[str, Any]:
        """Counters and live figures for ``GET /admin/stats``."""
        now = self.clock()
        self._expire(now)
        self.limits.advance_all(now)
        configured = [account.name for account in self.config.accounts]
        body = self.stats.snapshot(self.store.tasks(), self.limits.lanes, now, configured)
        body["faults"] = self.stats.faults()
        body["uploads"] = self.uploads.counters()
        body["results"] = {"images_rendered": self.images.rendered}
        body["tasks_live"] = len(self.store)
        return body

    def reset(self) -> None:
        """Forget every task, upload, counter, limiter state and cached image."""
        self.store.clear()
        self.limits.clear()
        self.stats.clear()
        self.uploads.clear()
        self.images.clear()

    def close(self) -> None:
        """Release the HTTP client used to fetch input images."""
        self.loader.close()

    # ------------------------------------------------------------------ helpers
    def _check_query(self, caller: Caller, now: float) -> None:
        """Count a query against the account's budget; a refusal is counted, then raised."""
        try:
            self.limits.check_query(caller.account, now)
        except ApiError as exc:
            self.stats.account(caller.account).throttled[exc.code] += 1
            raise

    def _visible(self, caller: Caller, task_id: str, now: float) -> Task | None:
        self._expire(now)
        task = self.store.get(task_id)
        if task is None or task.hidden or task.account != caller.account:
            return None
        return task

    def _expire(self, now: float) -> None:
        for task in self.store.expire(now, self.config.task_ttl_s):
            self.stats.on_expired(task, task.status_at(now))
