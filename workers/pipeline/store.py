"""Copying a succeeded job's results to object storage, each exactly once.

Each result goes to a deterministic key (``{results_prefix}{job_id}/{index}.png``) with its
SHA-256 in the metadata (and as ``ChecksumSHA256``), the job id, model, upstream task id and
request id. A repeated store skips every result already stored with the checksum the job
recorded, and a result stored by a run that died before recording it is found by its
checksum after the download, so nothing is written twice.

Results are stored before their URLs expire (24 h after the task ends): store messages are
sent as tasks end, so the queue holds them in the order of their time left, and a store that
fails for a while is retried within minutes. A result URL found expired anyway is looked up
again on the task while the upstream still keeps it (24 h): new URLs are recorded and stored;
the same URLs (or a task gone) end the job FAILED ``ResultExpired``. Nothing is dropped
silently.
"""

from __future__ import annotations

import logging
import tempfile

from workers.contract import JobRecord, JobState
from workers.contract.names import TASK_STORE
from workers.errors import PermanentError, ResultExpired
from workers.pipeline.constants import (
    RESULT_CONTENT_TYPE,
    RESULT_KEY_FORMAT,
    SPOOL_BYTES,
    UPSTREAM_TASK_LIFETIME_S,
)
from workers.pipeline.outcomes import error_fields, finish
from workers.runtime import Runtime

_log = logging.getLogger(__name__)

RENEWED_URLS_STORE_DELAY_S = 5.0
"""How long a store whose expired URLs were renewed waits before it runs again."""


def result_key(prefix: str, job_id: str, index: int) -> str:
    """The object key of a job's result."""
    return RESULT_KEY_FORMAT.format(prefix=prefix, job_id=job_id, index=index)


def store(rt: Runtime, job_id: str) -> None:
    """Store every result of a STORING job, then mark it SUCCEEDED.

    Raises:
        RetryableError: A download or an upload failed in a way that may pass.
    """
    job = rt.store.get(job_id)
    if job is None or job.is_terminal:
        return
    if job.state is not JobState.STORING:
        _log.warning("job %s: store asked in state %s", job_id, job.state)
        return
    keys = list(job.object_keys)
    sums = list(job.checksums)
    for index, url in enumerate(job.result_urls):
        key = result_key(rt.settings.s3.results_prefix, job_id, index)
        known = sums[index] if index < len(sums) else None
        if known and rt.objects.stored_sha256(key) == known:
            continue
        try:
            sha256_hex = _copy(rt, job, index, url, key)
        except ResultExpired as exc:
            if _renewed_urls(rt, job):
                # Later, not at once: a task that keeps giving dead URLs is no hot loop.
                rt.scheduler.later(TASK_STORE, job_id, countdown_s=RENEWED_URLS_STORE_DELAY_S)
                return
            code, message = error_fields(exc)
            finish(rt, job, JobState.FAILED, code=code, message=message)
            return
        except PermanentError as exc:
            code, message = error_fields(exc)
            finish(rt, job, JobState.FAILED, code=code, message=message)
            return
        if index < len(sums):
            keys[index], sums[index] = key, sha256_hex
        else:
            keys.append(key)
            sums.append(sha256_hex)
        if index < len(job.result_urls) - 1:  # progress of a many-image job (the last: below)
            rt.store.update(job_id, object_keys=keys, checksums=sums)
    rt.store.transition(
        job_id,
        JobState.SUCCEEDED,
        expect=(JobState.STORING,),
        object_keys=keys,
        checksums=sums,
        result_urls=None,
    )


def _renewed_urls(rt: Runtime, job: JobRecord) -> bool:
    """Look the job's task up again for result URLs other than the expired ones; whether new
    ones were found (and recorded).

    Raises:
        RetryableError: The upstream or Redis could not be read (the store is retried).
    """
    ended_at = job.timestamps.get(JobState.STORING, job.created_at)
    if job.task_id is None or rt.clock() - ended_at > UPSTREAM_TASK_LIFETIME_S:
        return False
    task = rt.upstream_for(job.account).fetch(job.task_id)
    urls = tuple(task.image_urls or ())
    if not urls or urls == tuple(job.result_urls):
        return False
    _log.info("job %s: result URLs expired; the task gave %d new ones", job.job_id, len(urls))
    return rt.store.update(job.job_id, result_urls=urls)


def _copy(rt: Runtime, job: JobRecord, index: int, url: str, key: str) -> str:
    """Download one result and upload it; its sha256."""
    # Uploaded without asking first: a store delivered again after a crash between the
    # upload and the record overwrites the same key with the same bytes, which is harmless
    # and cheaper than a HEAD before every upload.
    with tempfile.SpooledTemporaryFile(max_size=SPOOL_BYTES) as buffer:
        size, sha256_hex = rt.fetcher.fetch(index, url, buffer)
        buffer.seek(0)
        metadata = {
            "job-id": job.job_id,
            "model": job.request.model.value,
            "task-id": job.task_id or "",
            "request-id": job.request_id or "",
        }
        rt.objects.put(
            key,
            buffer,
            size=size,
            sha256_hex=sha256_hex,
            content_type=RESULT_CONTENT_TYPE,
            metadata=metadata,
        )
    return sha256_hex
