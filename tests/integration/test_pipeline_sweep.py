"""The sweeper, for real: jobs whose next message was lost still end, within a bound.

The stack of ``test_pipeline`` (emulator, moto's S3 server, Redis, a Celery worker), with a
sweeper that acts within seconds. Two jobs lose their message the way crashes lose them:

* a producer creates a record and dies before parking it (no message, not in the waiting
  room): the sweeper parks it again and it runs as any other;
* a submit creates its upstream task, records it (PENDING) and dies before sending the first
  poll: nobody polls the job until the sweeper finds its poll chain silent and starts one;
* a poll finds the task succeeded, records it (STORING) and dies before sending the store:
  the sweeper sends it again.

Each ends SUCCEEDED with its images in S3, submitted once.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import redis

from config import SweeperSettings
from config.celery import longest_countdown_s
from devstack.s3 import S3Handle
from devstack.workers import WorkerPool, WorkerSpec
from tests.integration.emulator_harness import RunningEmulator, StartEmulator, wait_for
from tests.integration.pipeline_harness import (
    check_stored,
    make_jobs,
    start_upstreams,
    submits_accepted,
    wait_terminal,
)
from workers.contract import JobState, JobStore
from workers.pipeline.sweep import SWEEP_STAT, Action
from workers.upstream import DashScopeClient, SubmitResult, TaskResult, TaskStatus

pytestmark = pytest.mark.integration

MODEL = "wan2.7-image"
SWEEPER = SweeperSettings(interval_s=0.5, margin_s=1.0, store_stall_s=5.0)
"""A sweeper that acts within seconds (the poll silence is the longest countdown + 1 s)."""
BOUND_S = 90.0
"""Generous, for a loaded 2-core machine: the silent chain alone is found after ~15 s."""


@pytest.fixture
def workers_with_sweeper(
    start_emulator: StartEmulator,
    s3_server: S3Handle,
    redis_url: str,
    redis_prefix: str,
    tmp_path: Path,
) -> Iterator[tuple[Any, RunningEmulator, Any]]:
    """(settings, emulator, s3 client) with one worker running, the sweeper on a short leash."""
    models = {
        "*": {
            "pending": {"kind": "fixed", "median_s": 0.05},
            "running": {"kind": "uniform", "min_s": 0.1, "max_s": 0.4},
            "failure_rate": 0.0,
        }
    }
    parts = start_upstreams(
        start_emulator,
        s3_server,
        redis_url=redis_url,
        prefix=redis_prefix,
        label="sweep",
        models=models,
    )
    emulator, s3 = parts.emulator, parts.s3
    settings = parts.settings.model_copy(update={"sweeper": SWEEPER})
    pool = WorkerPool(settings, [WorkerSpec("w1", concurrency=4)], tmp_path / "w", cwd=Path.cwd())
    pool.start()
    try:
        yield settings, emulator, s3
    finally:
        pool.stop()


def test_jobs_whose_message_was_lost_end_through_the_sweeper(
    workers_with_sweeper: tuple[Any, RunningEmulator, Any],
    redis_url: str,
    image_urls: dict[str, str],
) -> None:
    settings, emulator, s3 = workers_with_sweeper
    client = redis.Redis.from_url(redis_url, decode_responses=True)
    store = JobStore(client, settings.key_prefix)
    try:
        jobs = make_jobs(3, list(image_urls.values()), "bsweep", models=(MODEL,))
        for job in jobs:
            assert store.create(job)[1]  # and no message: its producer died there
        _, unpolled, unstored = jobs
        account = settings.upstream_accounts()[0]
        with DashScopeClient.for_account(account, settings.upstream) as upstream:
            tasks: dict[str, SubmitResult] = {}
            for job in (unpolled, unstored):  # submits that recorded their tasks, then died
                assert store.begin_submit(job.job_id, account.name)
                body = job.request.to_body()
                answer = tasks[job.job_id] = upstream.submit_body(MODEL, job.request.protocol, body)
                assert store.attach_task(job.job_id, answer.task_id, answer.request_id)
            # A poll that saw the task succeed, recorded it, and died before sending the store.
            task_id = tasks[unstored.job_id].task_id
            done = wait_for(lambda: _succeeded(upstream, task_id), what="the task to succeed")
        assert store.transition(unstored.job_id, JobState.STORING, result_urls=done.image_urls)
        assert longest_countdown_s(settings) + SWEEPER.margin_s < BOUND_S / 4

        ids = [job.job_id for job in jobs]
        records = wait_terminal(store, ids, timeout_s=BOUND_S)
        assert [r.state for r in records] == [JobState.SUCCEEDED] * 3, records
        check_stored(records, s3, settings.s3.bucket)
        for record in records[1:]:
            assert record.task_id == tasks[record.job_id].task_id and record.attempts == 1
        assert submits_accepted(emulator.stats()) == 3  # each job submitted once
        for action in (Action.PARK, Action.POLL, Action.STORE):
            assert store.stat(SWEEP_STAT.format(action=action.value)) >= 1, action
        assert store.stat(SWEEP_STAT.format(action=Action.FAIL.value)) == 0
        assert store.live.size() == 0
    finally:
        client.close()


def _succeeded(upstream: DashScopeClient, task_id: str) -> TaskResult | None:
    """The task once it succeeded upstream (None until then)."""
    task = upstream.fetch(task_id)
    return task if task.status is TaskStatus.SUCCEEDED else None
