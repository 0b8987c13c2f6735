"""The benchmark baselines against a real emulator: each runs a few jobs to the end.

The emulator is limited like the real account (submits per second with no burst, so that
simultaneous submits meet 429s; a concurrency cap that rejects; a query budget), but its tasks
take a fixed 0.2 s, so each run stays short.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from bench.baselines import celery_naive, sdk_threadpool
from bench.baselines.common import BaselineRun, job_inputs
from bench.sampler import StatsSampler
from bench.truth import parse_task_time, task_end_times
from emulator.constants import DEFAULT_API_KEY
from tests.integration.conftest import StartEmulator

pytestmark = pytest.mark.integration

JOBS = 5
LIMITED_CONFIG: dict[str, Any] = {
    "accounts": [
        {
            "name": "bench",
            "api_keys": [DEFAULT_API_KEY],
            "query_qps": 20,
            "limits": {
                "*": {
                    "submit_rps": 5,
                    "burst": 1,
                    "max_concurrent": 10,
                    "on_concurrency": "reject",
                }
            },
        }
    ],
    "models": {
        "*": {
            "pending": {"kind": "fixed", "median_s": 0.0},
            "running": {"kind": "fixed", "median_s": 0.2},
        }
    },
}


def _check_run(run: BaselineRun, timeline: list[dict[str, Any]]) -> None:
    assert run.jobs == JOBS
    assert run.succeeded + run.failed == JOBS, run
    assert run.lost == 0, run
    assert len(run.noticed_at) == JOBS
    assert 0 < run.makespan_s < 20
    assert run.cpu_s > 0
    busy = [
        figures
        for sample in timeline
        for figures in sample["accounts"].values()
        if figures["in_flight"] > 0 or figures["finished"] > 0
    ]
    assert busy, timeline


def test_sdk_threadpool(start_emulator: StartEmulator) -> None:
    emulator = start_emulator(LIMITED_CONFIG)
    with StatsSampler(emulator.root_url, interval_s=0.1) as sampler:
        run = sdk_threadpool.run(emulator.base_url, emulator.api_key, job_inputs(JOBS), threads=5)
    _check_run(run, sampler.timeline())
    assert run.client_429 > 0, "5 threads submit at once against a burst of 1"


def test_sdk_threadpool_truth_matches_what_the_client_noticed(
    start_emulator: StartEmulator,
) -> None:
    emulator = start_emulator(LIMITED_CONFIG)
    run = sdk_threadpool.run(emulator.base_url, emulator.api_key, job_inputs(JOBS), threads=5)
    ends = task_end_times(emulator.root_url, emulator.api_key)
    assert set(ends) == set(run.noticed_at)
    for task_id, end_s in ends.items():
        assert end_s <= run.noticed_at[task_id] + 0.01, "noticed before it ended"
        body_end_s = parse_task_time(emulator.task(task_id)["output"]["end_time"])
        assert body_end_s == pytest.approx(end_s, abs=0.002)
    assert emulator.get_config()["accounts"][0]["query_qps"] == 0


def test_celery_naive(start_emulator: StartEmulator, redis_url: str, tmp_path: Path) -> None:
    emulator = start_emulator(LIMITED_CONFIG)
    with StatsSampler(emulator.root_url, interval_s=0.1) as sampler:
        run = celery_naive.run(
            emulator.base_url,
            emulator.api_key,
            redis_url,
            job_inputs(JOBS),
            workers=2,
            concurrency=3,
            rate_limit="5/s",
            deadline_s=15.0,
            log_dir=tmp_path,
        )
    _check_run(run, sampler.timeline())
