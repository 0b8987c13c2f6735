"""The demo behind ``make demo``: a small catalogue of edits, end to end against the emulator.

It starts the emulator on a free loopback port, validates every manifest line with the job
contract (the invalid one is refused with its field and rule, the rest go on), submits each
edit through the project's DashScope client, follows every task to a terminal status, downloads
the result images into ``demo-output/``, writes ``demo-output/results.jsonl``, prints a summary
and stops the emulator.

This is the upstream half of the pipeline; the Celery pipeline (Redis, workers, S3, Flower)
takes over the submit/poll/store steps in the next stage.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
from pydantic import SecretStr

from devstack.catalogue import sample_catalogue
from emulator.process import EmulatorProcess
from workers.contract import EditRequest, validate_request
from workers.errors import InputInvalid, RetryableError, WanqError
from workers.upstream import DashScopeClient, TaskResult, TaskStatus

DEMO_API_KEY = "sk-demo"
POLL_INTERVAL_S = 0.5
QUERY_SPACING_S = 1 / 15  # stay inside the account's 20 queries per second
DEADLINE_S = 120.0

# Quick, seeded tasks; about one in six fails the way the real service fails.
EMULATOR_CONFIG: dict[str, Any] = {
    "accounts": [
        {
            "name": "demo",
            "api_keys": [DEMO_API_KEY],
            "query_qps": 20,
            "limits": {"*": {"submit_rps": 5, "max_concurrent": 8, "on_concurrency": "queue"}},
        }
    ],
    "models": {
        "*": {
            "pending": {"kind": "fixed", "median_s": 0.3},
            "running": {"kind": "lognormal", "median_s": 1.5, "sigma": 0.3, "max_s": 4},
            "failure_rate": 0.15,
            "partial_failure_rate": 0.5,
        }
    },
    "random_seed": 7,
}


@dataclass
class Job:
    """One manifest line on its way through the demo."""

    line: int
    custom_id: str
    request: EditRequest | None = None
    task_id: str | None = None
    state: str = "QUEUED"
    error_code: str | None = None
    error_message: str | None = None
    files: list[str] = field(default_factory=list)
    image_count: int | None = None

    def record(self) -> dict[str, Any]:
        """The job's line in results.jsonl."""
        return {
            "line": self.line,
            "custom_id": self.custom_id,
            "model": self.request.model.value if self.request else None,
            "state": self.state,
            "task_id": self.task_id,
            "files": self.files,
            "image_count": self.image_count,
            "error_code": self.error_code,
            "error_message": self.error_message,
        }


def _validate(lines: list[dict[str, Any]]) -> list[Job]:
    jobs = []
    for number, raw in enumerate(lines, start=1):
        data = dict(raw)
        job = Job(line=number, custom_id=str(data.pop("custom_id", f"line-{number}")))
        try:
            job.request = validate_request(data)
        except InputInvalid as exc:
            job.state, job.error_code, job.error_message = "FAILED", "InputInvalid", str(exc)
            print(f"line {number} ({job.custom_id}) refused: {exc}")
        jobs.append(job)
    return jobs


def _submit(client: DashScopeClient, jobs: list[Job]) -> None:
    for job in jobs:
        if job.request is None:
            continue
        try:
            job.task_id = client.submit(job.request).task_id
            job.state = "PENDING"
        except WanqError as exc:
            job.state, job.error_code, job.error_message = "FAILED", type(exc).__name__, str(exc)


def _follow(client: DashScopeClient, jobs: list[Job], out: Path) -> None:
    deadline = time.monotonic() + DEADLINE_S
    open_jobs = [j for j in jobs if j.state == "PENDING"]
    while open_jobs and time.monotonic() < deadline:
        for job in list(open_jobs):
            assert job.task_id is not None
            time.sleep(QUERY_SPACING_S)
            try:
                result = client.fetch(job.task_id)
            except RetryableError:
                continue  # throttled or a blip: this job is polled again next round
            if result.status.is_terminal:
                _finish(job, result, out)
                open_jobs.remove(job)
            else:
                job.state = result.status.value
        _progress(jobs)
        if open_jobs:
            time.sleep(POLL_INTERVAL_S)
    for job in open_jobs:
        job.state, job.error_code = "FAILED", "DemoDeadline"
    print()


def _finish(job: Job, result: TaskResult, out: Path) -> None:
    job.state = result.status.value
    if result.status is not TaskStatus.SUCCEEDED:
        job.error_code, job.error_message = result.code, result.message
        return
    job.image_count = result.usage.image_count if result.usage else len(result.image_urls)
    folder = out / job.custom_id
    folder.mkdir(parents=True, exist_ok=True)
    for index, url in enumerate(result.image_urls):
        path = folder / f"{index}.png"
        path.write_bytes(httpx.get(url, timeout=30.0).raise_for_status().content)
        job.files.append(str(path))


def _progress(jobs: list[Job]) -> None:
    counts = Counter(j.state for j in jobs)
    line = "  ".join(f"{state} {count}" for state, count in sorted(counts.items()))
    print(f"\r{line}", end="", flush=True)


def _summary(jobs: list[Job]) -> None:
    print(f"{'custom_id':<22} {'model':<20} {'state':<10} {'images':>6}  reason")
    for job in jobs:
        model = job.request.model.value if job.request else "-"
        reason = f"{job.error_code}: {job.error_message}" if job.error_code else ""
        print(f"{job.custom_id:<22} {model:<20} {job.state:<10} {len(job.files):>6}  {reason[:70]}")
    counts = Counter(j.state for j in jobs)
    print("totals: " + ", ".join(f"{s} {c}" for s, c in sorted(counts.items())))


def main(argv: Sequence[str] | None = None) -> int:
    """Run the demo; returns 0 when every valid job reached a terminal status."""
    parser = argparse.ArgumentParser(description="wanqueue demo against the local emulator")
    parser.add_argument("--output", type=Path, default=Path("demo-output"))
    args = parser.parse_args(argv)

    out: Path = args.output
    shutil.rmtree(out, ignore_errors=True)
    out.mkdir(parents=True)
    jobs = _validate(sample_catalogue())
    with EmulatorProcess(EMULATOR_CONFIG, api_key=DEMO_API_KEY) as emulator:
        print(f"emulator at {emulator.base_url}; {sum(j.request is not None for j in jobs)} jobs")
        with DashScopeClient(emulator.base_url, SecretStr(DEMO_API_KEY)) as client:
            _submit(client, jobs)
            _follow(client, jobs, out)
    with (out / "results.jsonl").open("w") as results:
        for job in jobs:
            results.write(json.dumps(job.record()) + "\n")
    _summary(jobs)
    print(f"results: {out / 'results.jsonl'}")
    terminal = {"SUCCEEDED", "FAILED", "CANCELED", "UNKNOWN"}
    return 0 if all(j.state in terminal and j.error_code != "DemoDeadline" for j in jobs) else 1


if __name__ == "__main__":
    sys.exit(main())
