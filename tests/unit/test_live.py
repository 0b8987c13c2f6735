"""workers.contract.live: the index of live jobs, walked a page at a time, against real Redis."""

from __future__ import annotations

import pytest
import redis

from workers.contract import EditRequest, JobRecord, JobState, JobStore
from workers.contract.live import LiveIndex

REQUEST = EditRequest.model_validate(
    {"model": "wan2.7-image", "prompt": "white background", "images": ["https://x.test/a.png"]}
)


@pytest.fixture
def store(redis_client: redis.Redis, redis_prefix: str) -> JobStore:
    return JobStore(redis_client, redis_prefix, job_ttl_s=600)


@pytest.fixture
def live(redis_client: redis.Redis, redis_prefix: str) -> LiveIndex:
    return LiveIndex(redis_client, redis_prefix)


def listed(client: redis.Redis, prefix: str, jobs: dict[str, float]) -> None:
    """Put ``jobs`` (id -> score in s) in the index directly."""
    client.zadd(f"{prefix}live", {job_id: at_s * 1000 for job_id, at_s in jobs.items()})


def test_pages_walk_the_old_jobs_oldest_first_then_start_over(
    live: LiveIndex, redis_client: redis.Redis, redis_prefix: str
) -> None:
    listed(redis_client, redis_prefix, {f"j{i}": 1000.0 + i for i in range(5)} | {"young": 5000.0})
    assert live.next_page(before_ms=2_000_000, size=2) == [("j0", 1000.0), ("j1", 1001.0)]
    assert [job for job, _ in live.next_page(2_000_000, 2)] == ["j2", "j3"]
    assert [job for job, _ in live.next_page(2_000_000, 2)] == ["j4"]  # the last: start over
    assert [job for job, _ in live.next_page(2_000_000, 2)] == ["j0", "j1"]
    live.drop(["j0", "j1", "j2", "j3"])  # the cursor (2) is now past the end
    assert [job for job, _ in live.next_page(2_000_000, 2)] == ["j4"]
    assert [job for job, _ in live.next_page(9_000_000, 10)] == ["j4", "young"]


def test_one_sweep_per_interval(live: LiveIndex) -> None:
    assert live.claim_sweep("a", hold_ms=60_000)
    assert not live.claim_sweep("b", hold_ms=60_000)
    assert not live.claim_sweep("a", hold_ms=60_000)  # held until the interval ends


def test_touch_moves_listed_jobs_on_and_never_back(
    live: LiveIndex, redis_client: redis.Redis, redis_prefix: str
) -> None:
    listed(redis_client, redis_prefix, {"a": 1000.0, "b": 3000.0})
    live.touch(["a", "b", "ended"], at_s=2000.0)
    assert live.score_s("a") == 2000.0
    assert live.score_s("b") == 3000.0
    assert live.score_s("ended") is None  # not listed again
    live.touch([], at_s=5000.0)
    live.drop([])


def test_read_gives_what_a_sweep_needs(store: JobStore) -> None:
    record, _ = store.create(JobRecord(request=REQUEST))
    assert store.begin_submit(record.job_id, "acct")
    assert store.attach_task(record.job_id, "t-1", "r-1")
    assert store.swap_poll_token(record.job_id, None, "tok")
    [(job_id, score_s)] = store.live.next_page(before_ms=1e15, size=10)
    view, missing = store.live.read([job_id, "0" * 32], [score_s, 1.0])
    stored = store.get(record.job_id)
    assert stored is not None and view is not None and missing is None
    assert view.job_id == record.job_id and view.state is JobState.PENDING
    assert view.changed_at == score_s
    assert view.created_at == pytest.approx(record.created_at)
    assert view.updated_at == stored.updated_at and view.intent_at == stored.intent_at
    assert (view.task_id, view.poll_token) == ("t-1", "tok")
    assert view.pending_at == stored.timestamps[JobState.PENDING]
    assert view.storing_at is None
    assert store.live.read([], []) == []


def test_an_unreadable_record_reads_as_gone_and_the_rest_of_the_page_is_read(
    store: JobStore, redis_client: redis.Redis, redis_prefix: str, caplog: pytest.LogCaptureFixture
) -> None:
    bad_state, bad_stamp, good = (store.create(JobRecord(request=REQUEST))[0] for _ in range(3))
    redis_client.hset(f"{redis_prefix}job:{bad_state.job_id}", "state", "HALF-DONE")
    redis_client.hset(f"{redis_prefix}job:{bad_stamp.job_id}", "updated_at", "soon")
    ids = [bad_state.job_id, bad_stamp.job_id, good.job_id]
    views = store.live.read(ids, [1.0, 1.0, 1.0])
    assert views[:2] == [None, None]
    assert views[2] is not None and views[2].job_id == good.job_id
    assert f"job {bad_state.job_id}: its record cannot be read" in caplog.text


def test_backfill_lists_the_live_jobs_the_index_lacks_and_marks_it_complete(
    store: JobStore, redis_client: redis.Redis, redis_prefix: str
) -> None:
    """Jobs created before the index existed (an upgrade) are listed once, by their last
    change; listed, ended, vanished and unreadable records are left as they are."""
    old_waiting, old_running, listed_job, ended, vanished, corrupt = (
        store.create(JobRecord(request=REQUEST, batch=batch))[0].job_id
        for batch in ("a", "a", "a", "b", "b", "b")
    )
    assert store.transition(old_running, JobState.RUNNING)
    assert store.transition(ended, JobState.SUCCEEDED)
    redis_client.delete(f"{redis_prefix}job:{vanished}")
    redis_client.hset(f"{redis_prefix}job:{corrupt}", "updated_at", "not a time")
    key = f"{redis_prefix}live"
    redis_client.zrem(key, old_waiting, old_running, corrupt)  # as before the upgrade
    listed_score = redis_client.zscore(key, listed_job)
    assert not store.live.is_complete()
    assert store.backfill_live() == 2
    updated = float(redis_client.hget(f"{redis_prefix}job:{old_running}", "updated_at"))
    assert redis_client.zscore(key, old_running) == pytest.approx(updated * 1000)
    assert redis_client.zscore(key, old_waiting) is not None
    assert redis_client.zscore(key, listed_job) == listed_score
    assert redis_client.zscore(key, ended) is None
    assert redis_client.zscore(key, corrupt) is None
    assert store.live.is_complete()
    assert store.backfill_live() == 0  # idempotent
