"""two-accounts: two accounts with different limits, 2,000 jobs of two tenants: a bulk
backfill submitted at once, and an interactive tenant's jobs arriving one a second while the
backfill waits. Shows each account's quota in use and each tenant's wait for a slot."""

from __future__ import annotations

import threading
import time
from pathlib import Path
from typing import Any

from bench.baselines.common import job_inputs
from bench.plot import plot_run
from bench.scenarios import wanqueue
from bench.scenarios.measure import quantile, upstream_counts
from bench.scenarios.stack import bench_stack
from bench.scenarios.upstream import AccountSpec, UpstreamSpec
from config.accounts import LimiterSettings
from producers.api import WanQueue
from workers.contract import JobRecord, JobState

BULK_JOBS, INTERACTIVE_JOBS = 1900, 100
INTERACTIVE_EVERY_S = 1.0
ACCOUNTS = (
    AccountSpec("acct-a", "sk-bench-two-a", submit_rps=10.0, max_in_flight=40),
    AccountSpec("acct-b", "sk-bench-two-b", submit_rps=5.0, max_in_flight=20),
)
UPSTREAM = UpstreamSpec(accounts=ACCOUNTS)
BULK, INTERACTIVE = "bulk-shop", "studio"


def wait_s(record: JobRecord) -> float | None:
    """Time from the job's creation to its submit (its wait for a slot)."""
    at = record.timestamps.get(JobState.SUBMITTING)
    return None if at is None else at - record.created_at


def quota_use(timeline: list[dict[str, Any]], jobs: int) -> dict[str, float]:
    """Each account's accepted submits per second over the middle of the run (from 5% to 95%
    of all jobs submitted: the backlog is there throughout), as a share of its rate."""
    totals = [sum(a["submits_accepted"] for a in s["accounts"].values()) for s in timeline]
    first = next(i for i, n in enumerate(totals) if n >= 0.05 * jobs)
    last = next(i for i, n in enumerate(totals) if n >= 0.95 * jobs)
    span_s = timeline[last]["t_s"] - timeline[first]["t_s"]
    use = {}
    for spec in ACCOUNTS:
        begin = timeline[first]["accounts"][spec.name]["submits_accepted"]
        end = timeline[last]["accounts"][spec.name]["submits_accepted"]
        use[spec.name] = round((end - begin) / span_s / spec.submit_rps, 3)
    return use


def run(out: Path) -> dict[str, Any]:
    inputs = job_inputs(BULK_JOBS + INTERACTIVE_JOBS)
    bulk, interactive = inputs[:BULK_JOBS], inputs[BULK_JOBS:]
    with bench_stack(UPSTREAM.emulator_config()) as bench:
        accounts = [
            wanqueue.account(
                a.name, bench.emulator.base_url, a.api_key, a.submit_rps, a.max_in_flight, 20.0
            )
            for a in ACCOUNTS
        ]
        settings = wanqueue.bench_settings(bench.settings, accounts, LimiterSettings())
        trickled: list[str] = []

        def trickle() -> None:
            with WanQueue.from_settings(settings) as queue:
                for job in interactive:
                    fields = wanqueue.request_fields(job)
                    record = queue.submit(fields, tenant=INTERACTIVE, priority="interactive")
                    trickled.append(record.job_id)
                    time.sleep(INTERACTIVE_EVERY_S)

        def go(sampler: Any) -> wanqueue.WanqueueRun:
            feeder = threading.Thread(target=trickle, daemon=True)

            def start() -> None:
                sampler.start()
                feeder.start()

            jobs = [{**job, "tenant": BULK} for job in bulk]
            result = wanqueue.run(
                settings, jobs, bench.run_dir / "wanqueue", on_start=start, extra_ids=trickled
            )
            feeder.join()
            return result

        result, timeline, stats, _ = bench.measured(go, [a.api_key for a in ACCOUNTS])
    records = result.records
    waits = {
        tenant: [w for r in records if r.tenant == tenant and (w := wait_s(r)) is not None]
        for tenant in (BULK, INTERACTIVE)
    }
    use = quota_use(timeline, BULK_JOBS + INTERACTIVE_JOBS)
    counts = upstream_counts(stats)
    plot_run(
        out / "two-accounts.png",
        "two-accounts: 10/s + 5/s, 1,900 bulk + 100 interactive jobs",
        {"wanqueue": timeline},
        per_account=True,
    )
    per_tenant = {
        tenant: {
            "jobs": len(values),
            "wait_p50_s": quantile(values, 0.5),
            "wait_p95_s": quantile(values, 0.95),
            "wait_max_s": quantile(values, 1.0),
        }
        for tenant, values in waits.items()
    }
    few_tasks_s = 3 * UPSTREAM.mean_latency_s
    interactive_p95 = per_tenant[INTERACTIVE]["wait_p95_s"] or float("inf")
    return {
        "upstream": {
            "accounts": [vars(a) | {"api_key": "(emulator key)"} for a in ACCOUNTS],
            "latency": f"lognormal median {UPSTREAM.median_s} s sigma {UPSTREAM.sigma}",
        },
        "jobs": len(records),
        "lost": result.lost,
        "succeeded": sum(1 for r in records if r.state is JobState.SUCCEEDED),
        "submits": counts["submits"],
        "duplicate_submits": counts["submits"] - sum(1 for r in records if r.task_id),
        "throttled_429": counts["submit_429"] + counts["query_429"],
        "quota_use": use,
        "images_billed_by_account": {
            name: sum(int(m["images_billed"]) for m in acct["models"].values())
            for name, acct in stats["accounts"].items()
        },
        "tenants": per_tenant,
        "must_show": {
            "both accounts' quotas >= 95% used": all(v >= 0.95 for v in use.values()),
            f"interactive p95 wait < 3 tasks ({few_tasks_s:.1f} s)": interactive_p95 < few_tasks_s,
            "0 lost": result.lost == 0,
        },
        "timeline": timeline,
    }
