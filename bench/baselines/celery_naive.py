"""Baseline: a plain Celery task per job, throttled by Celery's own ``rate_limit``.

The run starts ``workers`` real worker processes
(``celery -A bench.baselines.naive_app worker --pool threads -c concurrency``), sends one
``naive.edit`` message per job and waits until every job has recorded its outcome in Redis.

The weakness this baseline shows: Celery's ``rate_limit`` is enforced by each worker process
on its own (a token bucket in the consumer), not across the fleet. ``workers`` processes with
``"10/s"`` each may submit up to ``10 * workers`` per second against an account allowed 10,
and a throttled submit goes back through the broker (``self.retry``) into the same local
bucket. Nor does anything bound the tasks in flight upstream, and each job holds a pool thread
for its whole upstream life while it sleeps between polls, so ``concurrency`` is also the
ceiling of jobs in progress per worker.

Keys live under a fresh prefix per run (broker queues included, through the transport's
``global_keyprefix``) and are deleted when the run ends. ``makespan_s`` starts when the first
message is sent (the first submit attempt follows within the broker's latency); ``cpu_s`` is
the user + system CPU of the worker processes (and any children), read just before they stop.
"""

from __future__ import annotations

import json
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any, Final

import psutil
import redis
from celery import Celery

from bench.baselines.common import BaselineRun
from bench.baselines.naive_app import LOST, OUTCOMES_KEY, QUEUE, TASK_NAME, THROTTLED_KEY
from devstack.env import PYTHON_CHILD_ENV
from devstack.workers import WorkerProcess, WorkerSpec

APP: Final = "bench.baselines.naive_app"
ROOT: Final = Path(__file__).resolve().parents[2]
RUN_DEADLINE_S: Final = 900.0
WAIT_INTERVAL_S: Final = 0.1
WORKER_STOP_TIMEOUT_S: Final = 10.0


def _worker_argv(name: str, concurrency: int) -> list[str]:
    return [
        sys.executable, "-m", "celery", "-A", APP, "worker",
        "-Q", QUEUE, "--pool", "threads", "-c", str(concurrency),
        "-n", f"{name}@%h", "--without-gossip", "--without-mingle", "--loglevel", "INFO",
    ]  # fmt: skip


def _tree_cpu_s(pid: int | None) -> float:
    """User + system CPU seconds of a process and its descendants (0 once it is gone)."""
    if pid is None:
        return 0.0
    try:
        root = psutil.Process(pid)
        total = 0.0
        for proc in [root, *root.children(recursive=True)]:
            times = proc.cpu_times()
            total += times.user + times.system
        return total
    except psutil.NoSuchProcess:
        return 0.0


def _delete_prefix(client: redis.Redis, prefix: str) -> None:
    keys = list(client.scan_iter(match=f"{prefix}*", count=1000))
    if keys:
        client.delete(*keys)


def _tally(jobs: int, outcomes: dict[str, dict[str, Any]]) -> tuple[int, int, int]:
    """(succeeded, failed, lost); a job without an outcome is lost."""
    succeeded = sum(o["status"] == "SUCCEEDED" for o in outcomes.values())
    lost = sum(o["status"] == LOST for o in outcomes.values()) + jobs - len(outcomes)
    return succeeded, jobs - succeeded - lost, lost


def run(
    base_url: str,
    api_key: str,
    redis_url: str,
    jobs: list[dict[str, Any]],
    *,
    workers: int,
    concurrency: int,
    rate_limit: str,
    deadline_s: float = RUN_DEADLINE_S,
    log_dir: Path | None = None,
) -> BaselineRun:
    """Run ``jobs`` through ``workers`` naive Celery workers; block until all are recorded.

    Args:
        base_url: The DashScope base URL (``http://host:port/api/v1`` for the emulator).
        api_key: The account's key (handed to the workers through their environment).
        redis_url: Broker and outcome store; use a database of its own.
        jobs: Jobs from :func:`bench.baselines.common.job_inputs`.
        workers: Worker processes.
        concurrency: Threads per worker.
        rate_limit: Celery ``rate_limit`` of the task, per worker process (e.g. ``"10/s"``).
        deadline_s: How long to wait for every outcome; jobs without one are lost.
        log_dir: Where the worker logs go (None: a temporary directory, removed after).

    Returns:
        What the run did; ``cpu_s`` is the CPU time of the worker processes.
    """
    prefix = f"naive-bench:{uuid.uuid4().hex[:12]}:"
    env = {
        **PYTHON_CHILD_ENV,
        "NAIVE_BROKER_URL": redis_url,
        "NAIVE_KEY_PREFIX": prefix,
        "NAIVE_BASE_URL": base_url,
        "NAIVE_API_KEY": api_key,
        "NAIVE_RATE_LIMIT": rate_limit,
    }
    with tempfile.TemporaryDirectory(prefix="naive-bench-") as tmp:
        logs = log_dir or Path(tmp)
        procs = [
            WorkerProcess(
                WorkerSpec(f"naive{i}", (QUEUE,), concurrency),
                _worker_argv(f"naive{i}", concurrency),
                env,
                logs / f"naive{i}.log",
                ROOT,
            )
            for i in range(workers)
        ]
        store = redis.Redis.from_url(redis_url, decode_responses=True)
        producer = Celery("naive_producer", broker=redis_url)
        producer.conf.broker_transport_options = {"global_keyprefix": prefix}
        try:
            for proc in procs:
                proc.launch()
            for proc in procs:
                proc.wait_ready()
            started_at = time.time()
            for index, job in enumerate(jobs):
                producer.send_task(TASK_NAME, args=[job, index], queue=QUEUE)
            deadline = time.monotonic() + deadline_s
            outcomes_key = f"{prefix}{OUTCOMES_KEY}"
            while store.hlen(outcomes_key) < len(jobs) and time.monotonic() < deadline:
                time.sleep(WAIT_INTERVAL_S)
            cpu_s = sum(_tree_cpu_s(proc.pid) for proc in procs)
            raw = store.hgetall(outcomes_key)
            client_429 = int(store.get(f"{prefix}{THROTTLED_KEY}") or 0)
        finally:
            for proc in procs:
                proc.terminate()
            for proc in procs:
                proc.stop(WORKER_STOP_TIMEOUT_S)
            producer.close()
            _delete_prefix(store, prefix)
            store.close()
    outcomes = {str(index): json.loads(text) for index, text in raw.items()}
    succeeded, failed, lost = _tally(len(jobs), outcomes)
    noticed_at = {
        str(o["task_id"]): float(o["noticed_at"])
        for o in outcomes.values()
        if o.get("task_id") and o["status"] != LOST
    }
    last_noticed = max(noticed_at.values(), default=started_at)
    return BaselineRun(
        jobs=len(jobs),
        succeeded=succeeded,
        failed=failed,
        lost=lost,
        makespan_s=last_noticed - started_at,
        noticed_at=noticed_at,
        cpu_s=cpu_s,
        client_429=client_429,
    )
