"""JobStore against a real Redis (database 15, keys under the test's prefix)."""

from __future__ import annotations

import json
import socket
import threading
from collections.abc import Callable
from typing import Any

import pytest
import redis
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pydantic import ValidationError
from redis.backoff import NoBackoff
from redis.retry import Retry

from config import PipelineSettings
from workers.contract import EditRequest, JobRecord, JobState, JobStore
from workers.contract.jobstore import CHUNK, DEFAULT_JOB_TTL_S
from workers.contract.records import STATE_RANK
from workers.contract.states import TERMINAL_STATES
from workers.errors import RedisRejected, RedisUnavailable

REQUEST = EditRequest.model_validate(
    {"model": "wan2.7-image", "prompt": "white background", "images": ["https://x.test/a.png"]}
)


@pytest.fixture
def store(redis_client: redis.Redis, redis_prefix: str) -> JobStore:
    return JobStore(redis_client, redis_prefix, job_ttl_s=600)


def job(**fields: Any) -> JobRecord:
    return JobRecord(request=REQUEST, **fields)


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


def test_poll_token_swap_leaves_one_chain(store: JobStore) -> None:
    """Links holding the current or the previous token may swap (a redelivered previous
    link must be able to resend a lost successor), but each swap supersedes the last: only
    the last swapped token's chain goes on."""
    record, _ = store.create(job())
    assert store.swap_poll_token(record.job_id, None, "a")
    tokens = iter(f"b{i}" for i in range(4))
    lock = threading.Lock()
    winners: list[str] = []

    def swap() -> None:
        with lock:
            new = next(tokens)
        if store.swap_poll_token(record.job_id, "a", new):
            winners.append(new)

    run_together(swap, threads=4)
    stored = store.get(record.job_id)
    assert stored is not None and stored.poll_token in winners and stored.poll_prev == "a"
    for superseded in set(winners) - {stored.poll_token}:
        assert not store.swap_poll_token(record.job_id, superseded, "c")
    assert not store.swap_poll_token(record.job_id, "stale", "c")
    assert store.swap_poll_token(record.job_id, stored.poll_token, "c")


# --- the live index ---------------------------------------------------------------------


def test_the_live_index_follows_each_change_of_state(store: JobStore) -> None:
    record, _ = store.create(job(custom_id="live-1"))
    assert store.live.score_s(record.job_id) == pytest.approx(record.created_at, abs=0.001)
    assert store.create(job(custom_id="live-1"))[1] is False
    assert store.live.size() == 1
    assert store.begin_submit(record.job_id, "acct")
    submitting = store.get(record.job_id)
    assert submitting is not None
    entered = submitting.timestamps[JobState.SUBMITTING]
    assert store.live.score_s(record.job_id) == pytest.approx(entered, abs=0.001)
    assert store.attach_task(record.job_id, "t-live", None)
    pending = store.get(record.job_id)
    moved = store.live.score_s(record.job_id)
    assert pending is not None and moved is not None
    assert moved == pytest.approx(pending.timestamps[JobState.PENDING], abs=0.001)
    # the hot path changes fields only: the index is left alone
    assert store.swap_poll_token(record.job_id, None, "tok")
    assert store.update(record.job_id, polls=7)
    assert store.transition(record.job_id, JobState.PENDING, request_id="r")  # same state
    assert store.live.score_s(record.job_id) == moved
    assert store.transition(record.job_id, JobState.SUCCEEDED)
    assert store.live.score_s(record.job_id) is None and store.live.size() == 0


def test_every_created_job_is_live_until_it_ends(store: JobStore) -> None:
    created = store.create_many(job(batch="many-live") for _ in range(600))
    assert store.live.size() == 600
    ended = [job_id for job_id, _ in created[:250]]
    for job_id in ended:
        assert store.transition(job_id, JobState.CANCELED)
    assert store.live.size() == 350
    assert all(store.live.score_s(job_id) is None for job_id in ended)


def test_batches_forget_expired_batches(
    store: JobStore, redis_client: redis.Redis, redis_prefix: str
) -> None:
    store.create(job(batch="old"))
    store.create(job(batch="new"))
    redis_client.delete(f"{redis_prefix}batch:old")
    assert store.batches() == ["new"]


# --- reading: states, custom ids, records stored under older rules ---------------------


def test_states_reads_only_the_state_in_order(store: JobStore) -> None:
    ids = [job_id for job_id, _ in store.create_many(job(batch="s") for _ in range(3))]
    assert store.transition(ids[1], JobState.FAILED)
    missing = "0" * 32
    assert store.states([ids[0], missing, ids[1], ids[2]]) == [
        JobState.QUEUED,
        None,
        JobState.FAILED,
        JobState.QUEUED,
    ]
    assert store.states([]) == []
    many = store.states([missing] * (CHUNK + 5) + [ids[1]])  # more than one round trip
    assert len(many) == CHUNK + 6 and many[-1] is JobState.FAILED and not any(many[:-1])
    assert store.counts_by_state("s") == {JobState.QUEUED: 2, JobState.FAILED: 1}


def test_get_by_custom_id(store: JobStore, redis_client: redis.Redis) -> None:
    record, _ = store.create(job(custom_id="sku-7"))
    found = store.get_by_custom_id("sku-7")
    assert found is not None and found.job_id == record.job_id
    assert store.get_by_custom_id("never-used") is None
    redis_client.delete(store.job_key(record.job_id))  # the job expired before its custom id
    assert store.get_by_custom_id("sku-7") is None


def test_records_stored_under_older_rules_still_load(
    store: JobStore, redis_client: redis.Redis
) -> None:
    """Reading never re-runs the per-model rules: a tightened rule cannot strand a job."""
    record, _ = store.create(job())
    key = store.job_key(record.job_id)
    request = json.loads(redis_client.hget(key, "request") or "")
    request.update(n=99, bbox_list=[[[0, 0, 1, 1]]] * 5)
    redis_client.hset(key, "request", json.dumps(request))
    with pytest.raises(ValidationError):
        EditRequest.model_validate(request)

    stored = store.get(record.job_id)
    [again] = store.get_many([record.job_id])
    assert stored is not None and stored == again
    assert stored.request.n == 99 and stored.request.bbox_list == (((0, 0, 1, 1),),) * 5
    assert store.transition(record.job_id, JobState.SUBMITTING)  # and it still moves on


def test_the_default_ttl_is_the_settings_default() -> None:
    assert PipelineSettings().job_ttl_s == DEFAULT_JOB_TTL_S


# --- terminal records are final --------------------------------------------------------


@pytest.mark.parametrize("terminal", sorted(TERMINAL_STATES))
def test_field_writes_to_a_terminal_record_are_refused(store: JobStore, terminal: JobState) -> None:
    record, _ = store.create(job())
    assert store.swap_poll_token(record.job_id, None, "a")
    assert store.transition(record.job_id, terminal, error_code="Why")
    assert not store.update(record.job_id, error_code="Rewritten", object_keys=["x"])
    assert not store.swap_poll_token(record.job_id, "a", "b")
    stored = store.get(record.job_id)
    assert stored is not None
    assert (stored.error_code, stored.object_keys, stored.poll_token, stored.polls) == (
        "Why",
        (),
        "a",
        1,
    )
    assert store.update(record.job_id, allow_terminal=True, error_message="annotated")
    annotated = store.get(record.job_id)
    assert annotated is not None and annotated.error_message == "annotated"
    assert annotated.state is terminal


def test_results_are_recorded_while_storing_then_the_job_succeeds(store: JobStore) -> None:
    """The pipeline's store step: record each key while STORING, then move to SUCCEEDED."""
    record, _ = store.create(job())
    for state in (JobState.SUBMITTING, JobState.PENDING, JobState.STORING):
        assert store.transition(record.job_id, state)
    assert store.update(record.job_id, object_keys=["k0"], checksums=["c0"])
    assert store.transition(
        record.job_id,
        JobState.SUCCEEDED,
        expect=(JobState.STORING,),
        object_keys=["k0", "k1"],
        checksums=["c0", "c1"],
        result_urls=None,
    )
    assert not store.update(record.job_id, object_keys=["late"])
    stored = store.get(record.job_id)
    assert stored is not None and stored.object_keys == ("k0", "k1")


# --- Redis failures leave as the project's errors --------------------------------------


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_an_unreachable_redis_is_retryable(redis_prefix: str) -> None:
    client = redis.Redis(port=_closed_port(), socket_connect_timeout=1, retry=Retry(NoBackoff(), 0))
    store = JobStore(client, redis_prefix)
    calls: list[Callable[[], object]] = [
        lambda: store.get("a" * 32),
        lambda: store.get_many(["a" * 32]),
        lambda: store.states(["a" * 32]),
        lambda: store.get_by_custom_id("c"),
        lambda: store.create(job()),
        lambda: store.create_many([job()]),
        lambda: store.transition("a" * 32, JobState.FAILED),
        lambda: store.update("a" * 32, polls=1),
        lambda: store.batches(),
        lambda: store.counts_by_state("b"),
        lambda: store.claim_task("t", "a" * 32),
        lambda: store.task_owners(["t"]),
        lambda: store.incr_stat("n"),
    ]
    try:
        for call in calls:
            with pytest.raises(RedisUnavailable) as caught:
                call()
            assert isinstance(caught.value.__cause__, redis.exceptions.ConnectionError)
            assert json.loads(json.dumps(caught.value.args)) == list(caught.value.args)
    finally:
        client.close()


def test_a_refused_command_is_permanent(store: JobStore, redis_client: redis.Redis) -> None:
    redis_client.set(store.job_key("b" * 32), "not a hash")
    with pytest.raises(RedisRejected) as caught:
        store.get("b" * 32)
    assert isinstance(caught.value.__cause__, redis.exceptions.ResponseError)
    assert caught.value.operation == "get" and "WRONGTYPE" in caught.value.message
    redis_client.hset(store.job_key("c" * 32), "batch", "b")  # a record without a state
    with pytest.raises(RedisRejected, match="transition: ResponseError"):
        store.transition("c" * 32, JobState.FAILED)


def test_bad_values_are_still_value_errors(store: JobStore) -> None:
    with pytest.raises(ValueError, match="cannot be set"):
        store.update("a" * 32, state="FAILED")


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


def test_a_transition_can_match_a_stamp_as_a_number_and_a_field_as_absent(
    store: JobStore,
) -> None:
    job_id = store.create(job())[0].job_id
    assert store.begin_submit(job_id)
    record = store.get(job_id)
    assert record is not None and record.intent_at is not None
    for off_by_s in (-1e-6, 1e-6):  # the stamp's own resolution
        stale = record.intent_at + off_by_s
        assert not store.transition(job_id, JobState.FAILED, match={"intent_at": stale})
    assert not store.transition(job_id, JobState.FAILED, match={"intent_at": None})
    assert not store.transition(job_id, JobState.FAILED, match={"task_id": "t-1"})
    assert store.transition(
        job_id, JobState.FAILED, match={"intent_at": record.intent_at, "task_id": None}
    )
