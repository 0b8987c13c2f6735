"""workers.pipeline.poll: one status check per message, a single live poll chain."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest
import redis

from tests.unit.limits_fakes import redis_now_ms
from tests.unit.pipeline_fakes import admit, make_runtime, new_job, task_result, unit_settings
from workers.contract import JobRecord, JobState
from workers.contract.names import TASK_POLL, TASK_STORE
from workers.errors import UpstreamThrottled, UpstreamUnavailable
from workers.limits.leases import leases_key
from workers.pipeline.outcomes import RESERVED, poll_delay_s
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
    account = admit(rt, job)
    assert rt.store.begin_submit(job.job_id, account)
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
    # one link on, the first message delivered again is stale and does nothing
    rt.upstreams["default"].fetches.append(task_result(TaskStatus.RUNNING))
    poll(rt, job.job_id, stored.poll_token)
    poll(rt, job.job_id, token)
    assert rt.upstreams["default"].count("fetch") == 2


def test_a_redelivered_previous_link_carries_the_chain_on(rt: Runtime) -> None:
    """A crash after the token swap and before the successor was sent: the poll that was
    running comes back with the previous token, is accepted, and sends the successor."""
    job, token = pending_job(rt)
    assert rt.store.swap_poll_token(job.job_id, token, "lost-successor")
    rt.upstreams["default"].fetches.append(task_result(TaskStatus.RUNNING))
    poll(rt, job.job_id, token)
    stored = current(rt, job)
    [(args, _)] = rt.scheduler.of(TASK_POLL)
    assert args == (job.job_id, stored.poll_token)
    assert stored.poll_token not in (token, "lost-successor")


def test_poll_delays_grow_to_the_maximum(rt: Runtime) -> None:
    delays = [poll_delay_s(rt, n) for n in range(20)]
    assert delays[0] == rt.settings.pipeline.poll_interval_s
    assert delays == sorted(delays) and delays[-1] == rt.settings.pipeline.max_poll_interval_s


def test_succeeded_goes_to_storing_and_releases_the_slot(rt: Runtime) -> None:
    job, token = pending_job(rt)
    usage = Usage(image_count=2, size="1024*1024", total_tokens=5)
    urls = ("https://r/0.png?sig", "https://r/1.png?sig")
    rt.upstreams["default"].fetches.append(
        task_result(TaskStatus.SUCCEEDED, image_urls=urls, usage=usage)
    )
    poll(rt, job.job_id, token)
    stored = current(rt, job)
    assert stored.state is JobState.STORING and stored.result_urls == urls
    assert stored.usage is not None and stored.usage.image_count == 2
    assert rt.scheduler.of(TASK_STORE) == [((job.job_id,), 0.0)]
    assert rt.limits.leases.in_flight("default", MODEL) == 0
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
    assert rt.limits.leases.in_flight("default", MODEL) == 0
    assert rt.scheduler.of(TASK_POLL) == []


def test_an_unknown_task_past_its_lifetime_expired(rt: Runtime) -> None:
    job, token = pending_job(rt)
    rt.clock.now = job.timestamps[JobState.PENDING] + 25 * 3600
    rt.upstreams["default"].fetches.append(task_result(TaskStatus.UNKNOWN))
    poll(rt, job.job_id, token)
    assert current(rt, job).state is JobState.EXPIRED


def test_throttled_queries_poll_again_without_a_retry(rt: Runtime) -> None:
    job, token = pending_job(rt)
    rt.upstreams["default"].fetches.append(
        UpstreamThrottled("Throttling", "qps", retry_after_s=7.0)
    )
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
    key = leases_key(redis_prefix, "default", MODEL)
    now_ms = redis_now_ms(redis_client)
    redis_client.zadd(key, {job.job_id: now_ms + 1000}, xx=True)  # close to running out
    rt.upstreams["default"].fetches.append(error)
    poll(rt, job.job_id, token)
    ttl_ms = rt.settings.pipeline.lease_ttl_s * 1000
    expiry = redis_client.zscore(key, job.job_id)
    assert expiry is not None and expiry >= now_ms + ttl_ms
    # past the first lease, inside the renewed one: the slot is still held
    other = new_job(rt)
    assert rt.limits.admission.park(other.job_id, MODEL, other.priority, other.tenant)
    assert isinstance(rt.limits.admission.admit(MODEL, now_ms=now_ms + 60_000), float)


def test_a_poll_whose_query_is_reserved_later_sends_itself_reserved(rt: Runtime) -> None:
    job, token = pending_job(rt)
    limiter = rt.settings.limiter
    burst = limiter.query_burst or max(1.0, limiter.query_rps / 2)  # 0: half a second's
    for _ in range(int(burst) + 1):  # spend the account's burst
        rt.limits.queries.reserve("default")
    poll(rt, job.job_id, token)
    assert rt.upstreams["default"].calls == []  # not queried before its reservation
    stored = current(rt, job)
    [(args, countdown)] = rt.scheduler.of(TASK_POLL)
    assert args == (job.job_id, stored.poll_token, RESERVED)
    assert 0 < countdown <= 2 / rt.settings.limiter.query_rps
    # the reserved poll queries without asking the budget again
    rt.upstreams["default"].fetches.append(task_result(TaskStatus.PENDING))
    poll(rt, job.job_id, stored.poll_token or "", RESERVED)
    assert rt.upstreams["default"].count("fetch") == 1


def test_a_finished_task_records_its_latency_and_counts_billed_images(
    redis_client: redis.Redis, redis_prefix: str
) -> None:
    rt = make_runtime(redis_client, redis_prefix)
    job, token = pending_job(rt)
    submitted = datetime(2026, 1, 1, 12, 0, 0)
    rt.upstreams["default"].fetches.append(
        task_result(
            TaskStatus.SUCCEEDED,
            image_urls=("https://r/0.png",),
            usage=Usage(image_count=3, size="1024*1024"),
            submit_time=submitted,
            end_time=submitted + timedelta(seconds=42),
        )
    )
    poll(rt, job.job_id, token)
    assert rt.store.stat("billed:default") == 3
    assert rt.limits.latency.targets(MODEL) is None  # one sample: too few to schedule by
    raw = redis_client.lrange(f"{redis_prefix}latency:{MODEL}", 0, -1)
    assert [float(x) for x in raw] == [42.0]


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
    assert rt.limits.leases.in_flight("default", MODEL) == 0


def test_terminal_missing_and_taskless_jobs_are_not_polled(rt: Runtime) -> None:
    job, token = pending_job(rt)
    rt.store.transition(job.job_id, JobState.FAILED)
    poll(rt, job.job_id, token)
    poll(rt, "0" * 32, token)
    queued = new_job(rt)
    poll(rt, queued.job_id, "any")
    assert rt.upstreams["default"].calls == []
