"""workers.contract.live: the index of live jobs, walked a page at a time, against real Redis."""

from __future__ import annotations

import time

import pytest
import redis

from workers.contract import EditRequest, JobRecord, JobState, JobStore
from workers.contract.live import LiveIndex, LiveJob, Unreadable

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


def test_an_unreadable_record_is_told_apart_and_the_rest_of_the_page_is_read(
    store: JobStore, redis_client: redis.Redis, redis_prefix: str
) -> None:
    bad_state, bad_stamp, endless, good = (
        store.create(JobRecord(request=REQUEST))[0] for _ in range(4)
    )
    redis_client.hset(f"{redis_prefix}job:{bad_state.job_id}", "state", "HALF-DONE")
    redis_client.hset(f"{redis_prefix}job:{bad_stamp.job_id}", "updated_at", "soon")
    redis_client.hset(f"{redis_prefix}job:{endless.job_id}", "intent_at", "nan")
    ids = [bad_state.job_id, bad_stamp.job_id, endless.job_id, good.job_id]
    views = store.live.read(ids, [1.0] * 4)
    assert [type(view) for view in views[:3]] == [Unreadable] * 3
    assert [view.job_id for view in views[:3]] == ids[:3]  # type: ignore[union-attr]
    assert "HALF-DONE" in views[0].reason  # type: ignore[union-attr]
    assert isinstance(views[3], LiveJob) and views[3].job_id == good.job_id


# --- the backfill ---------------------------------------------------------------------------


def unlist(client: redis.Redis, prefix: str, *job_ids: str) -> None:
    """Take jobs out of the index, as if an older producer had written them."""
    client.zrem(f"{prefix}live", *job_ids)


def test_a_backfill_walk_lists_the_live_jobs_the_index_lacks_a_budget_at_a_time(
    store: JobStore, redis_client: redis.Redis, redis_prefix: str
) -> None:
    """Listed, ended, vanished and unreadable records are left as they are; the walk goes on
    where the last step stopped, and the next one starts ``every_s`` after it began."""
    old_waiting, old_running, listed_job, ended, vanished, corrupt = (
        store.create(JobRecord(request=REQUEST, batch=batch))[0].job_id
        for batch in ("a", "a", "a", "b", "b", "b")
    )
    assert store.transition(old_running, JobState.RUNNING)
    assert store.transition(ended, JobState.SUCCEEDED)
    redis_client.delete(f"{redis_prefix}job:{vanished}")
    redis_client.hset(f"{redis_prefix}job:{corrupt}", "updated_at", "inf")
    unlist(redis_client, redis_prefix, old_waiting, old_running, corrupt)
    key = f"{redis_prefix}live"
    listed_score = redis_client.zscore(key, listed_job)
    now_s = time.time()
    assert store.backfill.step(now_s, budget=2, every_s=3600) == 2  # batch a's first two
    assert redis_client.exists(f"{redis_prefix}live:backfill")
    assert store.backfill.step(now_s, budget=2, every_s=3600) == 0  # a's last, b's first
    assert store.backfill.step(now_s, budget=2, every_s=3600) == 0  # b's last two
    assert store.backfill.step(now_s, budget=2, every_s=3600) == 0  # nothing left: done
    assert not redis_client.exists(f"{redis_prefix}live:backfill")
    updated = float(redis_client.hget(f"{redis_prefix}job:{old_running}", "updated_at"))
    assert redis_client.zscore(key, old_running) == pytest.approx(updated * 1000)
    assert redis_client.zscore(key, old_waiting) is not None
    assert redis_client.zscore(key, listed_job) == listed_score
    assert redis_client.zscore(key, ended) is None
    assert redis_client.zscore(key, corrupt) is None

    late = store.create(JobRecord(request=REQUEST, batch="c"))[0].job_id  # an old producer's
    unlist(redis_client, redis_prefix, late)
    assert store.backfill.step(now_s + 60, budget=10, every_s=3600) == 0  # not yet
    assert store.backfill.step(now_s + 3600, budget=10, every_s=3600) == 1
    assert redis_client.zscore(key, late) is not None


def test_a_later_walk_reads_only_the_batches_active_since_the_last_one(
    store: JobStore, redis_client: redis.Redis, redis_prefix: str
) -> None:
    quiet = store.create(JobRecord(request=REQUEST, batch="quiet"))[0].job_id
    now_s = time.time()
    assert store.backfill.step(now_s, budget=100, every_s=60) == 0  # the first walk: all
    redis_client.zadd(f"{redis_prefix}batches", {"quiet": now_s - 3 * 3600})  # long inactive
    unlist(redis_client, redis_prefix, quiet)
    assert store.backfill.step(now_s + 60, budget=100, every_s=60) == 0
    assert redis_client.zscore(f"{redis_prefix}live", quiet) is None
