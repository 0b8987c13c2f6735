"""backlog: 100,000 jobs submitted at once through the Python API. Shows the submit rate, the
Redis memory each queued job costs (its inputs are references, not bytes), and that a worker
with the whole backlog behind it keeps a flat memory: the backlog waits in Redis (first as
broker messages, then parked in the waiting room), never in the worker."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from adapters.redis import redis_client
from bench.baselines.common import MODEL
from bench.scenarios import wanqueue
from bench.scenarios.measure import rss_bytes
from bench.scenarios.stack import bench_stack
from bench.scenarios.upstream import AccountSpec, UpstreamSpec
from config.accounts import LimiterSettings
from devstack.workers import WorkerPool, WorkerSpec
from producers.api import WanQueue
from workers.contract.names import QUEUES

JOBS = 100_000
KEY = "sk-bench-backlog-0001"
ACCOUNT = AccountSpec("acct-a", KEY, submit_rps=10.0, max_in_flight=40)
UPSTREAM = UpstreamSpec(accounts=(ACCOUNT,), failure_rate=0.0, error_5xx_rate=0.0)
RUN_S = 90.0
"""How long the worker works through the backlog before its memory is read again."""
KIB = 1024


def job(index: int) -> dict[str, Any]:
    """A job whose input is a reference (an https URL), as a catalogue's would be."""
    return {
        "model": MODEL,
        "prompt": f"SKU {index}: put the product on a pure white background",
        "images": [f"https://cdn.example.com/catalogue/sku-{index:06d}.jpg"],
        "size": "768*768",
        "n": 1,
    }


def run(out: Path) -> dict[str, Any]:
    with bench_stack(UPSTREAM.emulator_config()) as bench:
        acct = wanqueue.account(
            ACCOUNT.name, bench.emulator.base_url, KEY, 10.0, 40, ACCOUNT.query_rps
        )
        settings = wanqueue.bench_settings(bench.settings, [acct], LimiterSettings())
        redis = redis_client(settings)
        memory_before = int(redis.info("memory")["used_memory"])
        with WanQueue.from_settings(settings) as queue:
            started = time.perf_counter()
            report = queue.submit_many((job(i) for i in range(JOBS)), batch="backlog")
            submit_s = time.perf_counter() - started
        if report.refused or report.unsent or len(report.job_ids) != JOBS:
            raise RuntimeError(f"the backlog did not all go in: {report}")
        memory_queued = int(redis.info("memory")["used_memory"])
        submit_queue = f"{settings.key_prefix}{QUEUES[0]}"
        specs = [WorkerSpec("backlog", concurrency=8)]
        with WorkerPool(settings, specs, bench.run_dir / "worker") as pool:
            worker = pool[0]
            assert worker.pid is not None
            rss_start = rss_bytes(worker.pid)
            ready_at = time.monotonic()
            while redis.llen(submit_queue) > 0 and time.monotonic() - ready_at < 600:
                time.sleep(0.5)
            drained_s = time.monotonic() - ready_at
            rss_drained = rss_bytes(worker.pid)
            memory_parked = int(redis.info("memory")["used_memory"])
            time.sleep(max(0.0, RUN_S - (time.monotonic() - ready_at)))
            rss_end = rss_bytes(worker.pid)
            waiting = sum(int(n) for n in redis.hvals(f"{settings.key_prefix}wait:counts"))
    rate = JOBS / submit_s
    queued_per_job = (memory_queued - memory_before) / JOBS
    parked_per_job = (memory_parked - memory_before) / JOBS
    growth = rss_end / rss_start - 1
    return {
        "jobs": JOBS,
        "submit_s": round(submit_s, 2),
        "submit_jobs_per_s": round(rate),
        "redis_bytes_per_queued_job": round(queued_per_job),
        "redis_bytes_per_parked_job": round(parked_per_job),
        "worker": {
            "rss_start_mib": round(rss_start / KIB / KIB, 1),
            "rss_after_drain_mib": round(rss_drained / KIB / KIB, 1),
            "rss_end_mib": round(rss_end / KIB / KIB, 1),
            "rss_growth": round(growth, 3),
            "submit_queue_drained_into_waiting_room_s": round(drained_s, 1),
            "ran_s": RUN_S,
            "still_waiting_at_end": waiting,
        },
        "must_show": {
            ">= 5,000 jobs/s submitted": rate >= 5000,
            "<= 2 KiB of Redis per queued job": queued_per_job <= 2 * KIB,
            "worker RSS within 20% of its start": abs(growth) <= 0.2,
        },
    }
