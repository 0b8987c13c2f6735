"""The producer API against a real Redis (database 15, keys under the test's prefix).

Messages are read back from the Redis list kombu uses as the ``submit`` queue
(``{prefix}submit``): they must carry the job id and nothing else.
"""

from __future__ import annotations

import base64
import io
import json
import threading
from collections.abc import Iterator
from typing import Any

import pytest
import redis
from PIL import Image
from pydantic import SecretStr

from adapters.redis import redis_client
from adapters.redis import redis_client as redis_client_of
from config import Settings, UpstreamSettings
from devstack.procs import free_port
from producers import BrokerUnavailable, CancelStatus, JobNotFound, WanQueue
from producers.sender import CelerySender
from producers.staging import S3Stager
from workers.contract import EditRequest, JobState, JobStore, JobUsage
from workers.contract.names import QUEUE_SUBMIT, TASK_CANCEL, TASK_SUBMIT
from workers.errors import InputInvalid

API_KEY = "sk-producer-test-secret"
URL = "https://cdn.example.test/sku.png"


def _png_data_uri(width: int = 256, height: int = 256) -> str:
    out = io.BytesIO()
    Image.new("RGB", (width, height), (10, 200, 30)).save(out, format="PNG")
    return "data:image/png;base64," + base64.b64encode(out.getvalue()).decode()


def job(index: int = 0, **extra: Any) -> dict[str, Any]:
    return {
        "model": "wan2.7-image",
        "prompt": f"white background {index}",
        "images": [URL],
        **extra,
    }


@pytest.fixture
def settings(redis_url: str, redis_prefix: str) -> Settings:
    return Settings(
        redis_url=SecretStr(redis_url),
        key_prefix=redis_prefix,
        upstream=UpstreamSettings(api_key=SecretStr(API_KEY)),
    )


@pytest.fixture
def queue(settings: Settings) -> Iterator[WanQueue]:
    with WanQueue.from_settings(settings) as wan_queue:
        yield wan_queue


@pytest.fixture
def broken_queue(settings: Settings) -> Iterator[WanQueue]:
    """A queue on the same job store whose broker is a closed port."""
    client = redis_client(settings)
    dead = settings.model_copy(
        update={"redis_url": SecretStr(f"redis://127.0.0.1:{free_port()}/15")}
    )
    wan_queue = WanQueue(
        client,
        JobStore(client, settings.key_prefix),
        CelerySender.from_settings(dead),
        S3Stager.from_settings(settings),
        key_prefix=settings.key_prefix,
    )
    yield wan_queue
    wan_queue.close()


def messages(client: redis.Redis, prefix: str) -> list[dict[str, Any]]:
    """The messages waiting in the ``submit`` queue, oldest first."""
    raw = client.lrange(f"{prefix}{QUEUE_SUBMIT}", 0, -1)
    return [json.loads(item) for item in reversed(raw)]


def parked(client: redis.Redis, prefix: str, tenant: str = "default") -> list[str]:
    """The jobs the producer parked in the workers' waiting room (bulk lane), in order."""
    return [
        item.decode() if isinstance(item, bytes) else item
        for item in client.lrange(f"{prefix}wait:wan2.7-image:bulk:q:{tenant}", 0, -1)
    ]


def args_of(message: dict[str, Any]) -> list[Any]:
    body = json.loads(base64.b64decode(message["body"]))
    return list(body[0])


# --- submit ---------------------------------------------------------------------------


def test_submit_records_the_job_and_parks_only_its_id(
    queue: WanQueue, redis_client: redis.Redis, redis_prefix: str
) -> None:
    data_uri = _png_data_uri()
    record = queue.submit(job(images=[data_uri]), custom_id="sku-1", batch="spring")
    assert record.state is JobState.QUEUED and record.batch == "spring"
    assert queue.get(record.job_id) == record
    assert parked(redis_client, redis_prefix) == [record.job_id]
    assert messages(redis_client, redis_prefix) == []  # no broker message, no worker hop
    payload = data_uri.partition(",")[2]
    for key in redis_client.scan_iter(f"{redis_prefix}wait:*"):
        dump = str(redis_client.dump(key))
        assert payload[:40] not in dump and "data:image" not in dump and API_KEY not in dump
    assert len(queue.outbox) == 0


def test_a_producer_that_only_speaks_celery_sends_the_job_id(
    broken_queue: WanQueue, settings: Settings, redis_client: redis.Redis, redis_prefix: str
) -> None:
    """Without a waiting room parker, a job is handed over as a wanq.submit message."""
    client = redis_client_of(settings)
    with WanQueue(
        client,
        JobStore(client, settings.key_prefix),
        CelerySender.from_settings(settings),
        S3Stager.from_settings(settings),
        key_prefix=settings.key_prefix,
    ) as celery_only:
        record = celery_only.submit(job(), custom_id="sku-m")
    [message] = messages(redis_client, redis_prefix)
    assert message["headers"]["task"] == TASK_SUBMIT
    assert message["properties"]["delivery_info"]["routing_key"] == QUEUE_SUBMIT
    assert args_of(message) == [record.job_id]
    body = json.loads(base64.b64decode(message["body"]))
    assert body[1] == {}
    assert API_KEY not in json.dumps(message)


def test_submit_accepts_a_request_object(queue: WanQueue) -> None:
    request = EditRequest.model_validate(job())
    record = queue.submit(request)
    assert record.request == request and record.batch == "default"


def test_invalid_input_is_refused_before_anything_is_recorded(
    queue: WanQueue, redis_client: redis.Redis, redis_prefix: str
) -> None:
    with pytest.raises(InputInvalid) as info:
        queue.submit({"model": "wan2.5-i2i-preview", "prompt": "x", "images": [URL] * 4})
    assert info.value.field == "images" and "1 to 3" in info.value.rule
    with pytest.raises(InputInvalid, match="custom_id"):
        queue.submit(job(), custom_id="has space")
    with pytest.raises(InputInvalid, match="batch"):
        queue.submit(job(), batch="two words")
    with pytest.raises(InputInvalid, match="given twice"):
        queue.submit(job(custom_id="a"), custom_id="b")
    assert list(redis_client.scan_iter(match=f"{redis_prefix}*")) == []


def test_a_custom_id_names_one_job(
    queue: WanQueue, redis_client: redis.Redis, redis_prefix: str
) -> None:
    first = queue.submit(job(1), custom_id="sku-7")
    again = queue.submit(job(2), custom_id="sku-7")
    in_line = queue.submit(job(3, custom_id="sku-7"))
    assert first.job_id == again.job_id == in_line.job_id
    assert again.request.prompt == "white background 1"  # the first request wins
    assert parked(redis_client, redis_prefix) == [first.job_id]
    assert queue.get_by_custom_id("sku-7") == first
    assert queue.get_by_custom_id("nobody") is None


def test_a_failed_send_loses_nothing_and_a_retry_sends_it(
    queue: WanQueue, broken_queue: WanQueue, redis_client: redis.Redis, redis_prefix: str
) -> None:
    with pytest.raises(BrokerUnavailable) as info:
        broken_queue.submit(job(), custom_id="sku-9")
    [job_id] = info.value.job_ids
    record = queue.get(job_id)
    assert record is not None and record.state is JobState.QUEUED
    assert queue.outbox.unsent_among([job_id]) == {job_id}
    assert messages(redis_client, redis_prefix) == [] and parked(redis_client, redis_prefix) == []

    retried = queue.submit(job(), custom_id="sku-9")
    assert retried.job_id == job_id
    assert parked(redis_client, redis_prefix) == [job_id]
    assert len(queue.outbox) == 0
    queue.submit(job(), custom_id="sku-9")  # handed over now: nothing more
    assert parked(redis_client, redis_prefix) == [job_id]


# --- submit_many ----------------------------------------------------------------------


def test_submit_many_records_and_sends_in_bulk_and_reports_by_line(
    queue: WanQueue, redis_client: redis.Redis, redis_prefix: str
) -> None:
    jobs: list[Any] = [job(i, custom_id=f"c{i}") for i in range(1200)]
    jobs[4] = {"model": "wan2.9", "prompt": "x"}
    jobs[9] = job(9, size="5K")
    jobs[1100] = EditRequest.model_validate(job(1100))
    report = queue.submit_many(jobs, batch="bulk")
    assert report.created == 1198 and report.existing == 0 and not report.unsent
    assert [problem.line for problem in report.refused] == [5, 10]
    assert str(report.refused[0]).startswith("line 5: model: must be one of")
    assert report.refused[1].error.field == "size"
    sent = parked(redis_client, redis_prefix)
    assert sent == report.job_ids and len(set(sent)) == 1198
    assert queue.batch_progress("bulk") == {JobState.QUEUED: 1198}

    again = queue.submit_many(jobs, batch="bulk")
    assert again.created == 1 and again.existing == 1197  # the EditRequest has no custom id
    assert len(parked(redis_client, redis_prefix)) == 1199


def test_a_custom_id_twice_in_one_submission_is_one_job(
    queue: WanQueue, redis_client: redis.Redis, redis_prefix: str
) -> None:
    report = queue.submit_many([job(1, custom_id="x"), job(2, custom_id="x")], batch="dup")
    assert report.created == 1 and report.existing == 1
    assert report.job_ids[0] == report.job_ids[1]
    assert len(parked(redis_client, redis_prefix)) == 1


def test_a_broker_failure_leaves_jobs_unsent_until_redrive(
    queue: WanQueue, broken_queue: WanQueue, redis_client: redis.Redis, redis_prefix: str
) -> None:
    report = broken_queue.submit_many([job(i) for i in range(5)], batch="down")
    assert report.created == 5 and sorted(report.unsent) == sorted(report.job_ids)
    assert not report.ok
    canceled = queue.cancel(report.job_ids[0])
    assert canceled.status is CancelStatus.CANCELED
    assert queue.redrive(min_age_s=3600) == 0  # too young: a producer may still send them
    assert queue.redrive(min_age_s=0) == 4
    assert sorted(parked(redis_client, redis_prefix)) == sorted(report.job_ids[1:])
    assert len(queue.outbox) == 0


# --- reading and waiting --------------------------------------------------------------


def test_results_and_progress_of_a_batch(queue: WanQueue) -> None:
    done, failed, waiting = (queue.submit(job(i), custom_id=f"r{i}", batch="res") for i in range(3))
    store = queue.store
    assert store.transition(
        done.job_id,
        JobState.SUCCEEDED,
        object_keys=("results/a/0.png",),
        checksums=("ab" * 32,),
        usage=JobUsage(image_count=1, total_tokens=12),
    )
    assert store.transition(
        failed.job_id, JobState.FAILED, error_code="DataInspectionFailed", error_message="no"
    )
    lines = {line["custom_id"]: line for line in queue.results("res")}
    assert lines["r0"] == {
        "custom_id": "r0",
        "job_id": done.job_id,
        "state": "SUCCEEDED",
        "object_keys": ["results/a/0.png"],
        "checksums": ["ab" * 32],
        "error_code": None,
        "error_message": None,
        "usage": {"image_count": 1, "total_tokens": 12},
    }
    assert lines["r1"]["error_code"] == "DataInspectionFailed"
    assert lines["r2"]["state"] == "QUEUED" and lines["r2"]["job_id"] == waiting.job_id
    assert queue.batch_progress("res") == {
        JobState.SUCCEEDED: 1,
        JobState.FAILED: 1,
        JobState.QUEUED: 1,
    }
    assert "res" in queue.batches()


def test_wait_returns_when_every_job_has_ended(queue: WanQueue) -> None:
    ids = [queue.submit(job(i)).job_id for i in range(3)]
    seen: list[dict[JobState, int]] = []

    def finish() -> None:
        for job_id in ids:
            queue.store.transition(job_id, JobState.SUCCEEDED)

    timer = threading.Timer(0.3, finish)
    timer.start()
    try:
        records = queue.wait(ids, timeout_s=10, on_progress=lambda c: seen.append(dict(c)))
    finally:
        timer.cancel()
    assert [record.job_id for record in records] == ids
    assert all(record.state is JobState.SUCCEEDED for record in records)
    assert seen[0] == {JobState.QUEUED: 3} and seen[-1] == {JobState.SUCCEEDED: 3}


def test_wait_gives_up_at_its_deadline_and_names_unknown_jobs(queue: WanQueue) -> None:
    job_id = queue.submit(job()).job_id
    [record] = queue.wait([job_id], timeout_s=0.3)
    assert not record.is_terminal
    with pytest.raises(JobNotFound):
        queue.wait(["0" * 32], timeout_s=1)


# --- cancel ---------------------------------------------------------------------------


def test_cancel_by_state(queue: WanQueue, redis_client: redis.Redis, redis_prefix: str) -> None:
    queued, pending, running, submitting = (queue.submit(job(i)) for i in range(4))
    store = queue.store
    store.transition(pending.job_id, JobState.PENDING, task_id="t-1")
    store.transition(running.job_id, JobState.RUNNING, task_id="t-2")
    assert store.begin_submit(submitting.job_id)
    before = len(messages(redis_client, redis_prefix))

    outcome = queue.cancel(queued.job_id)
    assert outcome.status is CancelStatus.CANCELED and outcome.state is JobState.CANCELED
    record = queue.get(queued.job_id)
    assert record is not None and record.state is JobState.CANCELED
    assert record.error_message == "canceled on request"
    assert len(messages(redis_client, redis_prefix)) == before  # no worker was asked

    outcome = queue.cancel(pending.job_id)
    assert outcome.status is CancelStatus.REQUESTED
    request = messages(redis_client, redis_prefix)[-1]
    assert request["headers"]["task"] == TASK_CANCEL and args_of(request) == [pending.job_id]

    refused = queue.cancel(running.job_id)
    assert refused.status is CancelStatus.REFUSED and "started" in refused.reason
    assert queue.cancel(submitting.job_id).status is CancelStatus.REFUSED
    assert "ended" in queue.cancel(queued.job_id).reason
    assert queue.cancel("0" * 32).reason == "no such job"


def test_cancel_a_batch(queue: WanQueue) -> None:
    for i in range(3):
        queue.submit(job(i), batch="gone")
    outcomes = queue.cancel_batch("gone")
    assert [outcome.status for outcome in outcomes] == [CancelStatus.CANCELED] * 3
    assert queue.batch_progress("gone") == {JobState.CANCELED: 3}
    assert queue.cancel_batch("gone") == []


def test_celery_sender_reaches_the_submit_list_by_name(
    settings: Settings, redis_client: redis.Redis, redis_prefix: str
) -> None:
    sender = CelerySender.from_settings(settings)
    try:
        sender.send(TASK_SUBMIT, ["a" * 32])
    finally:
        sender.close()
    assert [args_of(m) for m in messages(redis_client, redis_prefix)] == [["a" * 32]]


# --- retrying failed jobs -----------------------------------------------------------------


def test_retry_failed_submits_each_failed_job_again_once(
    queue: WanQueue, redis_client: redis.Redis, redis_prefix: str
) -> None:
    jobs = [
        queue.submit(job(i), custom_id=f"f{i}", batch="retry", tenant="shop-a", priority=p)
        for i, p in enumerate(("bulk", "interactive", "bulk", "bulk", "bulk", "bulk", "bulk"))
    ]
    store = queue.store
    failed, expired, ambiguous, canceled, done, billed, unseen = jobs
    store.transition(billed.job_id, JobState.STORING)  # its task succeeded: it was paid for
    store.transition(billed.job_id, JobState.FAILED, error_code="ResultExpired")
    assert store.begin_submit(unseen.job_id) and store.attach_task(unseen.job_id, "t-7", None)
    store.transition(unseen.job_id, JobState.FAILED, error_code="Stuck")  # it may have succeeded
    store.transition(failed.job_id, JobState.FAILED, error_code="InternalError")
    store.transition(expired.job_id, JobState.EXPIRED)
    store.transition(ambiguous.job_id, JobState.FAILED, error_code="SubmitOutcomeUnknown")
    store.transition(canceled.job_id, JobState.CANCELED)
    store.transition(done.job_id, JobState.SUCCEEDED)

    first = queue.retry_failed("retry")
    again = queue.retry_failed("retry")

    assert first.created == 2 and not first.refused and not first.unsent
    assert again.created == 0 and again.existing == 2  # one retry per failed job
    retries = {r.custom_id: r for r in queue.records("retry") if r.custom_id.startswith("retry-")}
    assert set(retries) == {f"retry-{failed.job_id}", f"retry-{expired.job_id}"}
    retried = retries[f"retry-{expired.job_id}"]
    assert retried.state is JobState.QUEUED and retried.request == expired.request
    assert (retried.tenant, retried.priority.value) == ("shop-a", "interactive")
    bulk_retry = retries[f"retry-{failed.job_id}"]
    assert parked(redis_client, redis_prefix, "shop-a")[-1] == bulk_retry.job_id
    kept = store.get(failed.job_id)
    assert kept is not None and kept.state is JobState.FAILED  # the failed record stays

    named = queue.retry_failed("retry", codes=["SubmitOutcomeUnknown", "ResultExpired", "Stuck"])
    assert named.created == 3  # named codes are retried, whatever they cost
    assert queue.get_by_custom_id(f"retry-{ambiguous.job_id}") is not None
    assert queue.get_by_custom_id(f"retry-{billed.job_id}") is not None
