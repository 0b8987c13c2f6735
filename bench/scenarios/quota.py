"""quota-bound and unknown-limits: one account, 1,000 jobs, wanqueue beside the two usual
alternatives (the dashscope SDK in a thread pool, a plain Celery task per job)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from bench.baselines import celery_naive, sdk_threadpool
from bench.baselines.common import BaselineRun, job_inputs
from bench.plot import plot_run
from bench.scenarios import wanqueue
from bench.scenarios.measure import detect_delays, summary, upstream_counts
from bench.scenarios.stack import Bench, bench_stack
from bench.scenarios.upstream import AccountSpec, UpstreamSpec
from config.accounts import LimiterSettings

JOBS = int(__import__("os").environ.get("BENCH_JOBS", "1000"))
KEY = "sk-bench-quota-0001"
ACCOUNT = AccountSpec("acct-a", KEY, submit_rps=10.0, max_in_flight=40)
UPSTREAM = UpstreamSpec(accounts=(ACCOUNT,))
SDK_THREADS = ACCOUNT.max_in_flight
NAIVE_WORKERS, NAIVE_CONCURRENCY = 2, ACCOUNT.max_in_flight // 2
NAIVE_RATE_LIMIT = f"{ACCOUNT.submit_rps:g}/s"


def quota_bound(out: Path) -> dict[str, Any]:
    """wanqueue told the account's limits, and both alternatives."""
    return _compare(out, "quota-bound", known_limits=True, alternatives=True)


def unknown_limits(out: Path) -> dict[str, Any]:
    """wanqueue told no limits: it discovers them from the 429s."""
    return _compare(out, "unknown-limits", known_limits=False, alternatives=False)


def run_wanqueue(
    bench: Bench, jobs: list[dict[str, Any]], *, known_limits: bool
) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """wanqueue on the bench's emulator: (figures, timeline)."""
    rate = ACCOUNT.submit_rps if known_limits else 0.0
    in_flight = ACCOUNT.max_in_flight if known_limits else 0
    acct = wanqueue.account(
        ACCOUNT.name, bench.emulator.base_url, KEY, rate, in_flight, ACCOUNT.query_rps
    )
    settings = wanqueue.bench_settings(bench.settings, [acct], LimiterSettings())
    run_dir = bench.run_dir / f"wanqueue-{'known' if known_limits else 'unknown'}"

    def go(sampler: Any) -> wanqueue.WanqueueRun:
        return wanqueue.run(settings, jobs, run_dir, on_start=sampler.start)

    result, timeline, stats, ends = bench.measured(go, [KEY])
    records = result.records
    noticed = {
        r.task_id: at
        for r in records
        if r.task_id is not None and (at := wanqueue.noticed_at(r)) is not None
    }
    finished = [at for r in records if (at := wanqueue.finished_at(r)) is not None]
    figures = summary(
        jobs=len(jobs),
        succeeded=sum(1 for r in records if r.state.value == "SUCCEEDED"),
        failed=sum(1 for r in records if r.is_terminal and r.state.value != "SUCCEEDED"),
        lost=result.lost,
        makespan_s=max(finished) - result.started_at if finished else float("nan"),
        ideal_makespan_s=UPSTREAM.ideal_makespan_s(len(jobs)),
        counts=upstream_counts(stats),
        jobs_with_task=sum(1 for r in records if r.task_id is not None),
        delays=detect_delays(noticed, ends),
        cpu_s=result.cpu_s,
    )
    return figures, timeline


def run_baseline(
    bench: Bench, jobs: list[dict[str, Any]], name: str
) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """One of the alternatives on the bench's emulator: (figures, timeline)."""

    def go(sampler: Any) -> BaselineRun:
        sampler.start()
        if name == "sdk_threadpool":
            return sdk_threadpool.run(bench.emulator.base_url, KEY, jobs, threads=SDK_THREADS)
        return celery_naive.run(
            bench.emulator.base_url,
            KEY,
            bench.redis_url,
            jobs,
            workers=NAIVE_WORKERS,
            concurrency=NAIVE_CONCURRENCY,
            rate_limit=NAIVE_RATE_LIMIT,
            log_dir=bench.run_dir / name,
        )

    result, timeline, stats, ends = bench.measured(go, [KEY])
    figures = summary(
        jobs=result.jobs,
        succeeded=result.succeeded,
        failed=result.failed,
        lost=result.lost,
        makespan_s=result.makespan_s,
        ideal_makespan_s=UPSTREAM.ideal_makespan_s(len(jobs)),
        counts=upstream_counts(stats),
        jobs_with_task=len(result.noticed_at),
        delays=detect_delays(result.noticed_at, ends),
        cpu_s=result.cpu_s,
    )
    return figures, timeline


def _compare(out: Path, name: str, *, known_limits: bool, alternatives: bool) -> dict[str, Any]:
    jobs = job_inputs(JOBS)
    designs: dict[str, dict[str, Any]] = {}
    timelines: dict[str, list[dict[str, Any]]] = {}
    with bench_stack(UPSTREAM.emulator_config()) as bench:
        designs["wanqueue"], timelines["wanqueue"] = run_wanqueue(
            bench, jobs, known_limits=known_limits
        )
        print("wanqueue", designs["wanqueue"], flush=True)
        if alternatives:
            for alt in ("sdk_threadpool", "celery_naive"):
                designs[alt], timelines[alt] = run_baseline(bench, jobs, alt)
                print(alt, designs[alt], flush=True)
    plot_run(out / f"{name}.png", f"{name}: {JOBS} jobs, 10 submits/s, 40 in flight", timelines)
    ours = designs["wanqueue"]
    bound = 1.05 if known_limits else 1.2
    share = 0.01 if known_limits else 0.05
    must_show = {
        f"makespan <= {bound} x ideal": ours["makespan_vs_ideal"] <= bound,
        f"429s <= {share:.0%} of submits": ours["submit_429_share"] <= share,
        "0 lost": ours["lost"] == 0,
        "0 duplicate submits": ours["duplicate_submits"] == 0,
    }
    if known_limits:
        must_show["polls per job <= 3"] = ours["polls_per_job"] <= 3
    return {
        "upstream": {
            "jobs": JOBS,
            "submit_rps": ACCOUNT.submit_rps,
            "max_in_flight": ACCOUNT.max_in_flight,
            "query_rps": ACCOUNT.query_rps,
            "latency": f"lognormal median {UPSTREAM.median_s} s sigma {UPSTREAM.sigma}",
            "mean_latency_s": round(UPSTREAM.mean_latency_s, 3),
            "failure_rate": UPSTREAM.failure_rate,
            "error_503_rate": UPSTREAM.error_5xx_rate,
            "wanqueue_told_limits": known_limits,
        },
        **designs,
        "must_show": must_show,
        "timelines": timelines,
    }
