"""How many task queries per second the emulator answers on this machine, limits off.

The emulator must never be the bottleneck of a load test: wanqueue's real ceiling against
DashScope is 20 queries per second per account, so the emulator needs to answer orders of
magnitude more than the fleet will ask of it.

Run: ``python -m bench.emulator_queries [--duration-s 10] [--tasks 500]``. Prints the figures
and writes ``bench/results/emulator-queries.json``.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import time
from pathlib import Path
from typing import Any

import httpx

from bench.loadgen import build_get, run_load
from devstack.emulator import EmulatorProcess

RESULTS_DIR = Path(__file__).resolve().parent / "results"

# Limits off, quick tasks: the benchmark measures the server, not the simulated model.
CONFIG: dict[str, Any] = {
    "accounts": [
        {
            "name": "bench",
            "region": "ap-southeast-1",
            "api_keys": ["sk-bench"],
            "query_qps": 0,
        }
    ],
    "models": {
        "*": {
            "pending": {"kind": "fixed", "median_s": 0.05},
            "running": {"kind": "fixed", "median_s": 0.2},
        }
    },
}


def _submit_tasks(base_url: str, api_key: str, count: int) -> list[str]:
    body = {
        "model": "wan2.7-image",
        "input": {"messages": [{"role": "user", "content": [{"text": "a red chair"}]}]},
        "parameters": {"size": "1K", "n": 1},
    }
    headers = {"Authorization": f"Bearer {api_key}", "X-DashScope-Async": "enable"}
    ids = []
    with httpx.Client(base_url=base_url, headers=headers, timeout=10.0) as client:
        for _ in range(count):
            response = client.post("/services/aigc/image-generation/generation", json=body)
            response.raise_for_status()
            ids.append(response.json()["output"]["task_id"])
    return ids


def _percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def main() -> None:
    """Run the benchmark and write its JSON."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--duration-s", type=float, default=10.0)
    parser.add_argument("--tasks", type=int, default=500)
    parser.add_argument("--processes", type=int, default=1)
    parser.add_argument("--connections", type=int, default=32)
    args = parser.parse_args()

    with EmulatorProcess(CONFIG, api_key="sk-bench") as emulator:
        task_ids = _submit_tasks(emulator.base_url, "sk-bench", args.tasks)
        headers = {"Authorization": "Bearer sk-bench", "Accept": "application/json"}
        requests = [
            build_get(emulator.host, emulator.port, f"/api/v1/tasks/{tid}", headers)
            for tid in task_ids
        ]
        started = time.perf_counter()
        load = run_load(
            emulator.host,
            emulator.port,
            requests,
            processes=args.processes,
            connections_per_process=args.connections,
            duration_s=args.duration_s,
        )
        wall_s = time.perf_counter() - started
        stats = emulator.stats()

    qps = load.ok / args.duration_s
    result = {
        "scenario": "emulator-queries",
        "what": "GET /api/v1/tasks/{id} answered per second by one emulator process, limits off",
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version()},
        "duration_s": args.duration_s,
        "wall_s": round(wall_s, 2),
        "load_processes": args.processes,
        "connections": args.processes * args.connections,
        "tasks": args.tasks,
        "queries_ok": load.ok,
        "errors": load.errors,
        "statuses": {str(k): v for k, v in sorted(load.statuses.items())},
        "queries_per_s": round(qps, 1),
        "latency_ms_p50": round(statistics.median(load.latencies_ms), 2),
        "latency_ms_p99": round(_percentile(load.latencies_ms, 0.99), 2),
        "emulator_stats_excerpt": {k: stats[k] for k in list(stats)[:3]},
    }
    RESULTS_DIR.mkdir(parents=True, exist_ok=True)
    out = RESULTS_DIR / "emulator-queries.json"
    out.write_text(json.dumps(result, indent=2) + "\n")
    print(
        f"emulator task queries: {result['queries_per_s']} /s "
        f"(p50 {result['latency_ms_p50']} ms, p99 {result['latency_ms_p99']} ms, "
        f"{load.errors} errors, {result['connections']} connections, "
        f"{args.duration_s} s) -> {out}"
    )


if __name__ == "__main__":
    main()
