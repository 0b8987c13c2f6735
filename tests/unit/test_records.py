"""JobRecord and JobStore against a real Redis (database 15, keys under the test's prefix)."""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

import pytest
import redis
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from workers.contract import EditRequest, JobRecord, JobState, JobStore, JobUsage
from workers.contract.records import STATE_RANK, from_hash, to_hash
from workers.contract.states import TERMINAL_STATES

REQUEST = EditRequest.model_validate(
    {"model": "wan2.7-image", "prompt": "white background", "images": ["https://x.test/a.png"]}
)
ORDER = [JobState.QUEUED, JobState.SUBMITTING, JobState.PENDING, JobState.RUNNING]


@pytest.fixture
def store(redis_client: redis.Redis, redis_prefix: str) -> JobStore:
    return JobStore(redis_client, redis_prefix, job_ttl_s=600)


def job(**fields: Any) -> JobRecord:
    return JobRecord(request=REQUEST, **fields)


# --- the record -----------------------------------------------------------------------


def test_record_defaults_and_round_trip_through_a_hash() -> None:
    record = job(
        custom_id="sku-1",
        batch="spring",
        usage=JobUsage(image_count=2, size="1024*1024", total_tokens=10),
        result_urls=("https://r/1.png", "https://r/2.png"),
        timestamps={JobState.QUEUED: 1.5},
    )
    assert len(record.job_id) == 32 and record.state is JobState.QUEUED
    assert from_hash(to_hash(record)) == record
    encoded = {key.encode(): value.encode() for key, value in to_hash(record).items()}
    assert from_hash(encoded) == record


def test_record_refuses_local_sources_and_bad_names() -> None:
    local = REQUEST.model_copy(update={"images": ("/tmp/a.png",)})
    with pytest.raises(ValidationError, match="stage local files"):
        JobRecord(request=local)
    s3 = REQUEST.model_copy(update={"images": ("s3://bucket/in/a.png",)})
    assert JobRecord(request=s3).request.images == ("s3://bucket/in/a.png",)
    with pytest.raises(ValidationError):
        job(custom_id="has space")
    with pytest.raises(ValidationError):
        job(job_id="not-hex")


def test_record_json_is_json_safe() -> None:
    record = job(timestamps={JobState.QUEUED: 1.0})
    assert JobRecord.model_validate_json(record.model_dump_json()) == record


# --- create -----------------------------------------------------------------------------


def test_create_is_idempotent_on_custom_id(store: JobStore) -> None:
    first, created = store.create(job(custom_id="sku-1", batch="b"))
    assert created
    again, created_again = store.create(job(custom_id="sku-1", batch="b"))
    assert not created_again and again.job_id == first.job_id
    stored = store.get(first.job_id)
    assert stored is not None and stored.state is JobState.QUEUED
    assert JobState.QUEUED in stored.timestamps and stored.updated_at == stored.created_at
    assert store.batch_job_ids("b") == [first.job_id]
    assert store.batches() == ["b"]


def test_create_refuses_a_record_that_is_not_queued(store: JobStore) -> None:
    with pytest.raises(ValueError, match="QUEUED"):
        store.create(job(state=JobState.RUNNING))


def test_create_many_pipelined_reports_existing_ids(store: JobStore) -> None:
    existing, _ = store.create(job(custom_id="dup"))
    records = [job(custom_id=f"c{i}", batch="many") for i in range(2500)]
    records.append(job(custom_id="dup", batch="many"))
    out = store.create_many(records)
    assert len(out) == 2501
    assert all(created for _, created in out[:2500])
    assert out[-1] == (existing.job_id, False)
    assert len(store.batch_job_ids("many")) == 2500
    assert store.counts_by_state("many") == {JobState.QUEUED: 2500}
    fetched = store.get_many([out[0][0], "0" * 32, out[1][0]])
    assert fetched[1] is None and fetched[0] is not None and fetched[2] is not None


def test_concurrent_creates_of_one_custom_id_make_one_job(store: JobStore) -> None:
    results: list[tuple[JobRecord, bool]] = []
    run_together(lambda: results.append(store.create(job(custom_id="race"))), threads=8)
    assert sum(created for _, created in results) == 1
    assert len({record.job_id for record, _ in results}) == 1


# --- transitions ------------------------------------------------------------------------


def test_transitions_only_move_forward(store: JobStore) -> None:
    record, _ = store.create(job())
    assert store.transition(record.job_id, JobState.SUBMITTING)
    assert not store.transition(record.job_id, JobState.QUEUED)
    assert store.transition(record.job_id, JobState.RUNNING, task_id="t-1")
    assert not store.transition(record.job_id, JobState.PENDING)
    assert store.transition(record.job_id, JobState.RUNNING, request_id="r-1")  # same state
    stored = store.get(record.job_id)
    assert stored is not None
    assert (stored.state, stored.task_id, stored.request_id) == (JobState.RUNNING, "t-1", "r-1")
    assert set(stored.timestamps) == {JobState.QUEUED, JobState.SUBMITTING, JobState.RUNNING}


@pytest.mark.parametrize("terminal", sorted(TERMINAL_STATES))
def test_nothing_leaves_a_terminal_state(
    store: JobStore, redis_client: redis.Redis, redis_prefix: str, terminal: JobState
) -> None:
    record, _ = store.create(job(custom_id=f"end-{terminal}", batch="ends"))
    assert store.transition(record.job_id, terminal, error_code="Why")
    for state in JobState:
        assert not store.transition(record.job_id, state, error_code="Other")
    stored = store.get(record.job_id)
    assert stored is not None and stored.state is terminal and stored.error_code == "Why"
    # terminal records and their indexes expire
    assert 0 < redis_client.ttl(store.job_key(record.job_id)) <= 600
    assert 0 < redis_client.ttl(f"{redis_prefix}custom:end-{terminal}") <= 600
    assert 0 < redis_client.ttl(f"{redis_prefix}batch:ends") <= 600


def test_expect_and_missing_jobs(store: JobStore) -> None:
    record, _ = store.create(job())
    assert not store.transition(record.job_id, JobState.PENDING, expect=[JobState.SUBMITTING])
    assert store.transition(record.job_id, JobState.PENDING, expect=[JobState.QUEUED])
    assert not store.transition("f" * 32, JobState.PENDING)
    assert not store.update("f" * 32, attempts=3)


def test_update_sets_and_deletes_fields_but_not_the_state(store: JobStore) -> None:
    record, _ = store.create(job())
    assert store.update(record.job_id, object_keys=["a", "b"], checksums=["1", "2"], polls=4)
    assert store.update(record.job_id, polls=None)
    stored = store.get(record.job_id)
    assert stored is not None and stored.object_keys == ("a", "b") and stored.polls == 0
    with pytest.raises(ValueError, match="cannot be set"):
        store.update(record.job_id, state="FAILED")
    with pytest.raises(ValueError, match="cannot be set"):
        store.update(record.job_id, batch="other")
    with pytest.raises(ValidationError):
        store.update(record.job_id, attempts="many")


@settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(moves=st.lists(st.sampled_from(list(JobState)), min_size=1, max_size=12))
def test_state_rank_never_decreases(
    redis_client: redis.Redis, redis_prefix: str, moves: list[JobState]
) -> None:
    store = JobStore(redis_client, redis_prefix, job_ttl_s=60)
    record, _ = store.create(job())
    state = JobState.QUEUED
    for target in moves:
        applied = store.transition(record.job_id, target)
        allowed = state not in TERMINAL_STATES and STATE_RANK[target] >= STATE_RANK[state]
        assert applied == allowed, (state, target)
        if applied:
            state = target
        stored = store.get(record.job_id)
        assert stored is not None and stored.state is state


def test_concurrent_transitions_have_one_winner(store: JobStore) -> None:
    """Two threads race every step; each step has exactly one winner, and a loser never
    regresses the state."""
    for _ in range(20):
        record, _ = store.create(job())
        wins: list[str] = []

        def race(job_id: str = record.job_id, wins: list[str] = wins) -> None:
            if store.transition(job_id, JobState.SUBMITTING, expect=[JobState.QUEUED]):
                wins.append("submit")
            if store.transition(job_id, JobState.SUCCEEDED, expect=[JobState.SUBMITTING]):
                wins.append("done")
            store.transition(job_id, JobState.QUEUED)  # never applies

        run_together(race, threads=2)
        assert wins.count("submit") == 1 and wins.count("done") == 1
        stored = store.get(record.job_id)
        assert stored is not None and stored.state is JobState.SUCCEEDED


# --- submit intents, tasks, poll tokens ------------------------------------------------


def test_begin_submit_is_won_once_until_the_intent_is_cleared(store: JobStore) -> None:
    record, _ = store.create(job())
    wins: list[bool] = []
    run_together(lambda: wins.append(store.begin_submit(record.job_id)), threads=8)
    assert wins.count(True) == 1
    stored = store.get(record.job_id)
    assert stored is not None and stored.state is JobState.SUBMITTING
    assert stored.intent_at is not None and stored.attempts == 1
    assert store.clear_intent(record.job_id)
    cleared = store.get(record.job_id)
    assert cleared is not None and cleared.intent_at is None
    assert cleared.state is JobState.SUBMITTING  # never back to QUEUED
    assert store.begin_submit(record.job_id)
    again = store.get(record.job_id)
    assert again is not None and again.attempts == 2


def test_attach_task_links_the_task_once(store: JobStore) -> None:
    first, _ = store.create(job())
    second, _ = store.create(job())
    for record in (first, second):
        assert store.begin_submit(record.job_id)
    assert store.attach_task(first.job_id, "task-1", "req-1")
    assert not store.attach_task(second.job_id, "task-1", "req-2")  # owned by first
    assert store.task_owner("task-1") == first.job_id
    assert store.task_owners(["task-1", "task-2"]) == [first.job_id, None]
    assert not store.begin_submit(first.job_id)  # it has its task now
    stored = store.get(first.job_id)
    assert stored is not None
    assert (stored.state, stored.task_id, stored.request_id) == (
        JobState.PENDING,
        "task-1",
        "req-1",
    )


def test_poll_token_swap_lets_one_chain_go_on(store: JobStore) -> None:
    record, _ = store.create(job())
    assert store.swap_poll_token(record.job_id, None, "a")
    wins: list[bool] = []
    run_together(lambda: wins.append(store.swap_poll_token(record.job_id, "a", "b")), threads=4)
    assert wins.count(True) == 1
    stored = store.get(record.job_id)
    assert stored is not None and stored.poll_token == "b" and stored.polls == 2


def test_counters(store: JobStore) -> None:
    assert store.stat("orphan_suspects") == 0
    assert store.incr_stat("orphan_suspects") == 1
    assert store.stat("orphan_suspects") == 1


def test_batches_forget_expired_batches(
    store: JobStore, redis_client: redis.Redis, redis_prefix: str
) -> None:
    store.create(job(batch="old"))
    store.create(job(batch="new"))
    redis_client.delete(f"{redis_prefix}batch:old")
    assert store.batches() == ["new"]


def run_together(action: Callable[[], None], threads: int) -> None:
    """Run ``action`` in ``threads`` threads released at once."""
    barrier = threading.Barrier(threads)

    def go() -> None:
        barrier.wait()
        action()

    workers = [threading.Thread(target=go) for _ in range(threads)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
