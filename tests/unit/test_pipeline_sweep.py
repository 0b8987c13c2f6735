"""workers.pipeline.sweep: stuck jobs are found through the live index and driven on, or failed.

The job store, the limiter and the index are real (Redis); the upstream and the scheduler are
fakes. A job is made to look old by moving every time stamp of its record, and its score in the
index, back (:func:`age`), since the store stamps with the Redis clock.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Callable

import pytest
import redis

from config import Settings, SweeperSettings
from config.celery import longest_countdown_s, reconcile_after_s, submit_settle_s
from tests.unit.pipeline_fakes import admit, make_runtime, new_job, page, summary, unit_settings
from workers.contract import JobRecord, JobState
from workers.contract.jobstore import ORPHAN_SUSPECTS
from workers.contract.live import LiveJob
from workers.contract.names import TASK_POLL, TASK_STORE, TASK_SUBMIT
from workers.limits import Admitted
from workers.pipeline.constants import STUCK, SUBMIT_OUTCOME_UNKNOWN
from workers.pipeline.poll import poll
from workers.pipeline.submit import submit
from workers.pipeline.sweep import SWEEP_STAT, Action, Sweeper, Thresholds, decide
from workers.runtime import Runtime

MODEL = "wan2.7-image"
HOUR_S = 3600.0

Sweep = Callable[[], Counter[Action] | None]


def sweeper_settings(**fields: float) -> Settings:
    """The unit settings with a sweeper section (defaults unless given)."""
    return unit_settings().model_copy(update={"sweeper": SweeperSettings(**fields)})


@pytest.fixture
def rt(redis_client: redis.Redis, redis_prefix: str) -> Runtime:
    return make_runtime(redis_client, redis_prefix, sweeper_settings())


@pytest.fixture
def thresholds(rt: Runtime) -> Thresholds:
    return Thresholds.of(rt.settings)


@pytest.fixture
def sweep(rt: Runtime, redis_client: redis.Redis, redis_prefix: str) -> Sweep:
    """One sweep now, as when this process's turn comes (the interval's lock is let go)."""
    sweeper = Sweeper(rt)

    def run() -> Counter[Action] | None:
        redis_client.delete(f"{redis_prefix}live:sweeping")
        rt.clock.now = time.time()  # type: ignore[attr-defined]
        return sweeper.sweep()

    return run


def age(client: redis.Redis, prefix: str, job_id: str, seconds: float) -> None:
    """Make a job look ``seconds`` older: every time of its record, its index score and a
    sweep's finding that it was unplaced."""
    key = f"{prefix}job:{job_id}"
    for field, value in client.hgetall(key).items():
        if field.startswith("ts:") or field in ("created_at", "updated_at", "intent_at"):
            client.hset(key, field, repr(float(value) - seconds))
    for index, unit in ((f"{prefix}live", 1000), (f"{prefix}live:unplaced", 1)):
        score = client.zscore(index, job_id)
        if score is not None:
            client.zadd(index, {job_id: score - seconds * unit})


def stored(rt: Runtime, job: JobRecord) -> JobRecord:
    record = rt.store.get(job.job_id)
    assert record is not None
    return record


def counted(rt: Runtime, action: Action) -> int:
    return rt.store.stat(SWEEP_STAT.format(action=action.value))


def pending_job(rt: Runtime) -> tuple[JobRecord, str]:
    """A job PENDING upstream with its slot, task and poll token; (job, account)."""
    job = new_job(rt)
    account = admit(rt, job)
    rt.limits.admission.started(job.job_id)
    assert rt.store.begin_submit(job.job_id, account)
    assert rt.store.attach_task(job.job_id, f"task-{job.job_id}", None)
    assert rt.store.swap_poll_token(job.job_id, None, "tok0")
    return stored(rt, job), account


def interrupted_submit(rt: Runtime) -> JobRecord:
    """A job whose submit recorded its intent, then vanished (no task, no message)."""
    job = new_job(rt)
    account = admit(rt, job)
    rt.limits.admission.started(job.job_id)
    rt.intents.open(account, MODEL, job.job_id)
    assert rt.store.begin_submit(job.job_id, account)
    return stored(rt, job)


# --- the rule of each state ---------------------------------------------------------------


def test_moving_jobs_are_left_alone(
    rt: Runtime, sweep: Sweep, redis_client: redis.Redis, redis_prefix: str, thresholds: Thresholds
) -> None:
    """Past the grace, but each where it should be: waiting, admitted, polled, storing."""
    polled, _ = pending_job(rt)
    storing, _ = pending_job(rt)
    admitted = new_job(rt)
    admit(rt, admitted)
    waiting = new_job(rt)
    assert rt.limits.admission.park(waiting.job_id, MODEL, waiting.priority, waiting.tenant)
    assert rt.store.transition(storing.job_id, JobState.STORING, result_urls=["https://r/0"])
    quiet_s = thresholds.waiting_grace_s + 10
    assert quiet_s < thresholds.poll_silence_s
    for job in (waiting, admitted, polled, storing):
        age(redis_client, redis_prefix, job.job_id, quiet_s)
    assert sweep() == Counter()
    assert rt.scheduler.sent == []  # type: ignore[attr-defined]
    assert rt.limits.admission.waiting() == {MODEL: 1}
    assert all(counted(rt, action) == 0 for action in Action)


def test_a_lost_waiting_job_is_parked_again_first_in_line(
    rt: Runtime, sweep: Sweep, redis_client: redis.Redis, redis_prefix: str, thresholds: Thresholds
) -> None:
    """Its producer created the record and died before parking it."""
    lost = new_job(rt)
    later = new_job(rt)
    assert rt.limits.admission.park(later.job_id, MODEL, later.priority, later.tenant)
    age(redis_client, redis_prefix, lost.job_id, thresholds.waiting_grace_s - 10)
    assert sweep() == Counter()  # its producer may still be parking it
    age(redis_client, redis_prefix, lost.job_id, 20)
    assert sweep() == Counter()  # found unplaced once: a submit may be between two steps
    assert rt.store.live.unplaced_since([lost.job_id]) != [None]
    age(redis_client, redis_prefix, lost.job_id, thresholds.waiting_grace_s + 1)
    assert sweep() == Counter({Action.PARK: 1})  # found so again, a margin later
    assert counted(rt, Action.PARK) == 1
    assert rt.store.live.unplaced_since([lost.job_id]) == [None]
    assert rt.limits.admission.waiting() == {MODEL: 2}
    admitted = rt.limits.admission.admit(MODEL)  # first in its tenant's line: it waited
    assert isinstance(admitted, Admitted) and admitted.job_id == lost.job_id
    assert sweep() == Counter()  # admitted now: placed
    assert stored(rt, lost).state is JobState.QUEUED


def test_a_handed_back_job_that_lost_its_place_is_parked_again(
    rt: Runtime, sweep: Sweep, redis_client: redis.Redis, redis_prefix: str, thresholds: Thresholds
) -> None:
    """A 429 cleared its intent, then the worker died before parking it again."""
    job = interrupted_submit(rt)
    assert rt.store.clear_intent(job.job_id)
    for found in (Counter(), Counter({Action.PARK: 1})):
        age(redis_client, redis_prefix, job.job_id, thresholds.waiting_grace_s + 1)
        assert sweep() == found
    assert rt.limits.admission.waiting() == {MODEL: 1}
    assert stored(rt, job).state is JobState.SUBMITTING


def test_a_submit_between_its_admission_and_its_intent_is_not_parked_again(
    rt: Runtime, sweep: Sweep, redis_client: redis.Redis, redis_prefix: str, thresholds: Thresholds
) -> None:
    """The submit took it from the admitted jobs; the sweep looks before its intent lands."""
    job = new_job(rt)
    account = admit(rt, job)
    rt.limits.admission.started(job.job_id)
    age(redis_client, redis_prefix, job.job_id, thresholds.waiting_grace_s + 1)
    assert sweep() == Counter()
    assert rt.store.begin_submit(job.job_id, account)
    assert rt.store.clear_intent(job.job_id)  # a 429 hands it back: it waits again...
    assert rt.limits.admission.park(job.job_id, MODEL, job.priority, job.tenant)
    assert rt.limits.admission.admit(MODEL) is not None
    rt.limits.admission.started(job.job_id)  # ...and the sweep looks in the same instant
    age(redis_client, redis_prefix, job.job_id, thresholds.waiting_grace_s + 1)
    assert sweep() == Counter()  # the first finding was before its last change: void
    assert rt.limits.admission.waiting() == {}
    assert counted(rt, Action.PARK) == 0


def test_an_interrupted_submit_is_reconciled_never_resubmitted(
    rt: Runtime, sweep: Sweep, redis_client: redis.Redis, redis_prefix: str, thresholds: Thresholds
) -> None:
    job = interrupted_submit(rt)
    settings = rt.settings
    assert thresholds.reconcile_s == submit_settle_s(settings) + reconcile_after_s(settings) + 120
    age(redis_client, redis_prefix, job.job_id, thresholds.reconcile_s - 10)
    assert sweep() == Counter()  # the submit may still link its task
    age(redis_client, redis_prefix, job.job_id, 20)
    assert sweep() == Counter({Action.RECONCILE: 1})
    assert rt.scheduler.of(TASK_SUBMIT) == [((job.job_id,), 0.0)]  # type: ignore[attr-defined]
    assert sweep() == Counter()  # driven once, then given the time to move
    assert counted(rt, Action.RECONCILE) == 1
    # The message runs the reconcile path: the one task of the window is adopted.
    intent_at = stored(rt, job).intent_at
    assert intent_at is not None
    upstream = rt.upstreams["default"]
    upstream.pages.append(page(summary("task-9", intent_at + 1)))  # type: ignore[attr-defined]
    submit(rt, job.job_id)
    record = stored(rt, job)
    assert (record.state, record.task_id) == (JobState.PENDING, "task-9")
    assert upstream.count("submit") == 0  # type: ignore[attr-defined]


def test_a_silent_poll_chain_is_replaced_and_its_late_messages_dropped(
    rt: Runtime, sweep: Sweep, redis_client: redis.Redis, redis_prefix: str, thresholds: Thresholds
) -> None:
    job, _ = pending_job(rt)
    assert thresholds.poll_silence_s == longest_countdown_s(rt.settings) + 120
    age(redis_client, redis_prefix, job.job_id, thresholds.poll_silence_s - 10)
    assert sweep() == Counter()  # its next poll may be on its way
    age(redis_client, redis_prefix, job.job_id, 20)
    assert sweep() == Counter({Action.POLL: 1})
    [((job_id, token), countdown_s)] = rt.scheduler.of(TASK_POLL)  # type: ignore[attr-defined]
    assert (job_id, countdown_s) == (job.job_id, 0.0)
    assert stored(rt, job).poll_token == token
    assert sweep() == Counter()  # the new chain is given its time
    poll(rt, job.job_id, "tok0")  # the silent chain's message, late: dropped
    assert rt.upstreams["default"].count("fetch") == 0  # type: ignore[attr-defined]
    assert counted(rt, Action.POLL) == 1


def test_a_long_task_that_is_polled_is_left_alone(
    rt: Runtime, sweep: Sweep, redis_client: redis.Redis, redis_prefix: str
) -> None:
    """Its state is old, but each poll's token swap shows the chain is alive."""
    job, _ = pending_job(rt)
    assert rt.store.transition(job.job_id, JobState.RUNNING)
    age(redis_client, redis_prefix, job.job_id, 3 * HOUR_S)
    assert rt.store.swap_poll_token(job.job_id, "tok0", "tok1")
    assert sweep() == Counter()


def test_a_silent_store_is_sent_again(
    rt: Runtime, sweep: Sweep, redis_client: redis.Redis, redis_prefix: str, thresholds: Thresholds
) -> None:
    job, _ = pending_job(rt)
    assert rt.store.transition(job.job_id, JobState.STORING, result_urls=["https://r/0"])
    age(redis_client, redis_prefix, job.job_id, thresholds.store_stall_s - 10)
    assert sweep() == Counter()  # a store retrying through an outage
    age(redis_client, redis_prefix, job.job_id, 20)
    assert sweep() == Counter({Action.STORE: 1})
    assert rt.scheduler.of(TASK_STORE) == [((job.job_id,), 0.0)]  # type: ignore[attr-defined]
    assert counted(rt, Action.STORE) == 1


# --- deadlines ------------------------------------------------------------------------------


def test_jobs_past_their_deadline_fail_with_a_clear_code(
    rt: Runtime, sweep: Sweep, redis_client: redis.Redis, redis_prefix: str
) -> None:
    running, account = pending_job(rt)
    assert rt.store.transition(running.job_id, JobState.RUNNING)
    submitting = interrupted_submit(rt)
    waited = new_job(rt)
    assert rt.limits.admission.park(waited.job_id, MODEL, waited.priority, waited.tenant)
    backlog = new_job(rt)  # a day in a big backlog is not stuck
    assert rt.limits.admission.park(backlog.job_id, MODEL, backlog.priority, backlog.tenant)
    age(redis_client, redis_prefix, waited.job_id, 72 * HOUR_S + 60)
    age(redis_client, redis_prefix, backlog.job_id, 30 * HOUR_S)
    age(redis_client, redis_prefix, running.job_id, 25 * HOUR_S + 60)
    age(redis_client, redis_prefix, submitting.job_id, 25 * HOUR_S + 60)
    assert set(rt.limits.leases.holders(account, MODEL)) == {running.job_id, submitting.job_id}
    assert sweep() == Counter({Action.FAIL: 3})
    for job, since in ((waited, "its creation"), (running, "its task was created")):
        record = stored(rt, job)
        assert (record.state, record.error_code) == (JobState.FAILED, STUCK)
        assert record.error_message is not None and since in record.error_message
        assert "past the sweeper's deadline" in record.error_message
    record = stored(rt, submitting)
    assert (record.state, record.error_code) == (JobState.FAILED, SUBMIT_OUTCOME_UNKNOWN)
    assert rt.store.stat(ORPHAN_SUSPECTS) == 1  # it may have created a task nobody follows
    assert stored(rt, backlog).state is JobState.QUEUED
    assert rt.limits.leases.holders(account, MODEL) == []  # their slots are given back
    assert rt.store.live.size() == 1
    assert counted(rt, Action.FAIL) == 3


def test_a_submit_that_begins_during_the_sweep_is_not_failed_under_its_post(
    rt: Runtime,
    sweep: Sweep,
    redis_client: redis.Redis,
    redis_prefix: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    handed_back = new_job(rt)  # SUBMITTING with no intent: waits again, past its deadline
    account = admit(rt, handed_back)
    assert rt.store.begin_submit(handed_back.job_id, account)
    assert rt.store.clear_intent(handed_back.job_id)
    retried = interrupted_submit(rt)  # read with one intent; a new attempt replaces it
    age(redis_client, redis_prefix, handed_back.job_id, 72 * HOUR_S + 60)
    age(redis_client, redis_prefix, retried.job_id, 25 * HOUR_S + 60)
    transition = rt.store.transition

    def submits_begin_just_before(job_id: str, to: JobState, **kwargs: object) -> bool:
        if to is JobState.FAILED:  # the last instant before the sweeper's move
            if job_id == retried.job_id:  # its attempt ends; a new one begins
                assert rt.store.clear_intent(job_id)
            assert rt.store.begin_submit(job_id, account)
        return transition(job_id, to, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(rt.store, "transition", submits_begin_just_before)
    assert sweep() == Counter()
    for job in (handed_back, retried):
        record = stored(rt, job)
        assert (record.state, record.error_code) == (JobState.SUBMITTING, None)
        assert record.intent_at is not None
    assert rt.store.stat(ORPHAN_SUSPECTS) == 0


def test_ended_or_vanished_jobs_leave_the_index(
    rt: Runtime, sweep: Sweep, redis_client: redis.Redis, redis_prefix: str
) -> None:
    ended = new_job(rt)
    assert rt.store.transition(ended.job_id, JobState.CANCELED)
    old_ms = (time.time() - HOUR_S) * 1000
    redis_client.zadd(f"{redis_prefix}live", {ended.job_id: old_ms, "f" * 32: old_ms})
    assert sweep() == Counter({Action.DROP: 2})
    assert rt.store.live.size() == 0
    assert counted(rt, Action.DROP) == 2


# --- the sweep itself -----------------------------------------------------------------------


def test_one_process_sweeps_per_interval(rt: Runtime) -> None:
    assert Sweeper(rt).sweep() == Counter()
    assert Sweeper(rt).sweep() is None  # another process's turn has been taken


def test_a_sweep_takes_one_page_and_the_next_one_goes_on(
    redis_client: redis.Redis, redis_prefix: str
) -> None:
    rt = make_runtime(redis_client, redis_prefix, sweeper_settings(batch_size=2))
    interrupted = [interrupted_submit(rt) for _ in range(3)]
    for job in interrupted:
        age(redis_client, redis_prefix, job.job_id, HOUR_S)
    sweeper = Sweeper(rt)
    done = []
    for _ in range(2):
        redis_client.delete(f"{redis_prefix}live:sweeping")
        rt.clock.now = time.time()  # type: ignore[attr-defined]
        done.append(sweeper.sweep())
    assert done == [Counter({Action.RECONCILE: 2}), Counter({Action.RECONCILE: 1})]
    assert len(rt.scheduler.of(TASK_SUBMIT)) == 3  # type: ignore[attr-defined]


def test_decide_waits_for_each_state_to_overrun(thresholds: Thresholds) -> None:
    now = 1_000_000.0
    fresh = LiveJob("j", JobState.RUNNING, changed_at=now - 60, created_at=now - 60)
    assert decide(fresh, now, thresholds) is None
    silent = LiveJob(
        "j",
        JobState.RUNNING,
        changed_at=now - 600,
        created_at=now - 700,
        updated_at=now - thresholds.poll_silence_s - 1,
        pending_at=now - 600,
    )
    assert decide(silent, now, thresholds) is Action.POLL
    assert decide(None, now, thresholds) is Action.DROP
    done = LiveJob("j", JobState.SUCCEEDED, changed_at=now, created_at=now)
    assert decide(done, now, thresholds) is Action.DROP


def test_a_task_attached_by_a_submit_that_died_before_its_first_poll_is_polled(
    rt: Runtime, sweep: Sweep, redis_client: redis.Redis, redis_prefix: str, thresholds: Thresholds
) -> None:
    job = interrupted_submit(rt)
    assert rt.store.attach_task(job.job_id, "task-attached", None)  # then the worker died
    age(redis_client, redis_prefix, job.job_id, thresholds.poll_silence_s + 10)
    assert sweep() == Counter({Action.POLL: 1})
    [((_, token), _)] = rt.scheduler.of(TASK_POLL)  # type: ignore[attr-defined]
    assert stored(rt, job).poll_token == token


def test_the_first_sweep_finds_stuck_jobs_created_before_the_live_index(
    rt: Runtime, sweep: Sweep, redis_client: redis.Redis, redis_prefix: str
) -> None:
    running, _ = pending_job(rt)
    assert rt.store.transition(running.job_id, JobState.RUNNING)
    age(redis_client, redis_prefix, running.job_id, HOUR_S)
    redis_client.zrem(f"{redis_prefix}live", running.job_id)  # as before the upgrade
    assert sweep() == Counter({Action.POLL: 1})
    assert rt.store.live.score_s(running.job_id) is not None


def test_an_unreadable_record_is_counted_logged_and_leaves_the_index(
    rt: Runtime,
    sweep: Sweep,
    redis_client: redis.Redis,
    redis_prefix: str,
    caplog: pytest.LogCaptureFixture,
) -> None:
    bad = new_job(rt)
    redis_client.hset(f"{redis_prefix}job:{bad.job_id}", "state", "HALF-DONE")
    redis_client.zadd(f"{redis_prefix}live:unplaced", {bad.job_id: 1.0})
    age(redis_client, redis_prefix, bad.job_id, HOUR_S)
    assert sweep() == Counter({Action.UNREADABLE: 1})
    assert counted(rt, Action.UNREADABLE) == 1
    assert rt.store.live.score_s(bad.job_id) is None
    assert rt.store.live.unplaced_since([bad.job_id]) == [None]
    assert f"job {bad.job_id}: its record cannot be read" in caplog.text
