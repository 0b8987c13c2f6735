"""The producer API: how Python services (and the ``wanq`` CLI) put jobs into wanqueue.

Example::

    from config import load_settings
    from producers import WanQueue

    with WanQueue.from_settings(load_settings()) as queue:
        job = queue.submit(
            {"model": "wan2.7-image", "prompt": "White background",
             "images": ["https://cdn.example.com/sku-1042.jpg"]},
            custom_id="sku-1042", batch="spring",
        )
        done = queue.wait([job.job_id], timeout_s=600)

How a job goes in is :mod:`producers.submission`; messages carry the job id only.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from types import TracebackType
from typing import Any

from redis import Redis

from adapters.redis import redis_client
from config import Settings
from producers.cancel import cancel_job
from producers.constants import CHUNK, CUSTOM_KEY, REDRIVE_MIN_AGE_S
from producers.manifest import ManifestEntry, check_name, check_options
from producers.outbox import Outbox
from producers.outcomes import CancelResult, SubmitReport, result_line
from producers.parking import MessageParker, Parker, RoomParker
from producers.retries import is_retried, retry_job
from producers.sender import CelerySender, TaskSender
from producers.staging import InputStager, S3Stager
from producers.submission import JobInput, Submitter
from producers.waiting import ProgressCallback, wait_for
from workers.contract import JobRecord, JobState, JobStore
from workers.contract.records import DEFAULT_BATCH
from workers.contract.waiting import WaitingRoom


class WanQueue:
    """Submit, follow and cancel jobs.

    Args:
        redis: Redis client of the job store (the outbox lives there too).
        store: The job store.
        sender: Sends task messages by name (:class:`~producers.sender.CelerySender`).
        staging: Stages inputs (:class:`~producers.staging.S3Stager`).
        key_prefix: ``Settings.key_prefix`` (the store's prefix).
        parker: How new jobs reach the workers (default: a ``wanq.submit`` message each,
            through ``sender``; :meth:`from_settings` parks them in the waiting room).
    """

    def __init__(
        self,
        redis: Redis,
        store: JobStore,
        sender: TaskSender,
        staging: InputStager,
        *,
        key_prefix: str,
        parker: Parker | None = None,
    ) -> None:
        self._redis = redis
        self._store = store
        self._sender = sender
        self._staging = staging
        self._prefix = key_prefix
        self._outbox = Outbox(redis, key_prefix)
        parker = parker or MessageParker(sender)
        self._submitter = Submitter(store, parker, staging, self._outbox)

    @classmethod
    def from_settings(cls, settings: Settings) -> WanQueue:
        """A queue on the configured Redis, broker and bucket (all connected lazily)."""
        client = redis_client(settings)
        store = JobStore(client, settings.key_prefix, job_ttl_s=settings.pipeline.job_ttl_s)
        return cls(
            client,
            store,
            CelerySender.from_settings(settings),
            S3Stager.from_settings(settings),
            key_prefix=settings.key_prefix,
            parker=RoomParker(WaitingRoom(client, settings.key_prefix), settings.limiter),
        )

    @property
    def store(self) -> JobStore:
        """The job store."""
        return self._store

    @property
    def outbox(self) -> Outbox:
        """Jobs recorded whose submit message is not known to be sent."""
        return self._outbox

    # --- submitting ---------------------------------------------------------------------

    def submit(
        self,
        job: JobInput,
        *,
        custom_id: str | None = None,
        batch: str | None = None,
        tenant: str | None = None,
        priority: str | None = None,
    ) -> JobRecord:
        """Validate, stage, record and enqueue one job.

        Args:
            job: The request, or its fields (``custom_id``, ``tenant`` and ``priority`` may
                be among them).
            custom_id: The idempotency key: while a job with this id is kept, submitting it
                again returns that job and enqueues nothing (the first request wins), unless
                its message was never sent, which is then sent.
            batch: The batch (``default`` if None).
            tenant: Whom the job is for (``default`` if None); waiting tenants share the
                upstream's slots by weight (``limiter.tenant_weights``).
            priority: ``interactive`` (takes the next free slot before any bulk job) or
                ``bulk`` (the default).

        Returns:
            The job's record: the new one, or the existing job of ``custom_id``.

        Raises:
            InputInvalid: The request breaks a rule; nothing was recorded.
            StorageUnavailable, StorageRejected: An input could not be staged.
            BrokerUnavailable: The job is recorded (QUEUED) but its message was not sent;
                submit it again with the same custom id, or run :meth:`redrive`.
        """
        options = check_options(tenant, priority)
        return self._submitter.submit(
            job, custom_id, check_name("batch", DEFAULT_BATCH if batch is None else batch), options
        )

    def submit_many(
        self,
        jobs: Iterable[JobInput],
        *,
        batch: str | None = None,
        tenant: str | None = None,
        priority: str | None = None,
    ) -> SubmitReport:
        """Submit many jobs, pipelined, :data:`~producers.constants.CHUNK` at a time.

        ``tenant`` and ``priority`` apply to the jobs that do not name their own (see
        :meth:`submit`).

        A job that breaks a rule is reported (``refused``, numbered from 1) and the rest
        still go in. Submitting the same jobs again (with custom ids) enqueues nothing twice.
        If the broker fails, the remaining jobs are still recorded and listed as ``unsent``.

        Raises:
            InputInvalid: ``batch`` is not a valid name.
            StorageUnavailable, StorageRejected: An input could not be staged (the jobs
                before it are in; submit again to continue).
        """
        entries = ((line, job, None) for line, job in enumerate(jobs, start=1))
        options = check_options(tenant, priority)
        return self._submitter.submit_entries(
            entries, check_name("batch", DEFAULT_BATCH if batch is None else batch), options
        )

    def submit_manifest(
        self,
        entries: Iterable[ManifestEntry],
        *,
        batch: str | None = None,
        tenant: str | None = None,
        priority: str | None = None,
    ) -> SubmitReport:
        """:meth:`submit_many` for a manifest's entries (errors carry their line numbers)."""
        items = ((entry.line, entry.data, entry.problem) for entry in entries)
        options = check_options(tenant, priority)
        return self._submitter.submit_entries(
            items, check_name("batch", DEFAULT_BATCH if batch is None else batch), options
        )

    def redrive(self, *, min_age_s: float = REDRIVE_MIN_AGE_S) -> int:
        """Send the submit message of every QUEUED job left unsent for ``min_age_s``.

        Run it after a broker failure, or periodically (cron): a job sent twice is harmless
        (the submit task is idempotent), a job never sent would wait for ever.

        Returns:
            How many messages were sent.

        Raises:
            BrokerUnavailable: The broker is still failing (the jobs stay unsent).
        """
        return self._submitter.redrive(min_age_s)

    def retry_failed(self, batch: str, *, codes: Iterable[str] | None = None) -> SubmitReport:
        """Submit again, as new jobs of the same batch, the batch's jobs that ended FAILED or
        EXPIRED: the same request, tenant and priority, custom id ``retry-{job id}``.

        The failed records stay as they were (a terminal job never changes). Retrying twice
        submits nothing twice: each failed job has one retry, bound to its custom id; a retry
        that fails in turn is retried by the next call.

        Args:
            batch: The batch.
            codes: Retry only the jobs that failed with one of these error codes, whatever
                they cost. None: every failure that cost nothing; not ``SubmitOutcomeUnknown``
                (its upstream task may exist, and be billed) nor a job whose task succeeded,
                or may have, which is billed (:func:`producers.retries.may_be_billed`): name
                their codes to retry those jobs as well.

        Raises:
            InputInvalid: ``batch`` is not a valid name.
        """
        wanted = set(codes) if codes is not None else None
        entries = (
            (line, job, None)
            for line, job in enumerate(
                (
                    retry_job(record)
                    for record in self.records(check_name("batch", batch))
                    if is_retried(record, wanted)
                ),
                start=1,
            )
        )
        return self._submitter.submit_entries(entries, batch, check_options(None, None))

    # --- reading ------------------------------------------------------------------------

    def get(self, job_id: str) -> JobRecord | None:
        """A job's record (None: never created, or expired)."""
        return self._store.get(job_id)

    def get_by_custom_id(self, custom_id: str) -> JobRecord | None:
        """The live job of a custom id, if any."""
        # The job store's documented key layout: {prefix}custom:{custom_id} -> job id.
        job_id = self._redis.get(f"{self._prefix}{CUSTOM_KEY}{custom_id}")
        return self._store.get(str(job_id)) if job_id is not None else None

    def wait(
        self,
        job_ids: Iterable[str],
        timeout_s: float,
        *,
        on_progress: ProgressCallback | None = None,
    ) -> list[JobRecord]:
        """Wait until every job is terminal, or ``timeout_s`` passes.

        Args:
            job_ids: The jobs.
            timeout_s: How long to wait at most.
            on_progress: Called after each read of Redis with the count of the jobs in
                each state.

        Returns:
            The latest record of each job, in order; when the timeout passed, some are not
            terminal (check ``is_terminal``).

        Raises:
            JobNotFound: A job has no record.
        """
        return wait_for(self._store, job_ids, timeout_s, on_progress)

    def records(self, batch: str) -> Iterator[JobRecord]:
        """The kept records of a batch, oldest first."""
        ids = self._store.batch_job_ids(batch)
        for start in range(0, len(ids), CHUNK):
            for record in self._store.get_many(ids[start : start + CHUNK]):
                if record is not None:
                    yield record

    def results(self, batch: str) -> Iterator[dict[str, Any]]:
        """One results-manifest line per kept job of a batch: custom_id, job_id, state,
        object_keys, checksums, error_code, error_message, usage."""
        return (result_line(record) for record in self.records(batch))

    def batch_progress(self, batch: str) -> dict[JobState, int]:
        """How many of a batch's jobs are in each state (states with none left out)."""
        return self._store.counts_by_state(batch)

    def batches(self) -> list[str]:
        """The batches with jobs still kept, least recently active first."""
        return self._store.batches()

    # --- canceling ----------------------------------------------------------------------

    def cancel(self, job_id: str) -> CancelResult:
        """Cancel a job the upstream has not started (see :mod:`producers.cancel`).

        QUEUED: CANCELED at once, nothing sent upstream. PENDING upstream: a worker is
        asked to cancel the upstream task (``requested``). RUNNING: refused, with the reason.

        Raises:
            BrokerUnavailable: A worker had to be asked and the broker did not take it.
        """
        return cancel_job(self._store, self._sender, job_id)

    def cancel_batch(self, batch: str) -> list[CancelResult]:
        """Cancel every job of a batch that has not ended."""
        records = [record for record in self.records(batch) if not record.is_terminal]
        return [self.cancel(record.job_id) for record in records]

    # --- lifetime -----------------------------------------------------------------------

    def close(self) -> None:
        """Close the broker, Redis and S3 connections."""
        self._sender.close()
        self._staging.close()
        self._redis.close()

    def __enter__(self) -> WanQueue:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()
