"""The submit path: validate, stage, record, enqueue; the outbox keeps it from losing jobs.

For each job: validate against the job contract (an :class:`~workers.errors.InputInvalid`
names the field and the model's rule; nothing is recorded), stage local files and large
data URIs to S3, note the job in the outbox (:mod:`producers.outbox`), create the record
(QUEUED; one live job per ``custom_id``), send ``wanq.submit(job_id)`` to the ``submit``
queue, and clear the outbox entry. Many jobs go :data:`~producers.constants.CHUNK` at a
time: one pipelined ``create_many``, then the messages in Redis pipelines.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from itertools import islice
from typing import Any

from producers.constants import CHUNK, FIRST_CHUNK
from producers.errors import BrokerUnavailable
from producers.manifest import (
    CUSTOM_ID_FIELD,
    REQUEST_RULE,
    JobOptions,
    LineError,
    check_custom_id,
    split_custom_id,
    split_options,
)
from producers.outbox import Outbox
from producers.outcomes import SubmitReport
from producers.parking import Parker
from producers.staging import InputStager
from workers.contract import EditRequest, JobRecord, JobState, JobStore, validate_request
from workers.contract.records import DEFAULT_TENANT, Priority
from workers.contract.validation import check_request_images
from workers.errors import InputInvalid

JobInput = EditRequest | Mapping[str, Any]
"""A job as a caller gives it: a request, or its fields (a manifest line, with an optional
``custom_id``)."""
Entry = tuple[int, JobInput | None, InputInvalid | None]
"""A numbered job, or the problem of its line."""


class Submitter:
    """Puts jobs into the job store and their messages on the ``submit`` queue.

    Args:
        store: The job store.
        parker: Hands new jobs to the workers.
        staging: Stages inputs.
        outbox: Jobs recorded whose message is not known to be sent.
    """

    def __init__(
        self, store: JobStore, parker: Parker, staging: InputStager, outbox: Outbox
    ) -> None:
        self._store = store
        self._parker = parker
        self._staging = staging
        self._outbox = outbox

    def submit(
        self, job: JobInput, custom_id: str | None, batch: str, options: JobOptions
    ) -> JobRecord:
        """Submit one job (see :meth:`producers.api.WanQueue.submit`)."""
        record = self.prepare(job, custom_id, batch, options)
        self._outbox.add([record.job_id])
        stored, created = self._store.create(record)
        if not created:
            self._outbox.discard([record.job_id])
            if not self._unsent_queued([stored.job_id]):
                return stored
        self._send([stored])
        # As stored: with the creation's timestamps (or a worker's progress already).
        return self._store.get(stored.job_id) or stored

    def submit_entries(
        self, entries: Iterable[Entry], batch: str, options: JobOptions
    ) -> SubmitReport:
        """Submit numbered jobs, a chunk at a time (see ``WanQueue.submit_many``).

        After the broker fails once, the remaining jobs are still recorded but not sent
        (they are listed as unsent, for a retry or ``redrive``).
        """
        report = SubmitReport(batch)
        broker_down = False
        iterator = iter(entries)
        size = FIRST_CHUNK  # the first jobs go out at once; later chunks pipeline more
        while chunk := list(islice(iterator, size)):
            size = min(CHUNK, size * 2)
            records: list[JobRecord] = []
            for line, job, problem in chunk:
                try:
                    if problem is not None:
                        raise problem
                    if job is None:
                        raise InputInvalid("request", REQUEST_RULE, "None")
                    records.append(self.prepare(job, None, batch, options))
                except InputInvalid as exc:
                    report.refused.append(LineError(line, exc))
            if not records:
                continue
            to_send = self._record(records, report)
            if broker_down:
                report.unsent += [r.job_id for r in to_send]
                continue
            try:
                self._send(to_send)
            except BrokerUnavailable as exc:
                broker_down = True
                report.unsent += exc.job_ids
        return report

    def redrive(self, min_age_s: float) -> int:
        """Send every QUEUED job left unsent for ``min_age_s``; how many were sent."""
        sent = 0
        while ids := self._outbox.older_than(min_age_s, limit=CHUNK):
            records = self._store.get_many(ids)
            queued = [r for r in records if r is not None and r.state is JobState.QUEUED]
            self._outbox.discard(set(ids) - {r.job_id for r in queued})
            self._send(queued)
            sent += len(queued)
        return sent

    def prepare(
        self, job: JobInput, custom_id: str | None, batch: str, options: JobOptions
    ) -> JobRecord:
        """Validate and stage one job into a new record (not stored yet); a job given as
        fields may carry its own ``tenant`` and ``priority``, which win over ``options``.

        Raises:
            InputInvalid: The job breaks a rule.
            StorageUnavailable, StorageRejected: An input could not be staged.
        """
        custom_id = check_custom_id(custom_id)
        if isinstance(job, EditRequest):
            request = job
            check_request_images(request)
        else:
            fields, own_id = split_custom_id(job)
            fields, own_options = split_options(fields)
            options = own_options.over(options)
            if custom_id is not None and own_id is not None and own_id != custom_id:
                rule = "was given twice with different values"
                raise InputInvalid(CUSTOM_ID_FIELD, rule, f"{own_id!r} and {custom_id!r}")
            custom_id = custom_id or own_id
            request = validate_request(fields)
        request = self._staging.stage(request)
        return JobRecord(
            request=request,
            custom_id=custom_id,
            batch=batch,
            tenant=options.tenant or DEFAULT_TENANT,
            priority=options.priority or Priority.BULK,
        )

    def _record(self, records: Sequence[JobRecord], report: SubmitReport) -> list[JobRecord]:
        """Create the records; those to hand to the workers."""
        self._outbox.add([record.job_id for record in records])
        results = self._store.create_many(records)
        self._outbox.discard(
            record.job_id
            for record, (_, created) in zip(records, results, strict=True)
            if not created
        )
        created_ids = [job_id for job_id, created in results if created]
        existing_ids = [job_id for job_id, created in results if not created]
        report.job_ids += [job_id for job_id, _ in results]
        report.created += len(created_ids)
        report.existing += len(existing_ids)
        created = set(created_ids)
        fresh = list({r.job_id: r for r in records if r.job_id in created}.values())
        return [*fresh, *self._unsent_queued(existing_ids)]

    def _unsent_queued(self, job_ids: Sequence[str]) -> list[JobRecord]:
        """Those of these jobs still QUEUED and never handed over (a failure, a dead
        producer)."""
        unsent = self._outbox.unsent_among(job_ids)
        if not unsent:
            return []
        ids = [job_id for job_id in dict.fromkeys(job_ids) if job_id in unsent]
        records = self._store.get_many(ids)
        return [r for r in records if r is not None and r.state is JobState.QUEUED]

    def _send(self, records: Sequence[JobRecord]) -> None:
        """Hand jobs to the workers; clear the outbox of those handed over."""
        job_ids = [r.job_id for r in records]
        try:
            self._parker.park(records)
        except BrokerUnavailable as exc:
            self._outbox.discard(set(job_ids) - set(exc.job_ids))
            raise
        self._outbox.discard(job_ids)
