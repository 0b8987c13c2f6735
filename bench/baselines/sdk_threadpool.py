"""Baseline: the official ``dashscope`` SDK in a thread pool, as a user writes it by hand.

One process, ``threads`` worker threads; each thread takes a job and

1. submits it with ``ImageSynthesis.async_call``, retrying HTTP 429 with exponential backoff
   and full jitter (capped at ``BACKOFF_CAP_S``, unlimited attempts within ``JOB_DEADLINE_S``);
2. polls ``ImageSynthesis.fetch`` every ``POLL_INTERVAL_S`` until a terminal status, backing
   off the same way on 429 (the account's query budget is shared by every thread);
3. downloads the first result image with httpx.

Nothing coordinates the threads: each learns about the account's limits only from its own
429s. A job whose submit is refused for good (4xx other than 429) or whose task ends FAILED,
CANCELED or UNKNOWN counts as failed; an exception or the deadline makes it lost.

The SDK's base URL is a module global (``dashscope.base_http_api_url``): it is set for the
run and restored after, so two runs must not overlap in one process. CPU is
``time.process_time()`` of this whole process: any other thread running meanwhile (a stats
sampler, say) is counted too.
"""

from __future__ import annotations

import random
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

import dashscope
import httpx
from dashscope import ImageSynthesis

from bench.baselines.common import (
    JOB_DEADLINE_S,
    POLL_INTERVAL_S,
    TERMINAL_STATUSES,
    BaselineRun,
    backoff_s,
)

_DOWNLOAD_TIMEOUT_S = 30.0
_THROTTLED = 429


@dataclass
class _Outcome:
    """How one job ended for the client."""

    kind: str  # "succeeded", "failed" or "lost"
    task_id: str | None = None
    noticed_at: float | None = None


class _Counter:
    """A thread-safe tally of the 429 answers the threads saw."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.value = 0

    def add(self) -> None:
        with self._lock:
            self.value += 1


def _submit(job: dict[str, Any], api_key: str, deadline: float, seen_429: _Counter) -> Any:
    """``async_call`` until it is not a 429; None when the deadline passed first."""
    rng = random.Random()
    attempt = 0
    while time.monotonic() < deadline:
        response = ImageSynthesis.async_call(
            model=job["model"],
            prompt=job["prompt"],
            images=list(job["images"]),
            api_key=api_key,
            **job["parameters"],
        )
        if response.status_code != _THROTTLED:
            return response
        seen_429.add()
        time.sleep(backoff_s(attempt, rng))
        attempt += 1
    return None


def _wait(task: Any, api_key: str, deadline: float, seen_429: _Counter) -> Any:
    """``fetch`` every second until a terminal status; None when the deadline passed first."""
    rng = random.Random()
    throttled = 0
    while time.monotonic() < deadline:
        response = ImageSynthesis.fetch(task, api_key=api_key)
        if response.status_code == _THROTTLED:
            seen_429.add()
            time.sleep(backoff_s(throttled, rng))
            throttled += 1
            continue
        throttled = 0
        if response.status_code == 200 and response.output.task_status in TERMINAL_STATUSES:
            return response
        time.sleep(POLL_INTERVAL_S)
    return None


def _one_job(job: dict[str, Any], api_key: str, http: httpx.Client, seen_429: _Counter) -> _Outcome:
    deadline = time.monotonic() + JOB_DEADLINE_S
    created = _submit(job, api_key, deadline, seen_429)
    if created is None:
        return _Outcome("lost")
    if created.status_code != 200:
        return _Outcome("failed", noticed_at=time.time())
    task_id = str(created.output.task_id)
    done = _wait(created, api_key, deadline, seen_429)
    if done is None:
        return _Outcome("lost", task_id)
    noticed_at = time.time()
    if done.output.task_status != "SUCCEEDED" or not done.output.results:
        return _Outcome("failed", task_id, noticed_at)
    http.get(done.output.results[0].url).raise_for_status()
    return _Outcome("succeeded", task_id, noticed_at)


def _guarded(job: dict[str, Any], api_key: str, http: httpx.Client, seen_429: _Counter) -> _Outcome:
    try:
        return _one_job(job, api_key, http, seen_429)
    except Exception:  # what a hand-written pool loses: the job, not the run
        return _Outcome("lost")


def run(base_url: str, api_key: str, jobs: list[dict[str, Any]], *, threads: int) -> BaselineRun:
    """Run ``jobs`` through the SDK in a pool of ``threads`` threads; block until all end.

    Args:
        base_url: The DashScope base URL (``http://host:port/api/v1`` for the emulator).
        api_key: The account's API key.
        jobs: Jobs from :func:`bench.baselines.common.job_inputs`.
        threads: Size of the thread pool.

    Returns:
        What the run did; ``cpu_s`` is this process's CPU time during the run.
    """
    previous_url = dashscope.base_http_api_url
    dashscope.base_http_api_url = base_url
    seen_429 = _Counter()
    cpu_start_s = time.process_time()
    started_at = time.time()
    try:
        with (
            httpx.Client(timeout=_DOWNLOAD_TIMEOUT_S) as http,
            ThreadPoolExecutor(max_workers=threads, thread_name_prefix="sdk-job") as pool,
        ):
            outcomes = list(pool.map(lambda job: _guarded(job, api_key, http, seen_429), jobs))
    finally:
        dashscope.base_http_api_url = previous_url
    cpu_s = time.process_time() - cpu_start_s
    noticed_at = {o.task_id: o.noticed_at for o in outcomes if o.task_id and o.noticed_at}
    last_noticed = max((o.noticed_at for o in outcomes if o.noticed_at), default=started_at)
    return BaselineRun(
        jobs=len(jobs),
        succeeded=sum(o.kind == "succeeded" for o in outcomes),
        failed=sum(o.kind == "failed" for o in outcomes),
        lost=sum(o.kind == "lost" for o in outcomes),
        makespan_s=last_noticed - started_at,
        noticed_at=noticed_at,
        cpu_s=cpu_s,
        client_429=seen_429.value,
    )
