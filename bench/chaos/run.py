"""One chaos run: the stack, the jobs, the faults, and the figures of what became of them.

Parts, each a real process: the suite's own Redis with AOF (:mod:`bench.chaos.redis_server`),
moto's S3 server behind a switchable TCP proxy (:mod:`bench.chaos.proxy`), the emulator
(``bench.scenarios.stack.bench_stack``), and ``celery worker`` processes
(``devstack.workers.WorkerPool``). The jobs are submitted at once through the Python API;
then the driver (:mod:`bench.chaos.drive`) runs the faults until every job is terminal or the
deadline passes. The figures are read in this order: the job records and where the
unfinished jobs stand (workers still running, so nothing moves them meanwhile but the
pipeline itself), then the workers are stopped and the upstream's ledger and the bucket are
read.
"""

from __future__ import annotations

import contextlib
import logging
import random
import secrets
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import urlsplit

import redis

from adapters.redis import redis_client
from adapters.s3 import s3_client
from bench.baselines.common import MODEL, job_inputs
from bench.chaos import audit, faults, figures
from bench.chaos.crew import Crew
from bench.chaos.drive import Driver
from bench.chaos.ledger import Ledger, upstream_ledger
from bench.chaos.locate import locate
from bench.chaos.probe import Probe, sweep_counts
from bench.chaos.proxy import TcpProxy
from bench.chaos.redis_server import AofRedis
from bench.chaos.scenario import (
    ACCOUNT,
    KEY,
    MAX_GAP_S,
    MIN_GAP_S,
    Scenario,
    chaos_settings,
    settings_summary,
)
from bench.chaos.schedule import Schedule
from bench.sampler import StatsSampler
from bench.scenarios.stack import bench_stack
from bench.scenarios.wanqueue import request_fields
from config import Settings
from config.celery import submit_settle_s
from devstack.workers import WorkerPool, WorkerSpec
from producers.api import WanQueue
from workers.contract import JobStore
from workers.contract.jobstore import ORPHAN_SUSPECTS
from workers.errors import WanqError

_log = logging.getLogger(__name__)
_T = TypeVar("_T")

REDIS_RETRY_S = 30.0
"""How long reading the records at the end keeps trying a Redis that does not answer."""


def _patiently(read: Callable[[], _T]) -> _T:
    deadline = time.monotonic() + REDIS_RETRY_S
    while True:
        try:
            return read()
        except (WanqError, redis.RedisError):
            if time.monotonic() > deadline:
                raise
            time.sleep(0.5)


def run_once(scenario: Scenario, index: int, run_dir: Path) -> dict[str, Any]:
    """One run of the scenario; its figures (see :mod:`bench.chaos.report`)."""
    run_dir.mkdir(parents=True, exist_ok=True)
    rng = random.Random(scenario.seed * 1000 + index)
    with contextlib.ExitStack() as stack:
        redis = stack.enter_context(AofRedis(run_dir / "redis"))
        bench = stack.enter_context(
            bench_stack(scenario.emulator_config(), run_dir, redis_url=redis.url)
        )
        moto = urlsplit(bench.settings.s3.endpoint_url or "")
        assert moto.hostname is not None and moto.port is not None
        proxy = stack.enter_context(TcpProxy(moto.hostname, moto.port))
        prefix = f"wanqchaos-{secrets.token_hex(3)}:"
        settings = chaos_settings(bench.settings, s3_endpoint=proxy.url, prefix=prefix)
        specs = [
            WorkerSpec(f"chaos{i}", concurrency=scenario.concurrency)
            for i in range(scenario.workers)
        ]
        pool = stack.enter_context(WorkerPool(settings, specs, run_dir))
        queue = stack.enter_context(WanQueue.from_settings(settings))
        client = redis_client(settings)
        stack.callback(client.close)
        store = JobStore(client, settings.key_prefix)
        crew = Crew(pool, rng)
        jobs = job_inputs(scenario.jobs)
        sampler = StatsSampler(bench.emulator.root_url).start()
        stack.callback(sampler.stop)
        started = time.time()
        report = queue.submit_many(request_fields(job) for job in jobs)
        if report.refused or report.unsent:
            raise RuntimeError(f"submit refused {report.refused[:3]} unsent {report.unsent[:3]}")
        ids = list(report.job_ids)
        submitted_s = time.time() - started
        print(f"  {len(ids)} jobs submitted in {submitted_s:.1f} s", flush=True)

        def make_fault(step: Any) -> faults.Fault:
            return faults.build(
                step,
                crew=crew,
                redis=redis,
                admin=bench.emulator.admin,
                proxy=proxy,
                s3_mode=scenario.s3_mode,
            )

        driver = Driver(
            store=store,
            ids=ids,
            crew=crew,
            schedule=Schedule(
                scenario.scaled_plan(),
                min_gap_s=MIN_GAP_S * scenario.time_scale,
                max_gap_s=MAX_GAP_S * scenario.time_scale,
            ),
            make_fault=make_fault,
            started=started,
            deadline_s=scenario.deadline_s,
            kill_interval_s=scenario.kill_interval_s,
            probe=Probe(client, prefix, ACCOUNT.name, MODEL).sample,
        )
        driven = driver.run()
        sampler.stop()
        records = _patiently(lambda: store.get_many(ids))
        stuck_ids = [r.job_id for r in records if r is not None and not r.is_terminal]
        where = _patiently(lambda: locate(client, prefix, stuck_ids))
        orphan_suspects = _patiently(lambda: store.stat(ORPHAN_SUSPECTS))
        swept = _patiently(lambda: sweep_counts(client, prefix))
        pool.stop()
        errors = list(driven.errors)
        ledger: Ledger | None = None
        try:
            present = [r for r in records if r is not None]
            window_s = (submit_settle_s(settings), settings.pipeline.reconcile_margin_s)
            ledger = upstream_ledger(
                bench.emulator.root_url, bench.emulator.admin, KEY, present, window_s
            )
        except Exception as exc:  # the run's other figures still count
            _log.exception("reading the upstream's ledger failed")
            errors.append(f"ledger: {type(exc).__name__}: {exc}")
        keys: set[str] | None = None
        try:
            keys = _bucket_keys(bench.settings)
        except Exception as exc:
            _log.exception("listing the bucket failed")
            errors.append(f"bucket: {type(exc).__name__}: {exc}")
        proxy_counts = proxy.counts.as_dict()
    result = figures.of_run(
        ids=ids,
        records=records,
        where=where,
        orphan_suspects=orphan_suspects,
        ledger=ledger,
        keys=keys,
        driven=driven,
        crew=crew,
        started=started,
        run_dir=run_dir,
        errors=errors,
    )
    result["s3_proxy"] = proxy_counts
    result["sweeper"] = swept
    result["upstream_timeline"] = figures.upstream_timeline(sampler.timeline(), started)
    result["pipeline_timeline"] = driven.samples
    result["settings"] = settings_summary(settings)
    return result


def _bucket_keys(settings: Settings) -> set[str]:
    """The result keys in the bucket, read from moto directly (not through the proxy)."""
    s3 = s3_client(settings.s3, max_attempts=3)
    try:
        return audit.bucket_keys(s3, settings.s3.bucket, settings.s3.results_prefix)
    finally:
        s3.close()
