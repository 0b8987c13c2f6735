"""The Celery app of the naive baseline: one plain task per job that submits and waits.

Started by :mod:`bench.baselines.celery_naive` as
``celery -A bench.baselines.naive_app worker --pool threads -c K``. Everything comes from the
worker's environment, read once at import:

    NAIVE_BROKER_URL   Redis URL of the broker; also where outcomes are recorded
    NAIVE_KEY_PREFIX   prefix of every key (broker ``global_keyprefix`` and the outcome keys)
    NAIVE_BASE_URL     the DashScope base URL (``http://host:port/api/v1``)
    NAIVE_API_KEY      the account's key: the worker's secret, never in a message
    NAIVE_RATE_LIMIT   Celery ``rate_limit`` of the task, e.g. ``"10/s"`` (per worker process)

Keys (under NAIVE_KEY_PREFIX):

    naive:outcomes   hash: job index -> JSON {"status", "task_id", "noticed_at"}
    naive:429        counter of the HTTP 429 answers the workers saw

The task is deliberately what a user writes first, not what STYLE.md asks of wanqueue: the
retry of a throttled submit is an explicit ``self.retry(countdown=...)`` and the wait is a
``time.sleep`` loop that holds a pool thread for the whole life of the upstream task.
"""

from __future__ import annotations

import json
import os
import threading
import time
from typing import Any, Final

import httpx
import redis
from celery import Celery, Task
from celery.signals import worker_shutdown

from bench.baselines.common import (
    JOB_DEADLINE_S,
    POLL_INTERVAL_S,
    SUBMIT_PATH,
    TERMINAL_STATUSES,
    backoff_s,
    first_result_url,
    wire_body,
)

TASK_NAME: Final = "naive.edit"
QUEUE: Final = "naive"
OUTCOMES_KEY: Final = "naive:outcomes"
THROTTLED_KEY: Final = "naive:429"
LOST: Final = "LOST"
"""Outcome status of a job the task gave up on (an error, or the deadline while polling)."""
REFUSED: Final = "REFUSED"
"""Outcome status of a submit refused for good (an HTTP error other than 429)."""

_HTTP_TIMEOUT_S: Final = 30.0
_THROTTLED: Final = 429

BROKER_URL = os.environ.get("NAIVE_BROKER_URL", "redis://127.0.0.1:6379/14")
KEY_PREFIX = os.environ.get("NAIVE_KEY_PREFIX", "naive-bench:")
BASE_URL = os.environ.get("NAIVE_BASE_URL", "")
RATE_LIMIT = os.environ.get("NAIVE_RATE_LIMIT", "10/s")

app = Celery("naive_app", broker=BROKER_URL)
app.conf.update(
    broker_transport_options={"global_keyprefix": KEY_PREFIX},
    task_default_queue=QUEUE,
    task_ignore_result=True,
    broker_connection_retry_on_startup=True,
)

_lock = threading.Lock()
_http_client: httpx.Client | None = None
_redis_client: redis.Redis | None = None


def _http() -> httpx.Client:
    """The worker's one HTTP client on the DashScope base URL (threads share it)."""
    global _http_client
    with _lock:
        if _http_client is None:
            headers = {"Authorization": f"Bearer {os.environ.get('NAIVE_API_KEY', '')}"}
            _http_client = httpx.Client(base_url=BASE_URL, headers=headers, timeout=_HTTP_TIMEOUT_S)
        return _http_client


def _redis() -> redis.Redis:
    """The worker's one Redis client for outcomes and counters."""
    global _redis_client
    with _lock:
        if _redis_client is None:
            _redis_client = redis.Redis.from_url(BROKER_URL)
        return _redis_client


def _close_clients(**_: Any) -> None:
    global _http_client, _redis_client
    with _lock:
        if _http_client is not None:
            _http_client.close()
        if _redis_client is not None:
            _redis_client.close()
        _http_client = _redis_client = None


worker_shutdown.connect(_close_clients)


def _count_429() -> None:
    _redis().incr(f"{KEY_PREFIX}{THROTTLED_KEY}")


def _record(index: int, status: str, task_id: str | None, noticed_at: float) -> None:
    outcome = {"status": status, "task_id": task_id, "noticed_at": noticed_at}
    _redis().hset(f"{KEY_PREFIX}{OUTCOMES_KEY}", str(index), json.dumps(outcome))


def _poll_until_terminal(task_id: str) -> dict[str, Any] | None:
    """GET the task every second until a terminal status; None past the deadline."""
    deadline = time.monotonic() + JOB_DEADLINE_S
    while time.monotonic() < deadline:
        time.sleep(POLL_INTERVAL_S)
        response = _http().get(f"/tasks/{task_id}")
        if response.status_code == _THROTTLED:
            _count_429()
            continue
        if response.status_code != 200:
            continue
        output: dict[str, Any] = response.json()["output"]
        if output.get("task_status") in TERMINAL_STATUSES:
            return output
    return None


def _submit_and_wait(job: dict[str, Any], index: int) -> str | None:
    """Submit, wait, download and record; the upstream task id, None when throttled."""
    response = _http().post(
        SUBMIT_PATH, json=wire_body(job), headers={"X-DashScope-Async": "enable"}
    )
    if response.status_code == _THROTTLED:
        _count_429()
        return None
    if response.status_code != 200:
        _record(index, REFUSED, None, time.time())
        return ""
    task_id = str(response.json()["output"]["task_id"])
    output = _poll_until_terminal(task_id)
    noticed_at = time.time()
    if output is None:
        _record(index, LOST, task_id, noticed_at)
        return task_id
    status = str(output["task_status"])
    url = first_result_url(output)
    if status == "SUCCEEDED" and url is not None:
        # A plain request: upstream the result URL is another host, it must not get the key.
        httpx.get(url, timeout=_HTTP_TIMEOUT_S).raise_for_status()
    _record(index, status, task_id, noticed_at)
    return task_id


def _edit(self: Task, job: dict[str, Any], index: int) -> None:
    """Submit ``job``, wait for its task, download the first image, record the outcome.

    A throttled submit is retried through the broker after a jittered backoff (and passes
    the worker's rate limit again); any other error records the job as lost.

    Args:
        job: A job of :func:`bench.baselines.common.job_inputs`.
        index: The job's index, the field of its outcome in the outcomes hash.
    """
    try:
        task_id = _submit_and_wait(job, index)
    except Exception:  # the naive task has no error model: the job is lost, the run goes on
        _record(index, LOST, None, time.time())
        return
    if task_id is None:
        raise self.retry(countdown=backoff_s(self.request.retries))


edit = app.task(name=TASK_NAME, bind=True, rate_limit=RATE_LIMIT, max_retries=None)(_edit)
