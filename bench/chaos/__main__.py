"""``python -m bench.chaos`` (``make chaos``): the chaos suite; writes bench/results/chaos.json.

Each run starts its own stack (Redis with AOF, moto's S3 behind a proxy, the emulator, the
workers), submits the jobs, injects the faults and writes what became of every job. With
``--runs N`` the runs follow each other and each one is in the JSON.

    python -m bench.chaos                  # one run, 1,000 jobs (about 5 minutes)
    python -m bench.chaos --runs 3         # the issue's three consecutive runs
    python -m bench.chaos --quick          # 400 jobs, faults and gaps at 0.3 x (development)
"""

from __future__ import annotations

import argparse
import json
import logging
import shlex
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from bench.chaos import report
from bench.chaos.run import run_once
from bench.chaos.scenario import DEADLINE_S, JOBS, WORKERS, Scenario

RESULTS = Path(__file__).resolve().parents[1] / "results"
QUICK_JOBS = 400
QUICK_TIME_SCALE = 0.3


def checkout() -> dict[str, Any]:
    """The commit measured, and how many files differ from it (the workers run the working
    tree; a worker started again mid-run loads the files as they are then)."""

    def git(*args: str) -> str:
        done = subprocess.run(["git", *args], capture_output=True, text=True, check=False)
        return done.stdout.strip() if done.returncode == 0 else ""

    changed = git("status", "--porcelain", "--untracked-files=no")
    return {"commit": git("rev-parse", "HEAD") or None, "files_changed": len(changed.splitlines())}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=1, help="consecutive runs (default 1)")
    parser.add_argument("--jobs", type=int, default=None, help=f"jobs per run ({JOBS})")
    parser.add_argument("--time-scale", type=float, default=None, help="fault durations x")
    parser.add_argument("--quick", action="store_true", help=f"{QUICK_JOBS} jobs, 0.3 x time")
    parser.add_argument("--workers", type=int, default=WORKERS)
    parser.add_argument("--deadline-s", type=float, default=DEADLINE_S)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--s3-mode", choices=("reset", "refuse"), default="reset")
    parser.add_argument("--out", type=Path, default=RESULTS / "chaos.json")
    parser.add_argument("--logs", type=Path, default=None, help="keep each run's logs here")
    args = parser.parse_args(argv)
    if args.workers < 3:
        parser.error("the suite runs at least three workers")
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s", datefmt="%X")
    logging.getLogger("httpx").setLevel(logging.WARNING)
    scenario = Scenario(
        jobs=args.jobs or (QUICK_JOBS if args.quick else JOBS),
        workers=args.workers,
        deadline_s=args.deadline_s,
        seed=args.seed,
        s3_mode=args.s3_mode,
        time_scale=args.time_scale or (QUICK_TIME_SCALE if args.quick else 1.0),
    )
    command = "python -m bench.chaos " + shlex.join(argv if argv is not None else sys.argv[1:])
    source = checkout()
    runs: list[dict[str, Any]] = []
    document: dict[str, Any] = {}
    for index in range(1, args.runs + 1):
        print(f"== chaos run {index}/{args.runs}: {scenario.jobs} jobs", flush=True)
        started = time.monotonic()
        with tempfile.TemporaryDirectory(prefix="wanq-chaos-") as tmp:
            run_dir = (args.logs / f"run-{index}") if args.logs else Path(tmp)
            runs.append(run_once(scenario, index, run_dir))
        print(report.printed(runs[-1], index), flush=True)
        print(f"  ({time.monotonic() - started:.0f} s with setup)", flush=True)
        document = report.document(scenario.as_dict(), command.strip(), runs)
        document["source"] = source
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(document, indent=2) + "\n")  # after each run
    shown = {"must_show": document["must_show"], "summary": document["summary"]}
    print(json.dumps(shown, indent=2))
    print(f"-> {args.out}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
