"""workers.pipeline.submit with the real job store and limiter, fakes for the rest."""

from __future__ import annotations

import pytest
import redis

from tests.unit.pipeline_fakes import make_runtime, new_job, page, summary, unit_settings
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
from workers.pipeline.submit import image_mime, input_resolver, submit
from workers.runtime import Runtime
from workers.upstream import SubmitResult


@pytest.fixture
def rt(redis_client: redis.Redis, redis_prefix: str) -> Runtime:
    return make_runtime(redis_client, redis_prefix)


def ok(task_id: str = "task-1") -> SubmitResult:
    return SubmitResult(task_id=task_id, request_id=f"req-{task_id}")


def test_a_queued_job_is_submitted_once_and_polled(rt: Runtime) -> None:
    job = new_job(rt)
    rt.upstreams["default"].submits.append(ok())
    submit(rt, job.job_id)
    stored = rt.store.get(job.job_id)
    assert stored is not None
    assert (stored.state, stored.task_id, stored.request_id) == (
        JobState.PENDING,
        "task-1",
        "req-task-1",
    )
    assert stored.attempts == 1 and stored.intent_at is not None
    assert JobState.SUBMITTING in stored.timestamps
    [(args, countdown)] = rt.scheduler.of(TASK_POLL)
    assert args == (job.job_id, stored.poll_token) and countdown == 2.0
    assert rt.store.task_owner("task-1") == job.job_id
    assert rt.limiter.in_flight("default", "wan2.7-image") == 1
    # redelivered: never submitted again, the poll chain is renewed instead
    submit(rt, job.job_id)
    assert rt.upstreams["default"].count("submit") == 1
    assert len(rt.scheduler.of(TASK_POLL)) == 2


def test_waiting_for_capacity_reschedules_without_a_retry(
    redis_client: redis.Redis, redis_prefix: str
) -> None:
    rt = make_runtime(redis_client, redis_prefix, unit_settings(max_in_flight=1))
    first, second = new_job(rt), new_job(rt)
    rt.upstreams["default"].submits.append(ok())
    submit(rt, first.job_id)
    submit(rt, second.job_id)
    assert rt.upstreams["default"].count("submit") == 1
    [(args, countdown)] = rt.scheduler.of(TASK_SUBMIT)
    base_s = rt.settings.pipeline.capacity_retry_s
    assert args == (second.job_id, "1") and base_s <= countdown <= 2 * base_s
    stored = rt.store.get(second.job_id)
    assert stored is not None and stored.state is JobState.QUEUED and stored.attempts == 0


def test_waits_for_capacity_back_off_with_jitter_up_to_the_bound(
    redis_client: redis.Redis, redis_prefix: str
) -> None:
    rt = make_runtime(
        redis_client, redis_prefix, unit_settings(max_in_flight=1, capacity_retry_max_s=6.0)
    )
    first, second = new_job(rt), new_job(rt)
    rt.upstreams["default"].submits.append(ok())
    submit(rt, first.job_id)
    for waits in range(8):
        for _ in range(5):
            submit(rt, second.job_id, waits=waits)
    sent = rt.scheduler.of(TASK_SUBMIT)
    by_waits = [[countdown for _, countdown in sent[i * 5 : i * 5 + 5]] for i in range(8)]
    assert all(args == (second.job_id, str(i // 5 + 1)) for i, (args, _) in enumerate(sent))
    for waits, countdowns in enumerate(by_waits):
        assert all(1.0 <= c <= min(6.0, 2.0 ** (waits + 1)) for c in countdowns)
    assert len(set(by_waits[3])) > 1  # spread, not a herd
    assert max(max(c) for c in by_waits) <= 6.0
    assert rt.upstreams["default"].count("submit") == 1


@pytest.mark.parametrize(
    "error",
    [
        UpstreamUnavailable("ConnectError", "refused"),
        StorageUnavailable("get_object", "down"),
    ],
)
def test_a_clean_failure_clears_the_intent_and_is_retried(rt: Runtime, error: Exception) -> None:
    job = new_job(rt)
    rt.upstreams["default"].submits += [error, ok()]
    with pytest.raises(type(error)):
        submit(rt, job.job_id)
    stored = rt.store.get(job.job_id)
    assert stored is not None and stored.state is JobState.SUBMITTING
    assert stored.intent_at is None and stored.task_id is None
    assert rt.limiter.in_flight("default", "wan2.7-image") == 0
    submit(rt, job.job_id)  # Celery's retry
    retried = rt.store.get(job.job_id)
    assert retried is not None and retried.state is JobState.PENDING and retried.attempts == 2


@pytest.mark.parametrize("retry_after_s", [None, 7.0])
def test_a_throttled_submit_waits_without_spending_a_retry(
    rt: Runtime, retry_after_s: float | None
) -> None:
    job = new_job(rt)
    rt.upstreams["default"].submits.append(
        UpstreamThrottled("Throttling.RateQuota", "slow", None, 429, retry_after_s)
    )
    submit(rt, job.job_id)  # no exception: Celery's retry budget is untouched
    stored = rt.store.get(job.job_id)
    assert stored is not None and stored.state is JobState.SUBMITTING
    assert stored.intent_at is None and stored.task_id is None
    assert rt.limiter.in_flight("default", "wan2.7-image") == 0
    assert rt.intents.overlapping("default", "wan2.7-image", 0, 2e9, exclude="") == []
    [(args, countdown)] = rt.scheduler.of(TASK_SUBMIT)
    base_s = retry_after_s or rt.settings.pipeline.capacity_retry_s
    assert args == (job.job_id, "1") and base_s <= countdown <= 2 * base_s
    rt.upstreams["default"].submits.append(ok())
    submit(rt, job.job_id, waits=1)
    retried = rt.store.get(job.job_id)
    assert retried is not None and retried.state is JobState.PENDING and retried.attempts == 2


@pytest.mark.parametrize(
    ("error", "code"),
    [
        (UpstreamRejected("InvalidParameter", "size is bad", "r", 400), "InvalidParameter"),
        (InputInvalid("images[0]", "must be reachable"), "InputInvalid"),
    ],
)
def test_a_permanent_failure_ends_the_job(rt: Runtime, error: Exception, code: str) -> None:
    job = new_job(rt)
    rt.upstreams["default"].submits.append(error)
    submit(rt, job.job_id)
    stored = rt.store.get(job.job_id)
    assert stored is not None and stored.state is JobState.FAILED
    assert stored.error_code == code and stored.error_message
    assert rt.limiter.in_flight("default", "wan2.7-image") == 0
    submit(rt, job.job_id)
    assert rt.upstreams["default"].count("submit") == 1


def test_an_ambiguous_submit_is_reconciled_never_resubmitted(rt: Runtime) -> None:
    job = new_job(rt)
    rt.upstreams["default"].submits.append(SubmitAmbiguous("ReadTimeout", "no answer"))
    submit(rt, job.job_id)
    [(args, countdown)] = rt.scheduler.of(TASK_SUBMIT)
    assert args == (job.job_id,) and countdown == 6.0  # settle time + one read timeout
    stored = rt.store.get(job.job_id)
    assert stored is not None and stored.intent_at is not None
    assert rt.limiter.in_flight("default", "wan2.7-image") == 1  # a task may run upstream
    # too early: comes back at the settle time
    rt.clock.now = stored.intent_at + 1
    submit(rt, job.job_id)
    assert rt.scheduler.of(TASK_SUBMIT)[-1][1] == pytest.approx(5.0)
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
    submit(rt, job.job_id)
    rt.store.transition(job.job_id, JobState.STORING, result_urls=["https://r/1.png"])
    submit(rt, job.job_id)
    assert rt.scheduler.of(TASK_STORE) == [((job.job_id,), 0.0)]


def test_terminal_and_missing_jobs_are_left_alone(rt: Runtime) -> None:
    job = new_job(rt)
    rt.store.transition(job.job_id, JobState.CANCELED)
    submit(rt, job.job_id)
    submit(rt, "0" * 32)
    assert rt.upstreams["default"].calls == [] and rt.scheduler.sent == []


def test_a_job_canceled_while_waiting_gives_its_slot_back(
    rt: Runtime, monkeypatch: pytest.MonkeyPatch
) -> None:
    job = new_job(rt)
    loaded = rt.store.get(job.job_id)  # QUEUED when the submit loaded it...
    real_get = rt.store.get
    answers = iter([loaded])
    monkeypatch.setattr(rt.store, "get", lambda jid: next(answers, None) or real_get(jid))
    rt.store.transition(job.job_id, JobState.CANCELED)  # ...canceled before begin_submit
    submit(rt, job.job_id)
    assert rt.upstreams["default"].calls == []
    assert rt.limiter.in_flight("default", "wan2.7-image") == 0  # the lease it took is back
    assert rt.intents.overlapping("default", "wan2.7-image", 0, 2e9, exclude="") == []


@pytest.mark.parametrize("upstream_cancel", [None, UpstreamRejected("x", "started", "r", 400)])
def test_a_task_whose_job_ended_meanwhile_is_canceled_and_counted(
    rt: Runtime, upstream_cancel: Exception | None
) -> None:
    job = new_job(rt)

    def post_while_the_job_ends() -> SubmitResult:
        rt.store.transition(job.job_id, JobState.FAILED)  # e.g. on_failure of a stale message
        return ok("t-late")

    rt.upstreams["default"].submits.append(post_while_the_job_ends)
    rt.upstreams["default"].cancels.append(upstream_cancel)
    submit(rt, job.job_id)
    assert ("cancel", "t-late") in rt.upstreams["default"].calls
    assert rt.store.stat("orphan_suspects") == 1
    assert rt.store.task_owner("t-late") == job.job_id  # never adopted by another job
    assert rt.limiter.in_flight("default", "wan2.7-image") == 0
    assert rt.scheduler.of(TASK_POLL) == []


def test_an_attached_task_closes_the_jobs_open_intent(rt: Runtime) -> None:
    job = new_job(rt)
    seen: list[list[str]] = []

    def post() -> SubmitResult:
        seen.append(rt.intents.overlapping("default", "wan2.7-image", 0, 2e9, exclude=""))
        return ok()

    rt.upstreams["default"].submits.append(post)
    submit(rt, job.job_id)
    assert seen == [[job.job_id]]  # open while the POST was in flight
    assert rt.intents.overlapping("default", "wan2.7-image", 0, 2e9, exclude="") == []


BUCKET = unit_settings().s3.bucket


def test_s3_inputs_are_presigned_or_inlined(redis_client: redis.Redis, redis_prefix: str) -> None:
    presign = make_runtime(redis_client, redis_prefix)
    ref = f"s3://{BUCKET}/inputs/a.png"
    job = new_job(presign, images=(ref,))
    presign.upstream.submits.append(ok())
    submit(presign, job.job_id)
    body = presign.upstream.calls[0][1]
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
