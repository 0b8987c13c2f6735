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
    rt.upstream.submits.append(ok())
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
    assert rt.upstream.count("submit") == 1
    assert len(rt.scheduler.of(TASK_POLL)) == 2


def test_waiting_for_capacity_reschedules_without_a_retry(
    redis_client: redis.Redis, redis_prefix: str
) -> None:
    rt = make_runtime(redis_client, redis_prefix, unit_settings(max_in_flight=1))
    first, second = new_job(rt), new_job(rt)
    rt.upstream.submits.append(ok())
    submit(rt, first.job_id)
    submit(rt, second.job_id)
    assert rt.upstream.count("submit") == 1
    [(args, countdown)] = rt.scheduler.of(TASK_SUBMIT)
    assert args == (second.job_id,) and countdown == rt.settings.pipeline.capacity_retry_s
    stored = rt.store.get(second.job_id)
    assert stored is not None and stored.state is JobState.QUEUED and stored.attempts == 0


@pytest.mark.parametrize(
    "error",
    [
        UpstreamThrottled("Throttling.RateQuota", "slow down"),
        UpstreamUnavailable("ConnectError", "refused"),
        StorageUnavailable("get_object", "down"),
    ],
)
def test_a_clean_failure_clears_the_intent_and_is_retried(rt: Runtime, error: Exception) -> None:
    job = new_job(rt)
    rt.upstream.submits += [error, ok()]
    with pytest.raises(type(error)):
        submit(rt, job.job_id)
    stored = rt.store.get(job.job_id)
    assert stored is not None and stored.state is JobState.SUBMITTING
    assert stored.intent_at is None and stored.task_id is None
    assert rt.limiter.in_flight("default", "wan2.7-image") == 0
    submit(rt, job.job_id)  # Celery's retry
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
    rt.upstream.submits.append(error)
    submit(rt, job.job_id)
    stored = rt.store.get(job.job_id)
    assert stored is not None and stored.state is JobState.FAILED
    assert stored.error_code == code and stored.error_message
    assert rt.limiter.in_flight("default", "wan2.7-image") == 0
    submit(rt, job.job_id)
    assert rt.upstream.count("submit") == 1


def test_an_ambiguous_submit_is_reconciled_never_resubmitted(rt: Runtime) -> None:
    job = new_job(rt)
    rt.upstream.submits.append(SubmitAmbiguous("ReadTimeout", "no answer"))
    submit(rt, job.job_id)
    [(args, countdown)] = rt.scheduler.of(TASK_SUBMIT)
    assert args == (job.job_id,) and countdown == 5.0  # the settle time
    stored = rt.store.get(job.job_id)
    assert stored is not None and stored.intent_at is not None
    assert rt.limiter.in_flight("default", "wan2.7-image") == 1  # a task may run upstream
    # too early: comes back at the settle time
    rt.clock.now = stored.intent_at + 1
    submit(rt, job.job_id)
    assert rt.scheduler.of(TASK_SUBMIT)[-1][1] == pytest.approx(4.0)
    # settled: the one unclaimed task of the model around the intent is adopted
    rt.clock.now = stored.intent_at + 6
    rt.upstream.pages.append(page(summary("t-lost", stored.intent_at + 0.1)))
    submit(rt, job.job_id)
    adopted = rt.store.get(job.job_id)
    assert adopted is not None and adopted.state is JobState.PENDING
    assert adopted.task_id == "t-lost" and adopted.request_id == "req-t-lost"
    assert rt.upstream.count("submit") == 1


def test_a_redelivered_submit_of_a_storing_job_sends_store(rt: Runtime) -> None:
    job = new_job(rt)
    rt.upstream.submits.append(ok())
    submit(rt, job.job_id)
    rt.store.transition(job.job_id, JobState.STORING, result_urls=["https://r/1.png"])
    submit(rt, job.job_id)
    assert rt.scheduler.of(TASK_STORE) == [((job.job_id,), 0.0)]


def test_terminal_and_missing_jobs_are_left_alone(rt: Runtime) -> None:
    job = new_job(rt)
    rt.store.transition(job.job_id, JobState.CANCELED)
    submit(rt, job.job_id)
    submit(rt, "0" * 32)
    assert rt.upstream.calls == [] and rt.scheduler.sent == []


def test_a_job_canceled_while_waiting_gives_its_slot_back(rt: Runtime) -> None:
    job = new_job(rt)
    rt.store.transition(job.job_id, JobState.CANCELED)
    # the record said QUEUED when loaded: simulate by racing begin_submit after the acquire
    assert rt.limiter.try_acquire("default", "wan2.7-image", job.job_id) is None
    assert not rt.store.begin_submit(job.job_id)
    submit(rt, job.job_id)
    assert rt.upstream.calls == []


def test_s3_inputs_are_presigned_or_inlined(redis_client: redis.Redis, redis_prefix: str) -> None:
    presign = make_runtime(redis_client, redis_prefix)
    job = new_job(presign, images=("s3://inputs/a.png",))
    presign.upstream.submits.append(ok())
    submit(presign, job.job_id)
    body = presign.upstream.calls[0][1]
    image = body["input"]["messages"][0]["content"][1]["image"]
    assert image.startswith("https://s3.example/inputs/a.png?")

    settings = unit_settings()
    inline_settings = settings.model_copy(
        update={"inputs": settings.inputs.model_copy(update={"s3_mode": "inline"})}
    )
    inline = make_runtime(redis_client, redis_prefix + "i:", inline_settings)
    inline.objects.blobs[("inputs", "a.png")] = b"\x89PNG\r\n\x1a\nrest"
    assert input_resolver(inline)("s3://inputs/a.png") == "data:image/png;base64,iVBORw0KGgpyZXN0"


def test_image_mime() -> None:
    assert image_mime(b"\xff\xd8\xff\xe0", "s") == "image/jpeg"
    assert image_mime(b"RIFF1234WEBPVP8 ", "s") == "image/webp"
    assert image_mime(b"BM....", "s") == "image/bmp"
    with pytest.raises(InputInvalid):
        image_mime(b"GIF89a", "s3://b/k")
