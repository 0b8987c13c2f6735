"""workers.pipeline.poll: one status check per message, a single live poll chain."""

from __future__ import annotations

import pytest
import redis

from tests.unit.pipeline_fakes import make_runtime, new_job, task_result, unit_settings
from workers.contract import JobRecord, JobState
from workers.contract.names import TASK_POLL, TASK_STORE
from workers.errors import UpstreamThrottled, UpstreamUnavailable
from workers.pipeline.outcomes import poll_delay_s
from workers.pipeline.poll import poll
from workers.runtime import Runtime
from workers.upstream import TaskStatus, Usage

MODEL = "wan2.7-image"


@pytest.fixture
def rt(redis_client: redis.Redis, redis_prefix: str) -> Runtime:
    return make_runtime(redis_client, redis_prefix)


def pending_job(rt: Runtime) -> tuple[JobRecord, str]:
    """A job that is PENDING upstream with slot, task and a poll token; (job, token)."""
    job = new_job(rt)
    assert rt.limiter.try_acquire("default", MODEL, job.job_id) is None
    assert rt.store.begin_submit(job.job_id)
    assert rt.store.attach_task(job.job_id, "task-1", "req-1")
    assert rt.store.swap_poll_token(job.job_id, None, "tok0")
    stored = rt.store.get(job.job_id)
    assert stored is not None
    return stored, "tok0"


def current(rt: Runtime, job: JobRecord) -> JobRecord:
    stored = rt.store.get(job.job_id)
    assert stored is not None
    return stored


def test_running_renews_and_schedules_the_next_poll(rt: Runtime) -> None:
    job, token = pending_job(rt)
    rt.upstreams["default"].fetches.append(task_result(TaskStatus.RUNNING))
    poll(rt, job.job_id, token)
    stored = current(rt, job)
    assert stored.state is JobState.RUNNING and stored.poll_token != token and stored.polls == 2
    [(args, countdown)] = rt.scheduler.of(TASK_POLL)
    assert args == (job.job_id, stored.poll_token)
    assert countdown == poll_delay_s(rt, 1)
    # the old message, delivered again, is stale and does nothing
    poll(rt, job.job_id, token)
    assert rt.upstreams["default"].count("fetch") == 1


def test_poll_delays_grow_to_the_maximum(rt: Runtime) -> None:
    delays = [poll_delay_s(rt, n) for n in range(20)]
    assert delays[0] == rt.settings.pipeline.poll_interval_s
    assert delays == sorted(delays) and delays[-1] == rt.settings.pipeline.max_poll_interval_s


def test_succeeded_goes_to_storing_and_releases_the_slot(rt: Runtime) -> None:
    job, token = pending_job(rt)
    usage = Usage(image_count=2, size="1024*1024", total_tokens=5)
    urls = ("https://r/0.png?sig", "https://r/1.png?sig")
    rt.upstreams["default"].fetches.append(task_result(TaskStatus.SUCCEEDED, image_urls=urls, usage=usage))
    poll(rt, job.job_id, token)
    stored = current(rt, job)
    assert stored.state is JobState.STORING and stored.result_urls == urls
    assert stored.usage is not None and stored.usage.image_count == 2
    assert rt.scheduler.of(TASK_STORE) == [((job.job_id,), 0.0)]
    assert rt.limiter.in_flight("default", MODEL) == 0
    # redelivered after the state changed (the store message may be lost): store again
    poll(rt, job.job_id, token)
    assert len(rt.scheduler.of(TASK_STORE)) == 2 and rt.upstreams["default"].count("fetch") == 1


@pytest.mark.parametrize(
    ("status", "fields", "state", "code"),
    [
        (
            TaskStatus.FAILED,
            {"code": "DataInspectionFailed", "message": "no"},
            "FAILED",
            "DataInspectionFailed",
        ),
        (TaskStatus.CANCELED, {}, "CANCELED", None),
        (TaskStatus.UNKNOWN, {}, "FAILED", "UpstreamTaskUnknown"),
        (TaskStatus.SUCCEEDED, {}, "FAILED", "NoResults"),
    ],
)
def test_ending_statuses(
    rt: Runtime, status: TaskStatus, fields: dict[str, str], state: str, code: str | None
) -> None:
    job, token = pending_job(rt)
    rt.upstreams["default"].fetches.append(task_result(status, **fields))
    poll(rt, job.job_id, token)
    stored = current(rt, job)
    assert stored.state.value == state and stored.error_code == code
    assert rt.limiter.in_flight("default", MODEL) == 0
    assert rt.scheduler.of(TASK_POLL) == []


def test_an_unknown_task_past_its_lifetime_expired(rt: Runtime) -> None:
    job, token = pending_job(rt)
    rt.clock.now = job.timestamps[JobState.PENDING] + 25 * 3600
    rt.upstreams["default"].fetches.append(task_result(TaskStatus.UNKNOWN))
    poll(rt, job.job_id, token)
    assert current(rt, job).state is JobState.EXPIRED


def test_throttled_queries_poll_again_without_a_retry(rt: Runtime) -> None:
    job, token = pending_job(rt)
    rt.upstreams["default"].fetches.append(UpstreamThrottled("Throttling", "qps", retry_after_s=7.0))
    poll(rt, job.job_id, token)
    [(_, countdown)] = rt.scheduler.of(TASK_POLL)
    assert countdown == 7.0
    assert current(rt, job).state is JobState.PENDING


@pytest.mark.parametrize(
    "error",
    [UpstreamThrottled("Throttling", "qps"), UpstreamUnavailable("ReadTimeout", "slow")],
)
def test_an_unread_status_still_renews_the_lease(
    redis_client: redis.Redis, redis_prefix: str, error: Exception
) -> None:
    rt = make_runtime(redis_client, redis_prefix, unit_settings(max_in_flight=1))
    job, token = pending_job(rt)
    ttl_s = rt.settings.pipeline.lease_ttl_s
    rt.clock.now += ttl_s - 100  # close to running out
    rt.upstreams["default"].fetches.append(error)
    poll(rt, job.job_id, token)
    rt.clock.now += 200  # past the first lease, inside the renewed one
    assert rt.limiter.try_acquire("default", MODEL, "another") is not None  # still held


def test_an_unreadable_status_is_polled_until_the_task_outlives_24h(rt: Runtime) -> None:
    job, token = pending_job(rt)
    rt.upstreams["default"].fetches.append(UpstreamUnavailable("ReadTimeout", "slow"))
    poll(rt, job.job_id, token)  # no retry spent: polled again later
    stored = current(rt, job)
    assert stored.state is JobState.PENDING and stored.poll_token != token
    [(args, countdown)] = rt.scheduler.of(TASK_POLL)
    assert args == (job.job_id, stored.poll_token)
    assert 0 < countdown <= rt.settings.pipeline.max_poll_interval_s
    rt.clock.now = job.timestamps[JobState.PENDING] + 24 * 3600 + 1
    rt.upstreams["default"].fetches.append(UpstreamUnavailable("HTTP 503", "down"))
    poll(rt, job.job_id, stored.poll_token or "")
    expired = current(rt, job)
    assert expired.state is JobState.EXPIRED and "24 h" in (expired.error_message or "")
    assert rt.limiter.in_flight("default", MODEL) == 0


def test_terminal_missing_and_taskless_jobs_are_not_polled(rt: Runtime) -> None:
    job, token = pending_job(rt)
    rt.store.transition(job.job_id, JobState.FAILED)
    poll(rt, job.job_id, token)
    poll(rt, "0" * 32, token)
    queued = new_job(rt)
    poll(rt, queued.job_id, "any")
    assert rt.upstreams["default"].calls == []
