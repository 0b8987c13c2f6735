"""ceiling: limits off, latency near zero: jobs per second through the whole pipeline on this
machine (HTTP to the emulator, result download, S3 put, every Redis write), against a bare
Celery chain of as many hops per job on the same workers. The emulator, moto's S3 server and
Redis share the machine's two cores with the workers."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from celery import Celery

from adapters.redis import redis_client
from bench.baselines.common import job_inputs
from bench.scenarios import chain_app, wanqueue
from bench.scenarios.measure import services_cpu_s, upstream_counts
from bench.scenarios.stack import bench_stack
from config.accounts import LimiterSettings
from config.celery import celery_config
from devstack.workers import WorkerPool, WorkerSpec
from workers.contract import JobState

JOBS = 2000
WORKERS, CONCURRENCY = 2, 8
KEY = "sk-bench-ceiling-0001"
UNLIMITED = 100_000.0
EMULATOR = {
    "accounts": [{"name": "acct-c", "api_keys": [KEY], "query_qps": 0, "limits": {}}],
    "models": {
        "*": {
            "pending": {"kind": "fixed", "median_s": 0.0},
            "running": {"kind": "fixed", "median_s": 0.01},
            "failure_rate": 0.0,
        }
    },
    "random_seed": 4,
}


def run(out: Path) -> dict[str, Any]:
    # Identical edits: the emulator renders the result once (its renders are cached by
    # content), so the two cores go to the pipeline, not to drawing pictures. Every job is
    # still submitted, polled, downloaded and stored on its own.
    jobs = job_inputs(1) * JOBS
    with bench_stack(EMULATOR) as bench:
        acct = wanqueue.account(
            "acct-c", bench.emulator.base_url, KEY, UNLIMITED, int(UNLIMITED), UNLIMITED
        )
        settings = wanqueue.bench_settings(bench.settings, [acct], LimiterSettings())
        ports = _service_ports(settings, bench.emulator.base_url)
        before = services_cpu_s(ports)
        result, _, stats, _ = bench.measured(
            lambda _: wanqueue.run(
                settings, jobs, bench.run_dir / "wanqueue", workers=WORKERS, concurrency=CONCURRENCY
            ),
            [],
        )
        services_ms = {
            name: round((cpu_s - before[name]) / JOBS * 1000, 2)
            for name, cpu_s in services_cpu_s(ports).items()
        }
        finished = [at for r in result.records if (at := wanqueue.finished_at(r)) is not None]
        succeeded = sum(1 for r in result.records if r.state is JobState.SUCCEEDED)
        wanq_s = max(finished) - result.started_at
        redis_port = {"redis": ports["redis"]}
        redis_before = services_cpu_s(redis_port)["redis"]
        chain_s, chain_cpu_s = _bare_chain(settings, bench.run_dir / "chain")
        chain_redis_ms = (services_cpu_s(redis_port)["redis"] - redis_before) / JOBS * 1000
    ours = JOBS / wanq_s
    bare = JOBS / chain_s
    counts = upstream_counts(stats)
    return {
        "jobs": JOBS,
        "workers": f"{WORKERS} processes x {CONCURRENCY} threads",
        "wanqueue": {
            "jobs_per_s": round(ours, 1),
            "wall_s": round(wanq_s, 2),
            "succeeded": succeeded,
            "lost": result.lost,
            "submits": counts["submits"],
            "polls_per_job": round(counts["queries"] / JOBS, 2),
            "worker_cpu_s_per_job": round(result.cpu_s / JOBS, 4),
            # The rest of the machine's two cores per job: the upstream stand-ins and Redis.
            "services_cpu_ms_per_job": services_ms,
        },
        "bare_chain": {
            "hops_per_job": chain_app.HOPS,
            "jobs_per_s": round(bare, 1),
            "wall_s": round(chain_s, 2),
            "worker_cpu_s_per_job": round(chain_cpu_s / JOBS, 4),
            "services_cpu_ms_per_job": {"redis": round(chain_redis_ms, 2)},
        },
        "ratio": round(ours / bare, 3),
        "must_show": {"at least half the bare chain's throughput": ours / bare >= 0.5},
    }


def _service_ports(settings: Any, emulator_url: str) -> dict[str, int]:
    """The ports of the emulator, the S3 server and Redis of a bench stack."""
    s3_endpoint = settings.s3.endpoint_url or ""
    return {
        "emulator": urlsplit(emulator_url).port or 0,
        "s3": urlsplit(s3_endpoint).port or 0,
        "redis": urlsplit(settings.redis_url.get_secret_value()).port or 6379,
    }


def _bare_chain(settings: Any, run_dir: Path) -> tuple[float, float]:
    """Seconds for JOBS chains of HOPS hops through real workers, and their CPU seconds."""
    from bench.scenarios.measure import tree_cpu_s

    specs = [
        WorkerSpec(f"chain{i}", queues=(chain_app.QUEUE,), concurrency=CONCURRENCY)
        for i in range(WORKERS)
    ]
    producer = Celery("wanq-bench-chain-producer", set_as_current=False)
    producer.conf.update(celery_config(settings, {chain_app.TASK: chain_app.QUEUE}))
    redis = redis_client(settings)
    done_key = f"{settings.key_prefix}{chain_app.DONE_KEY}"
    with WorkerPool(settings, specs, run_dir, app="bench.scenarios.chain_app") as pool:
        redis.delete(done_key)
        started = time.monotonic()
        with producer.producer_or_acquire() as prod:
            for index in range(JOBS):
                producer.send_task(chain_app.TASK, args=[str(index), chain_app.HOPS], producer=prod)
        while int(redis.get(done_key) or 0) < JOBS:
            if time.monotonic() - started > 600:
                raise RuntimeError("the bare chain did not finish in 600 s")
            time.sleep(0.05)
        elapsed = time.monotonic() - started
        cpu_s = tree_cpu_s(p.pid for p in (pool[i] for i in range(len(pool))) if p.pid)
    producer.close()
    return elapsed, cpu_s
