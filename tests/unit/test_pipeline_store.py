"""workers.pipeline.store: deterministic keys, checksums, idempotent under redelivery."""

from __future__ import annotations

import hashlib

import pytest
import redis

from tests.unit.pipeline_fakes import FakeUpstream, make_runtime, new_job, task_result
from workers.contract import JobRecord, JobState
from workers.contract.names import TASK_STORE
from workers.errors import ResultExpired, StorageRejected, StorageUnavailable
from workers.pipeline.store import result_key, store
from workers.runtime import Runtime
from workers.upstream import TaskResult, TaskStatus

URLS = ("https://oss/0.png?sig=a", "https://oss/1.png?sig=b")
DATA = {URLS[0]: b"\x89PNG first", URLS[1]: b"\x89PNG second"}


@pytest.fixture
def rt(redis_client: redis.Redis, redis_prefix: str) -> Runtime:
    runtime = make_runtime(redis_client, redis_prefix)
    runtime.fetcher.files.update(DATA)
    return runtime


def upstream(rt: Runtime) -> FakeUpstream:
    fake = rt.upstream_for(None)
    assert isinstance(fake, FakeUpstream)
    return fake


def succeeded(urls: tuple[str, ...]) -> TaskResult:
    return task_result(TaskStatus.SUCCEEDED, image_urls=urls)


def storing_job(rt: Runtime) -> JobRecord:
    job = new_job(rt)
    assert rt.store.begin_submit(job.job_id)
    assert rt.store.attach_task(job.job_id, f"task-{job.job_id}", "req-1")
    assert rt.store.transition(job.job_id, JobState.STORING, result_urls=URLS)
    stored = rt.store.get(job.job_id)
    assert stored is not None
    return stored


def test_results_are_stored_with_checksums_and_metadata(rt: Runtime) -> None:
    job = storing_job(rt)
    store(rt, job.job_id)
    done = rt.store.get(job.job_id)
    assert done is not None and done.state is JobState.SUCCEEDED
    keys = tuple(result_key("results/", job.job_id, i) for i in range(2))
    assert done.object_keys == keys and done.result_urls == ()
    assert done.checksums == tuple(hashlib.sha256(DATA[url]).hexdigest() for url in URLS)
    data, metadata = rt.objects.objects[keys[1]]
    assert data == DATA[URLS[1]]
    assert metadata == {
        "job-id": job.job_id,
        "model": "wan2.7-image",
        "task-id": job.task_id,
        "request-id": "req-1",
        "sha256": done.checksums[1],
        "type": "image/png",
    }


def test_a_redelivered_store_writes_nothing_twice(rt: Runtime) -> None:
    job = storing_job(rt)
    # the first run dies after the first object (the second download fails)
    rt.fetcher.files[URLS[1]] = StorageUnavailable("get", "down")
    with pytest.raises(StorageUnavailable):
        store(rt, job.job_id)
    partial = rt.store.get(job.job_id)
    assert partial is not None and len(partial.checksums) == 1
    assert rt.objects.puts == 1
    rt.fetcher.files[URLS[1]] = DATA[URLS[1]]
    rt.fetcher.fetched.clear()
    store(rt, job.job_id)
    assert rt.fetcher.fetched == [URLS[1]]  # the stored one is not even downloaded
    assert rt.objects.puts == 2
    # an object stored by a run that died before recording it is not put again
    job2 = storing_job(rt)
    store(rt, job2.job_id)
    puts = rt.objects.puts
    rt.store.update(job2.job_id, checksums=None, object_keys=None)
    rt.store.transition(job2.job_id, JobState.STORING)  # (still STORING: same state)
    store(rt, job2.job_id)
    assert rt.objects.puts == puts


@pytest.mark.parametrize(
    ("error", "code"),
    [
        (ResultExpired(0, "403"), "ResultExpired"),
        (StorageRejected("put_object", "NoSuchBucket", "gone"), "StorageRejected"),
    ],
)
def test_permanent_failures_end_the_job(rt: Runtime, error: Exception, code: str) -> None:
    job = storing_job(rt)
    if isinstance(error, ResultExpired):
        rt.fetcher.files[URLS[0]] = error
        # the task, looked up again, still gives the same (expired) URLs
        upstream(rt).fetches.append(succeeded(URLS))
    else:
        rt.objects.failures.append(error)
    store(rt, job.job_id)
    failed = rt.store.get(job.job_id)
    assert failed is not None and failed.state is JobState.FAILED and failed.error_code == code


def test_only_storing_jobs_are_stored(rt: Runtime) -> None:
    job = new_job(rt)
    store(rt, job.job_id)
    store(rt, "0" * 32)
    assert rt.fetcher.fetched == []


def test_expired_urls_are_looked_up_again_on_the_task(rt: Runtime) -> None:
    job = storing_job(rt)
    rt.fetcher.files[URLS[0]] = ResultExpired(0, "403")
    fresh = ("https://oss/0.png?sig=new", "https://oss/1.png?sig=new")
    rt.fetcher.files.update({fresh[0]: DATA[URLS[0]], fresh[1]: DATA[URLS[1]]})
    upstream(rt).fetches.append(succeeded(fresh))

    store(rt, job.job_id)

    renewed = rt.store.get(job.job_id)
    assert renewed is not None and renewed.state is JobState.STORING
    assert renewed.result_urls == fresh
    assert upstream(rt).calls == [("fetch", job.task_id)]
    assert rt.scheduler.of(TASK_STORE) == [((job.job_id,), 5.0)]  # type: ignore[attr-defined]
    store(rt, job.job_id)  # the store sent again
    done = rt.store.get(job.job_id)
    assert done is not None and done.state is JobState.SUCCEEDED and len(done.object_keys) == 2
