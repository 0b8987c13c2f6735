"""Figures shared by every design: what the upstream saw, and what the clients noticed."""

from __future__ import annotations

import statistics
from collections.abc import Iterable, Mapping
from typing import Any

import psutil

from bench.sampler import account_figures


def upstream_counts(stats: Mapping[str, Any]) -> dict[str, int]:
    """Totals over every account of the emulator's ``/admin/stats``: submits accepted, 429s
    answered to submits and to queries, queries answered."""
    accounts = stats["accounts"].values()
    submit_429 = sum(
        int(n) for a in accounts for m in a["models"].values() for n in m["throttled"].values()
    )
    query_429 = sum(int(n) for a in accounts for n in a["throttled"].values())
    return {
        "submits": sum(account_figures(a)["submits_accepted"] for a in accounts),
        "submit_429": submit_429,
        "query_429": query_429,
        "queries": sum(int(a["queries"]) for a in accounts),
    }


def account_billed(stats: Mapping[str, Any]) -> dict[str, int]:
    """Images billed per account."""
    return {
        name: sum(int(m["images_billed"]) for m in account["models"].values())
        for name, account in stats["accounts"].items()
    }


def detect_delays(noticed_at: Mapping[str, float], end_times: Mapping[str, float]) -> list[float]:
    """For each task both know: when the client noticed its end, minus when it ended."""
    return [noticed_at[t] - end_times[t] for t in noticed_at if t in end_times]


def p50(values: Iterable[float]) -> float | None:
    """The median (None for no values)."""
    values = list(values)
    return round(statistics.median(values), 3) if values else None


def quantile(values: Iterable[float], q: float) -> float | None:
    """The ``q`` quantile (nearest rank; None for no values)."""
    ordered = sorted(values)
    if not ordered:
        return None
    return round(ordered[min(len(ordered) - 1, int(q * len(ordered)))], 3)


def tree_cpu_s(pids: Iterable[int]) -> float:
    """CPU seconds (user + system) of processes and their children, as of now."""
    total = 0.0
    for pid in pids:
        try:
            proc = psutil.Process(pid)
            procs = [proc, *proc.children(recursive=True)]
        except psutil.NoSuchProcess:
            continue
        for each in procs:
            try:
                times = each.cpu_times()
            except psutil.NoSuchProcess:
                continue
            total += times.user + times.system
    return total


def services_cpu_s(ports: Mapping[str, int]) -> dict[str, float]:
    """CPU seconds so far of the local services listening on these ports (name -> port):
    the emulator, the S3 server, Redis."""
    owners: dict[int, str] = {}
    for conn in psutil.net_connections(kind="tcp"):
        if conn.status == psutil.CONN_LISTEN and conn.pid is not None:
            for name, port in ports.items():
                if conn.laddr and conn.laddr.port == port:
                    owners[conn.pid] = name
    totals = dict.fromkeys(ports, 0.0)
    for pid, name in owners.items():
        totals[name] += tree_cpu_s([pid])
    return totals


def rss_bytes(pid: int) -> int:
    """Resident memory of one process."""
    return int(psutil.Process(pid).memory_info().rss)


def summary(
    *,
    jobs: int,
    succeeded: int,
    failed: int,
    lost: int,
    makespan_s: float,
    ideal_makespan_s: float,
    counts: Mapping[str, int],
    jobs_with_task: int,
    delays: list[float],
    cpu_s: float,
) -> dict[str, Any]:
    """The JSON figures of one design's run (the issue's field names, plus a few more)."""
    submits = counts["submits"]
    return {
        "jobs": jobs,
        "succeeded": succeeded,
        "failed": failed,
        "lost": lost,
        "makespan_s": round(makespan_s, 2),
        "ideal_makespan_s": round(ideal_makespan_s, 2),
        "makespan_vs_ideal": round(makespan_s / ideal_makespan_s, 3),
        "throttled_429": counts["submit_429"] + counts["query_429"],
        "throttled_429_submits": counts["submit_429"],
        "throttled_429_queries": counts["query_429"],
        "submit_429_share": round(counts["submit_429"] / max(1, submits), 4),
        "submits": submits,
        "duplicate_submits": submits - jobs_with_task,
        "polls_per_job": round(counts["queries"] / max(1, jobs), 2),
        "detect_delay_p50_s": p50(delays),
        "detect_delay_p95_s": quantile(delays, 0.95),
        "worker_cpu_s_per_job": round(cpu_s / max(1, jobs), 4),
    }
