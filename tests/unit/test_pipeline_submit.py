"""workers.pipeline.submit with the real job store and limiter, fakes for the rest."""

from __future__ import annotations

import pytest
import redis

from config.accounts import AccountSettings
from tests.unit.limits_fakes import redis_now_ms as redis_now_ms_of
from tests.unit.pipeline_fakes import (
    make_runtime,
    new_job,
    page,
    summary,
    task_result,
    unit_settings,
)
from workers.contract import JobState
from workers.contract.names import TASK_POLL, TASK_STORE, TASK_SUBMIT
from workers.errors import (
    InputInvalid,
    StorageUnavailable,
    SubmitAmbiguous,
    UpstreamRejected,
    UpstreamThrottled,
    UpstreamUnavailable,
)
from workers.limits import Admitted
from workers.pipeline.poll import poll
from workers.pipeline.submit import image_mime, input_resolver, submit
from workers.runtime import Runtime
from workers.upstream import SubmitResult, TaskStatus


@pytest.fixture
def rt(redis_client: redis.Redis, redis_prefix: str) -> Runtime:
    return make_runtime(redis_client, redis_prefix)


def ok(task_id: str = "task-1") -> SubmitResult:
    return SubmitResult(task_id=task_id, request_id=f"req-{task_id}")


MODEL = "wan2.7-image"


def admitted(rt: Runtime, job_id: str) -> str:
    """The job's first submit message parks it; a dispatcher admits it: its account."""
    submit(rt, job_id)
    outcome = rt.limits.admission.admit(MODEL)
    assert isinstance(outcome, Admitted) and outcome.job_id == job_id, outcome
    return outcome.account


def in_flight(rt: Runtime) -> int:
    return rt.limits.leases.in_flight("default", MODEL)


def test_a_queued_job_parks_then_is_submitted_once_admitted_and_polled(rt: Runtime) -> None:
    job = new_job(rt)
    submit(rt, job.job_id)  # no account yet: it waits in the waiting room
    submit(rt, job.job_id)  # a redelivered park message parks nothing more
    assert rt.limits.admission.waiting() == {MODEL: 1}
    parked = rt.store.get(job.job_id)
    assert parked is not None and parked.state is JobState.QUEUED and parked.account is None
    assert rt.upstreams["default"].calls == [] and rt.scheduler.sent == []
    outcome = rt.limits.admission.admit(MODEL)
    assert isinstance(outcome, Admitted)
    assert (outcome.job_id, outcome.account, outcome.lane, outcome.tenant) == (
        job.job_id,
        "default",
        "bulk",
        "default",
    )
    assert in_flight(rt) == 1 and rt.limits.admission.waiting() == {}
    rt.upstreams["default"].submits.append(ok())
    submit(rt, job.job_id, outcome.account)
    stored = rt.store.get(job.job_id)
    assert stored is not None
    assert (stored.state, stored.task_id, stored.request_id, stored.account) == (
        JobState.PENDING,
        "task-1",
        "req-task-1",
        "default",
    )
    assert stored.attempts == 1 and stored.intent_at is not None
    assert JobState.SUBMITTING in stored.timestamps
    [(args, countdown)] = rt.scheduler.of(TASK_POLL)
    # first_poll_delay_s (2 s) after the task was created (no latency observed yet)
    elapsed_s = rt.clock() - stored.timestamps[JobState.PENDING]
    assert args == (job.job_id, stored.poll_token) and countdown == pytest.approx(2.0 - elapsed_s)
    assert rt.store.task_owner("task-1") == job.job_id
    assert in_flight(rt) == 1
    assert rt.limits.admission.stale(0) == []  # started: never dispatched again
    # redelivered (with or without its account): never submitted again, the poll chain is
    # renewed instead
    submit(rt, job.job_id, "default")
    submit(rt, job.job_id)
    assert rt.upstreams["default"].count("submit") == 1
    assert len(rt.scheduler.of(TASK_POLL)) == 3
    assert in_flight(rt) == 1


def test_waiting_for_capacity_parks_without_a_retry_until_a_slot_frees(
    redis_client: redis.Redis, redis_prefix: str
) -> None:
    rt = make_runtime(redis_client, redis_prefix, unit_settings(max_in_flight=1))
    first, second = new_job(rt), new_job(rt)
    rt.upstreams["default"].submits.append(ok())
    submit(rt, first.job_id, admitted(rt, first.job_id))
    submit(rt, second.job_id)
    wait_s = rt.limits.admission.admit(MODEL)  # the one slot is taken
    assert isinstance(wait_s, float) and 0 < wait_s <= rt.settings.limiter.dispatch_interval_s
    assert rt.upstreams["default"].count("submit") == 1
    assert rt.scheduler.of(TASK_SUBMIT) == []  # no countdown message: it waits in Redis
    stored = rt.store.get(second.job_id)
    assert stored is not None and stored.state is JobState.QUEUED and stored.attempts == 0
    assert rt.limits.admission.waiting() == {MODEL: 1}
    # the first job's task ends: its slot goes back and the second is admitted
    rt.upstreams["default"].fetches.append(
        task_result(TaskStatus.FAILED, code="DataInspectionFailed", message="no")
    )
    running = rt.store.get(first.job_id)
    assert running is not None
    poll(rt, first.job_id, running.poll_token or "")
    outcome = rt.limits.admission.admit(MODEL)
    assert isinstance(outcome, Admitted) and outcome.job_id == second.job_id


@pytest.mark.parametrize(
    "error",
    [
        UpstreamUnavailable("ConnectError", "refused"),
        StorageUnavailable("get_object", "down"),
    ],
)
def test_a_clean_failure_parks_again_and_pauses_the_account(rt: Runtime, error: Exception) -> None:
    job = new_job(rt)
    account = admitted(rt, job.job_id)
    rt.upstreams["default"].submits += [error, ok()]
    submit(rt, job.job_id, account)  # no exception: no Celery retry, the waiting room retries
    stored = rt.store.get(job.job_id)
    assert stored is not None and stored.state is JobState.SUBMITTING
    assert stored.intent_at is None and stored.task_id is None and stored.submit_errors == 1
    assert in_flight(rt) == 0  # the slot went back; the next attempt takes a token again
    assert rt.intents.overlapping("default", MODEL, 0, 2e9, exclude="") == []
    assert rt.limits.admission.waiting() == {MODEL: 1}  # parked again, first in line
    state = rt.limits.throttle.state("default", MODEL)
    assert state["errors"] == "1" and int(state["paused"]) > redis_now_ms(rt)
    assert isinstance(rt.limits.admission.admit(MODEL), float)  # paused: not yet
    again = rt.limits.admission.admit(MODEL, now_ms=int(state["paused"]) + 1)
    assert isinstance(again, Admitted) and again.job_id == job.job_id
    submit(rt, job.job_id, again.account)
    retried = rt.store.get(job.job_id)
    assert retried is not None and retried.state is JobState.PENDING and retried.attempts == 2
    assert in_flight(rt) == 1
    assert "errors" not in rt.limits.throttle.state("default", MODEL)  # the run of failures ended


def test_failed_submits_in_a_row_pause_longer_and_end_the_job_after_max_retries(
    rt: Runtime,
) -> None:
    job = new_job(rt)
    max_retries = rt.settings.pipeline.max_retries
    rt.upstreams["default"].submits += [UpstreamUnavailable("ConnectError", "refused")] * (
        max_retries + 1
    )
    submit(rt, job.job_id)
    now_ms = redis_now_ms(rt)
    for _ in range(max_retries + 1):
        outcome = rt.limits.admission.admit(MODEL, now_ms=now_ms)
        assert isinstance(outcome, Admitted), outcome
        submit(rt, job.job_id, outcome.account)
        paused = int(rt.limits.throttle.state("default", MODEL).get("paused", "0"))
        now_ms = max(now_ms, paused) + 1  # past the pause (it grows: see test_limits_throttle)
    stored = rt.store.get(job.job_id)
    assert stored is not None and stored.state is JobState.FAILED
    assert stored.error_code == "ConnectError" and stored.submit_errors == max_retries + 1
    assert "gave up after" in (stored.error_message or "")
    assert in_flight(rt) == 0 and rt.limits.admission.waiting() == {}


def redis_now_ms(rt: Runtime) -> int:
    return redis_now_ms_of(rt.store._redis)


@pytest.mark.parametrize(
    ("code", "retry_after_s"),
    [
        ("Throttling.RateQuota", None),
        ("Throttling.RateQuota", 7.0),
        ("Throttling.AllocationQuota", None),
    ],
)
def test_a_throttled_submit_parks_again_first_without_spending_a_retry(
    rt: Runtime, code: str, retry_after_s: float | None
) -> None:
    job, behind = new_job(rt), new_job(rt)
    account = admitted(rt, job.job_id)
    submit(rt, behind.job_id)  # same tenant, parked while the first was being submitted
    rt.upstreams["default"].submits.append(
        UpstreamThrottled(code, "slow", None, 429, retry_after_s)
    )
    submit(rt, job.job_id, account)  # no exception: Celery's retry budget is untouched
    stored = rt.store.get(job.job_id)
    assert stored is not None and stored.state is JobState.SUBMITTING
    assert stored.intent_at is None and stored.task_id is None
    assert in_flight(rt) == 0  # the slot went back
    assert rt.intents.overlapping("default", MODEL, 0, 2e9, exclude="") == []
    assert rt.scheduler.of(TASK_SUBMIT) == []  # no countdown message
    assert rt.limits.admission.waiting() == {MODEL: 2}
    # the account and model are paused for the whole fleet, and the limit named is cut
    state = rt.limits.throttle.state("default", MODEL)
    if code.endswith("AllocationQuota"):
        assert state["c_cut"] == "1" and "r_cut" not in state
    else:
        assert float(state["r_cut"]) == pytest.approx(1000.0 * rt.settings.limiter.rate_cut)
    pause_s = retry_after_s or rt.settings.limiter.throttle_pause_s
    wait_s = rt.limits.admission.admit(MODEL)
    assert isinstance(wait_s, float) and pause_s - 0.5 < wait_s <= pause_s
    # after the pause the throttled job goes first, ahead of the one parked behind it
    after_ms = int(state["paused"]) + 1
    outcome = rt.limits.admission.admit(MODEL, now_ms=after_ms)
    assert isinstance(outcome, Admitted) and outcome.job_id == job.job_id
    rt.upstreams["default"].submits.append(ok())
    submit(rt, job.job_id, outcome.account)
    retried = rt.store.get(job.job_id)
    assert retried is not None and retried.state is JobState.PENDING and retried.attempts == 2


def test_a_repeated_submit_message_of_a_job_handed_back_after_a_429_posts_nothing(
    rt: Runtime,
) -> None:
    """The same ``submit(job, account)`` message again (redelivered after a worker died before
    its ack, or sent again by the dispatcher's chores as a stale admission) once the first
    delivery was throttled: the job waits in the waiting room and holds no slot, so the
    message must not post it (that submit would be outside every limit, and the job's later
    admission would lease a second slot)."""
    job = new_job(rt)
    account = admitted(rt, job.job_id)
    rt.upstreams["default"].submits += [
        UpstreamThrottled("Throttling.RateQuota", "slow", None, 429, None),
        ok(),
    ]
    submit(rt, job.job_id, account)  # throttled: slot back, parked again first
    assert in_flight(rt) == 0 and rt.limits.admission.waiting() == {MODEL: 1}
    submit(rt, job.job_id, account)  # the same message, delivered again
    assert rt.upstreams["default"].count("submit") == 1
    assert rt.limits.admission.waiting() == {MODEL: 1}
    assert in_flight(rt) == 0


@pytest.mark.parametrize(
    ("error", "code"),
    [
        (UpstreamRejected("InvalidParameter", "size is bad", "r", 400), "InvalidParameter"),
        (InputInvalid("images[0]", "must be reachable"), "InputInvalid"),
    ],
)
def test_a_permanent_failure_ends_the_job(rt: Runtime, error: Exception, code: str) -> None:
    job = new_job(rt)
    account = admitted(rt, job.job_id)
    rt.upstreams["default"].submits.append(error)
    submit(rt, job.job_id, account)
    stored = rt.store.get(job.job_id)
    assert stored is not None and stored.state is JobState.FAILED
    assert stored.error_code == code and stored.error_message
    assert in_flight(rt) == 0
    submit(rt, job.job_id, account)
    submit(rt, job.job_id)
    assert rt.upstreams["default"].count("submit") == 1
    assert rt.limits.admission.waiting() == {}


def test_a_model_no_account_runs_fails_the_job(
    redis_client: redis.Redis, redis_prefix: str
) -> None:
    only_26 = AccountSettings(name="default", models=("wan2.6-image",))
    settings = unit_settings().model_copy(update={"accounts": (only_26,)})
    rt = make_runtime(redis_client, redis_prefix, settings)
    job = new_job(rt)
    submit(rt, job.job_id)
    stored = rt.store.get(job.job_id)
    assert stored is not None and stored.state is JobState.FAILED
    assert stored.error_code == "NoAccount" and MODEL in (stored.error_message or "")
    assert rt.limits.admission.waiting() == {}


def test_an_ambiguous_submit_is_reconciled_never_resubmitted(rt: Runtime) -> None:
    job = new_job(rt)
    account = admitted(rt, job.job_id)
    rt.upstreams["default"].submits.append(SubmitAmbiguous("ReadTimeout", "no answer"))
    submit(rt, job.job_id, account)
    [(args, countdown)] = rt.scheduler.of(TASK_SUBMIT)
    assert args == (job.job_id,) and countdown == 6.0  # settle time + one read timeout
    stored = rt.store.get(job.job_id)
    assert stored is not None and stored.intent_at is not None and stored.account == account
    assert in_flight(rt) == 1  # a task may run upstream
    # too early: comes back at the settle time
    rt.clock.now = stored.intent_at + 1
    submit(rt, job.job_id)
    assert rt.scheduler.of(TASK_SUBMIT)[-1][1] == pytest.approx(5.0)
    assert rt.limits.admission.waiting() == {}  # reconciled, never parked
    # settled: the one unclaimed task of the model around the intent is adopted
    rt.clock.now = stored.intent_at + 7
    rt.upstreams["default"].pages.append(page(summary("t-lost", stored.intent_at + 0.1)))
    submit(rt, job.job_id)
    adopted = rt.store.get(job.job_id)
    assert adopted is not None and adopted.state is JobState.PENDING
    assert adopted.task_id == "t-lost" and adopted.request_id == "req-t-lost"
    assert rt.upstreams["default"].count("submit") == 1


def test_a_redelivered_submit_of_a_storing_job_sends_store(rt: Runtime) -> None:
    job = new_job(rt)
    rt.upstreams["default"].submits.append(ok())
    submit(rt, job.job_id, admitted(rt, job.job_id))
    rt.store.transition(job.job_id, JobState.STORING, result_urls=["https://r/1.png"])
    submit(rt, job.job_id)
    assert rt.scheduler.of(TASK_STORE) == [((job.job_id,), 0.0)]


def test_terminal_and_missing_jobs_are_left_alone(rt: Runtime) -> None:
    job = new_job(rt)
    rt.store.transition(job.job_id, JobState.CANCELED)
    submit(rt, job.job_id)
    submit(rt, "0" * 32)
    assert rt.upstreams["default"].calls == [] and rt.scheduler.sent == []
    assert rt.limits.admission.waiting() == {}


def test_an_admitted_job_that_ended_meanwhile_gives_its_slot_back(rt: Runtime) -> None:
    job = new_job(rt)
    account = admitted(rt, job.job_id)
    rt.store.transition(job.job_id, JobState.CANCELED)  # canceled while its message travels
    submit(rt, job.job_id, account)
    assert rt.upstreams["default"].calls == []
    assert in_flight(rt) == 0 and rt.limits.admission.stale(0) == []


def test_a_job_canceled_while_waiting_gives_its_slot_back(
    rt: Runtime, monkeypatch: pytest.MonkeyPatch
) -> None:
    job = new_job(rt)
    account = admitted(rt, job.job_id)
    loaded = rt.store.get(job.job_id)  # QUEUED when the submit loaded it...
    real_get = rt.store.get
    answers = iter([loaded])
    monkeypatch.setattr(rt.store, "get", lambda jid: next(answers, None) or real_get(jid))
    rt.store.transition(job.job_id, JobState.CANCELED)  # ...canceled before begin_submit
    submit(rt, job.job_id, account)
    assert rt.upstreams["default"].calls == []
    assert in_flight(rt) == 0  # the lease it took is back
    assert rt.intents.overlapping("default", MODEL, 0, 2e9, exclude="") == []


@pytest.mark.parametrize("upstream_cancel", [None, UpstreamRejected("x", "started", "r", 400)])
def test_a_task_whose_job_ended_meanwhile_is_canceled_and_counted(
    rt: Runtime, upstream_cancel: Exception | None
) -> None:
    job = new_job(rt)
    account = admitted(rt, job.job_id)

    def post_while_the_job_ends() -> SubmitResult:
        rt.store.transition(job.job_id, JobState.FAILED)  # e.g. on_failure of a stale message
        return ok("t-late")

    rt.upstreams["default"].submits.append(post_while_the_job_ends)
    rt.upstreams["default"].cancels.append(upstream_cancel)
    submit(rt, job.job_id, account)
    assert ("cancel", "t-late") in rt.upstreams["default"].calls
    assert rt.store.stat("orphan_suspects") == 1
    assert rt.store.task_owner("t-late") == job.job_id  # never adopted by another job
    assert in_flight(rt) == 0
    assert rt.scheduler.of(TASK_POLL) == []


def test_an_attached_task_closes_the_jobs_open_intent(rt: Runtime) -> None:
    job = new_job(rt)
    account = admitted(rt, job.job_id)
    seen: list[list[str]] = []

    def post() -> SubmitResult:
        seen.append(rt.intents.overlapping("default", MODEL, 0, 2e9, exclude=""))
        return ok()

    rt.upstreams["default"].submits.append(post)
    submit(rt, job.job_id, account)
    assert seen == [[job.job_id]]  # open while the POST was in flight
    assert rt.intents.overlapping("default", MODEL, 0, 2e9, exclude="") == []


BUCKET = unit_settings().s3.bucket


def test_s3_inputs_are_presigned_or_inlined(redis_client: redis.Redis, redis_prefix: str) -> None:
    presign = make_runtime(redis_client, redis_prefix)
    ref = f"s3://{BUCKET}/inputs/a.png"
    job = new_job(presign, images=(ref,))
    presign.upstreams["default"].submits.append(ok())
    submit(presign, job.job_id, admitted(presign, job.job_id))
    body = presign.upstreams["default"].calls[0][1]
    image = body["input"]["messages"][0]["content"][1]["image"]
    assert image.startswith(f"https://s3.example/{BUCKET}/inputs/a.png?")

    settings = unit_settings()
    inline_settings = settings.model_copy(
        update={"inputs": settings.inputs.model_copy(update={"s3_mode": "inline"})}
    )
    inline = make_runtime(redis_client, redis_prefix + "i:", inline_settings)
    inline.objects.blobs[(BUCKET, "inputs/a.png")] = b"\x89PNG\r\n\x1a\nrest"
    assert input_resolver(inline)(ref) == "data:image/png;base64,iVBORw0KGgpyZXN0"


def test_s3_inputs_outside_the_inputs_area_are_refused(
    redis_client: redis.Redis, redis_prefix: str
) -> None:
    rt = make_runtime(redis_client, redis_prefix)
    for ref in ("s3://someone-elses-bucket/inputs/a.png", f"s3://{BUCKET}/results/x/0.png"):
        with pytest.raises(InputInvalid):
            input_resolver(rt)(ref)


def test_image_mime() -> None:
    assert image_mime(b"\xff\xd8\xff\xe0", "s") == "image/jpeg"
    assert image_mime(b"RIFF1234WEBPVP8 ", "s") == "image/webp"
    assert image_mime(b"BM....", "s") == "image/bmp"
    with pytest.raises(InputInvalid):
        image_mime(b"GIF89a", "s3://b/k")


def test_a_submit_admitted_too_long_ago_is_admitted_again_not_posted(rt: Runtime) -> None:
    """Its token is too old to spend: posting it now could bunch with younger submits."""
    job = new_job(rt)
    account = admitted(rt, job.job_id)
    key = f"{rt.settings.key_prefix}admitted"
    lag_ms = round(rt.settings.limiter.max_post_lag_s * 1000) + 5_000
    rt.store._redis.zadd(key, {job.job_id: redis_now_ms(rt) - lag_ms})
    submit(rt, job.job_id, account)
    assert rt.upstreams["default"].count("submit") == 0
    assert in_flight(rt) == 0 and rt.limits.admission.waiting() == {MODEL: 1}
    again = rt.limits.admission.admit(MODEL)
    assert isinstance(again, Admitted) and again.job_id == job.job_id
    rt.upstreams["default"].submits.append(ok())
    submit(rt, job.job_id, again.account)  # a fresh admission posts
    stored = rt.store.get(job.job_id)
    assert stored is not None and stored.state is JobState.PENDING
