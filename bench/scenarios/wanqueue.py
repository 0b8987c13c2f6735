"""One run of wanqueue itself: real worker processes against the scenario's emulator."""

from __future__ import annotations

import secrets
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from adapters.redis import redis_client
from bench.scenarios.measure import tree_cpu_s
from config import Settings
from config.accounts import AccountSettings, LimiterSettings, ModelLimits
from devstack.workers import WorkerPool, WorkerSpec
from producers.api import WanQueue
from workers.contract import JobRecord, JobState, JobStore
from workers.contract.states import TERMINAL_STATES

WAIT_PROBE_S = 0.5


@dataclass(frozen=True)
class WanqueueRun:
    """What a run left: its records, when it started, its workers' CPU and the samples."""

    records: list[JobRecord]
    started_at: float
    cpu_s: float
    lost: int


def request_fields(job: dict[str, Any]) -> dict[str, Any]:
    """A baseline job (``bench.baselines.common.job_inputs``) as wanqueue request fields."""
    skip = ("prompt", "images", "parameters", "tenant")
    extra = {k: v for k, v in job.items() if k not in skip}
    return {"prompt": job["prompt"], "images": job["images"], **job["parameters"], **extra}


def bench_settings(
    base: Settings,
    accounts: Sequence[AccountSettings],
    limiter: LimiterSettings | None = None,
) -> Settings:
    """The stack's settings with the scenario's accounts and a fresh key prefix."""
    prefix = f"wanqbench-{secrets.token_hex(3)}:"
    return base.model_copy(
        update={
            "accounts": tuple(accounts),
            "limiter": limiter or base.limiter,
            "key_prefix": prefix,
        }
    )


def account(
    name: str, base_url: str, key: str, submit_rps: float, max_in_flight: int, query_rps: float
) -> AccountSettings:
    """An account of the emulator as wanqueue is told about it (0: limit unknown)."""
    limits = ModelLimits(submit_rps=submit_rps, max_in_flight=max_in_flight)
    return AccountSettings.model_validate(
        {
            "name": name,
            "base_url": base_url,
            "api_keys": [key],
            "query_rps": query_rps,
            "limits": {"*": limits},
        }
    )


def run(
    settings: Settings,
    jobs: Sequence[dict[str, Any]],
    run_dir: Path,
    *,
    workers: int = 2,
    concurrency: int = 8,
    deadline_s: float = 900.0,
    on_start: Callable[[], object] | None = None,
    extra_ids: Sequence[str] = (),
) -> WanqueueRun:
    """Start the workers, submit ``jobs`` through the Python API, wait until every job is
    terminal (or the deadline passes), read their CPU, stop them. ``on_start`` is called
    once the workers are ready, just before the first job is submitted; ``extra_ids`` (which
    may still grow while waiting) are jobs submitted by someone else to wait for as well."""
    specs = [WorkerSpec(f"bench{i}", concurrency=concurrency) for i in range(workers)]
    pool = WorkerPool(settings, specs, run_dir)
    with pool, WanQueue.from_settings(settings) as queue:
        if on_start is not None:
            on_start()
        started_at = time.time()
        report = queue.submit_many(
            {**request_fields(job), "tenant": job.get("tenant", "default")} for job in jobs
        )
        if report.refused or report.unsent:
            raise RuntimeError(f"submit refused {report.refused[:3]} unsent {report.unsent[:3]}")
        store = JobStore(redis_client(settings), settings.key_prefix)
        ids = report.job_ids
        deadline = time.monotonic() + deadline_s
        open_ids, extra_seen = list(ids), 0
        while time.monotonic() < deadline:
            # Only the jobs not seen terminal yet are read again: the probe's own load on
            # Redis and on this machine's two cores stays small against the pipeline's.
            open_ids.extend(extra_ids[extra_seen:])
            extra_seen = len(extra_ids)
            states = store.states(open_ids)
            open_ids = [
                i for i, s in zip(open_ids, states, strict=True) if s not in TERMINAL_STATES
            ]
            if not open_ids:
                break
            time.sleep(WAIT_PROBE_S)
        cpu_s = tree_cpu_s(p.pid for p in (pool[i] for i in range(len(pool))) if p.pid)
        ids = [*ids, *extra_ids]
        records = [r for r in store.get_many(ids) if r is not None]
    lost = len(ids) - sum(1 for r in records if r.is_terminal)
    return WanqueueRun(records, started_at, cpu_s, lost)


def noticed_at(record: JobRecord) -> float | None:
    """When wanqueue saw the job's task end: the poll that moved it to STORING or ended it."""
    for state in (JobState.STORING, JobState.FAILED, JobState.CANCELED, JobState.EXPIRED):
        if state in record.timestamps:
            return record.timestamps[state]
    return None


def finished_at(record: JobRecord) -> float | None:
    """When the job became terminal (its images stored, or it failed)."""
    for state in TERMINAL_STATES:
        if state in record.timestamps:
            return record.timestamps[state]
    return None
