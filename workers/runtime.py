"""The long-lived clients of one worker process, and what the pipeline needs from them.

A worker process builds one :class:`Runtime` when it starts (``workers.app`` connects the
signals) and closes it when it stops; tasks only look it up with :func:`current`. The
pipeline's plain functions take a Runtime, so tests hand them one made of fakes.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from enum import Enum
from typing import Any, Protocol

from adapters.redis import redis_client
from config.settings import Settings
from workers.contract import JobStore
from workers.contract.models import ModelName
from workers.contract.names import TASK_POST
from workers.fetch import ResultFetcher
from workers.intents import Intents, RedisIntents
from workers.limits import Limits
from workers.limits.dispatcher import Chore, Dispatcher
from workers.storage import ObjectStore, S3Store
from workers.upstream import DashScopeClient, SubmitResult, TaskPage, TaskResult, TaskStatus

_log = logging.getLogger(__name__)


class Upstream(Protocol):
    """What the pipeline calls on DashScope (:class:`DashScopeClient` is one)."""

    def submit_body(self, model: str, protocol: str | Enum, body: Any) -> SubmitResult:
        """Create a task (see :meth:`DashScopeClient.submit_body`)."""

    def fetch(self, task_id: str) -> TaskResult:
        """Read a task (see :meth:`DashScopeClient.fetch`)."""

    def cancel(self, task_id: str) -> None:
        """Cancel a PENDING task (see :meth:`DashScopeClient.cancel`)."""

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
        """List the account's tasks (see :meth:`DashScopeClient.list_tasks`)."""


class Fetcher(Protocol):
    """What the pipeline needs to download results (:class:`ResultFetcher` is one)."""

    def fetch(self, index: int, url: str, sink: Any) -> tuple[int, str]:
        """Download one result into ``sink``; returns ``(size, sha256 hex)``."""


class Scheduler(Protocol):
    """Sends a task message now or later: the one way the pipeline schedules work."""

    def later(self, task: str, *args: str, countdown_s: float = 0.0) -> None:
        """Send ``task(*args)`` to run in ``countdown_s`` seconds (clamped to the longest
        countdown the broker's visibility timeout allows)."""


@dataclass
class Runtime:
    """Everything a task needs, shared by the threads of one process.

    Attributes:
        settings: The settings root.
        store: The job store.
        limits: The cluster-wide limiter (admission, leases, 429 feedback, query budgets,
            latencies).
        upstreams: A DashScope client per account name.
        objects: The object store.
        fetcher: The result downloader.
        scheduler: How follow-up tasks are sent.
        intents: Open submit intents (what a reconciling submit must not take for its own).
        clock: Wall-clock time in epoch seconds (tests replace it).
        closers: Called by :meth:`close`, in order.
        dispatcher: The process's dispatcher, once started (:meth:`start_dispatcher`).
    """

    settings: Settings
    store: JobStore
    limits: Limits
    upstreams: Mapping[str, Upstream]
    objects: ObjectStore
    fetcher: Fetcher
    scheduler: Scheduler
    intents: Intents
    clock: Callable[[], float] = time.time
    closers: list[Callable[[], None]] = field(default_factory=list)
    dispatcher: Dispatcher | None = None

    def upstream_for(self, account: str | None) -> Upstream:
        """The client of ``account`` (None: the first account's).

        Raises:
            KeyError: No such account is configured.
        """
        if account is None:
            return next(iter(self.upstreams.values()))
        return self.upstreams[account]

    def start_dispatcher(self) -> None:
        """Start this process's dispatcher (:mod:`workers.limits.dispatcher`), which also
        sweeps stuck jobs (:mod:`workers.pipeline.sweep`) every ``sweeper.interval_s``."""
        if self.dispatcher is not None:
            return
        from workers.pipeline.sweep import Sweeper  # here: the pipeline imports this module

        sweep = Chore("sweep", self.settings.sweeper.interval_s, Sweeper(self).sweep)
        names = [account.name for account in self.settings.upstream_accounts()]
        pairs = [(name, model) for name in names for model in ModelName]

        def send(job_id: str, account: str) -> None:
            self.scheduler.later(TASK_POST, job_id, account)

        self.dispatcher = Dispatcher(
            self.limits.admission,
            self.limits.leases,
            send,
            self.store.gone,
            pairs,
            self.settings.limiter,
            chores=[sweep],
        )
        self.dispatcher.start()

    def wake_dispatcher(self) -> None:
        """Let this process's dispatcher admit now (a slot was freed, a job parked)."""
        if self.dispatcher is not None:
            self.dispatcher.wake()

    def close(self) -> None:
        """Stop the dispatcher and close every client (errors are logged, never raised)."""
        if self.dispatcher is not None:
            self.dispatcher.stop()
            self.dispatcher = None
        for close in self.closers:
            try:
                close()
            except Exception:
                _log.exception("closing a client failed")
        self.closers.clear()


def build(settings: Settings, scheduler: Scheduler) -> Runtime:
    """Build the clients of one process from the settings."""
    client = redis_client(settings)
    upstreams = {
        account.name: DashScopeClient.for_account(account, settings.upstream)
        for account in settings.upstream_accounts()
    }
    closers = [upstream.close for upstream in upstreams.values()]
    objects = S3Store.from_settings(settings.s3)
    fetcher = ResultFetcher(settings.results)
    return Runtime(
        settings=settings,
        store=JobStore(client, settings.key_prefix, job_ttl_s=settings.pipeline.job_ttl_s),
        limits=Limits.build(client, settings),
        upstreams=upstreams,
        objects=objects,
        fetcher=fetcher,
        scheduler=scheduler,
        intents=RedisIntents(client, settings.key_prefix),
        closers=[*closers, fetcher.close, objects.close, client.close],
    )


_lock = threading.Lock()
_current: Runtime | None = None


def install(runtime: Runtime) -> None:
    """Make ``runtime`` the process's runtime (closing a previous one)."""
    global _current
    with _lock:
        previous, _current = _current, runtime
    if previous is not None and previous is not runtime:
        previous.close()


def start(settings: Settings, scheduler: Scheduler) -> Runtime:
    """Build and install the process's runtime, unless one is installed already."""
    global _current
    with _lock:
        if _current is None:
            _current = build(settings, scheduler)
            _log.info("worker runtime started")
        return _current


def stop() -> None:
    """Close and forget the process's runtime (idempotent)."""
    global _current
    with _lock:
        runtime, _current = _current, None
    if runtime is not None:
        runtime.close()
        _log.info("worker runtime stopped")


def current() -> Runtime:
    """The process's runtime.

    Raises:
        RuntimeError: None was started (the worker's start signal did not fire).
    """
    runtime = _current
    if runtime is None:
        raise RuntimeError("no worker runtime: start() was not called in this process")
    return runtime
