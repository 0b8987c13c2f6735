"""workers.pipeline.outcomes: error fields, failing a job for good, poll chains."""

from __future__ import annotations

import pytest
import redis

from tests.unit.pipeline_fakes import make_runtime, new_job
from workers.contract import JobState
from workers.contract.names import TASK_POLL
from workers.errors import InputInvalid, RedisUnavailable, StorageUnavailable, UpstreamRejected
from workers.pipeline.outcomes import (
    error_fields,
    fail,
    finish,
    schedule_poll,
    without_url_queries,
)
from workers.runtime import Runtime


@pytest.fixture
def rt(redis_client: redis.Redis, redis_prefix: str) -> Runtime:
    return make_runtime(redis_client, redis_prefix)


def test_error_fields() -> None:
    assert error_fields(UpstreamRejected("DataInspectionFailed", "bad", "r", 400))[0] == (
        "DataInspectionFailed"
    )
    assert error_fields(InputInvalid("size", "must be 1K")) == ("InputInvalid", "size: must be 1K")
    assert error_fields(StorageUnavailable("put", "down"))[0] == "StorageUnavailable"
    assert error_fields(KeyError("x")) == ("InternalError", "KeyError: 'x'")


def test_fail_ends_the_job_and_flags_a_submit_in_progress(rt: Runtime) -> None:
    plain = new_job(rt)
    fail(rt, plain.job_id, StorageUnavailable("put_object", "down"))
    ended = rt.store.get(plain.job_id)
    assert ended is not None and ended.state is JobState.FAILED
    assert ended.error_code == "StorageUnavailable"

    submitting = new_job(rt)
    assert rt.store.begin_submit(submitting.job_id)
    fail(rt, submitting.job_id, RuntimeError("bug"))
    flagged = rt.store.get(submitting.job_id)
    assert flagged is not None and flagged.error_code == "SubmitOutcomeUnknown"
    assert rt.store.stat("orphan_suspects") == 1
    fail(rt, submitting.job_id, RuntimeError("again"))  # terminal: unchanged
    assert rt.store.stat("orphan_suspects") == 1


def test_schedule_poll_swaps_then_sends(rt: Runtime) -> None:
    job = new_job(rt)
    assert schedule_poll(rt, job.job_id, None, 1.0)
    stored = rt.store.get(job.job_id)
    assert stored is not None and stored.poll_token is not None
    [(args, _)] = rt.scheduler.of(TASK_POLL)
    assert args == (job.job_id, stored.poll_token)
    assert not schedule_poll(rt, job.job_id, "stale", 1.0)  # superseded chain
    assert len(rt.scheduler.of(TASK_POLL)) == 1  # it sends nothing


def test_recorded_messages_never_keep_url_queries(rt: Runtime) -> None:
    presigned = (
        "https://bucket.oss-ap-southeast-1.aliyuncs.com/in/a.png"
        "?OSSAccessKeyId=LTAI&Expires=1&Signature=abc%3D&security-token=CAIS"
    )
    rejected = UpstreamRejected("InvalidParameter", f"cannot download {presigned}, sorry", "r", 400)
    code, message = error_fields(rejected)
    assert code == "InvalidParameter"
    assert "Signature" not in message and "security-token" not in message
    assert "https://bucket.oss-ap-southeast-1.aliyuncs.com/in/a.png" in message
    job = new_job(rt)
    finish(rt, job, JobState.FAILED, code="X", message=f"see {presigned}#frag and s3://b/k?v=1")
    stored = rt.store.get(job.job_id)
    assert stored is not None
    assert stored.error_message == (
        "see https://bucket.oss-ap-southeast-1.aliyuncs.com/in/a.png and s3://b/k"
    )
    assert without_url_queries("no url? fine?") == "no url? fine?"


def test_a_poll_out_of_retries_polls_on_instead_of_failing(rt: Runtime) -> None:
    job = new_job(rt)
    assert rt.store.begin_submit(job.job_id)
    assert rt.store.attach_task(job.job_id, "task-1", None)
    fail(rt, job.job_id, RedisUnavailable("get", "ConnectionError: refused"))
    stored = rt.store.get(job.job_id)
    assert stored is not None and stored.state is JobState.PENDING
    [(args, countdown)] = rt.scheduler.of(TASK_POLL)
    assert args == (job.job_id, stored.poll_token)
    assert countdown == rt.settings.pipeline.max_poll_interval_s
    fail(rt, job.job_id, KeyError("bug"))  # not retryable: a bug ends it
    ended = rt.store.get(job.job_id)
    assert ended is not None and ended.state is JobState.FAILED
