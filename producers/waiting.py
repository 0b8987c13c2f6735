"""Waiting for jobs to end: reading Redis with a deadline, never a fixed sleep."""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Callable, Iterable, Mapping

from producers.constants import (
    WAIT_POLL_INTERVAL_MAX_S,
    WAIT_POLL_INTERVAL_S,
    WAIT_READ_COST_FACTOR,
)
from producers.errors import JobNotFound
from workers.contract import JobRecord, JobState, JobStore

ProgressCallback = Callable[[Mapping[JobState, int]], None]
"""Called after each read with the count of the jobs in each state."""


def wait_for(
    store: JobStore,
    job_ids: Iterable[str],
    timeout_s: float,
    on_progress: ProgressCallback | None = None,
) -> list[JobRecord]:
    """Wait until every job is terminal, or the timeout passes.

    Only the jobs still running are read again; the pause between reads starts at
    :data:`~producers.constants.WAIT_POLL_INTERVAL_S` and grows with the cost of a read
    (many jobs), up to :data:`~producers.constants.WAIT_POLL_INTERVAL_MAX_S`.

    Returns:
        The latest record of each job, in order; when the timeout passed, some are not
        terminal.

    Raises:
        JobNotFound: A job has no record.
    """
    ids = list(job_ids)
    deadline = time.monotonic() + timeout_s
    latest: dict[str, JobRecord] = {}
    running = list(dict.fromkeys(ids))
    while True:
        started = time.monotonic()
        for job_id, record in zip(running, store.get_many(running), strict=True):
            if record is not None:
                latest[job_id] = record
            elif job_id not in latest:
                raise JobNotFound(job_id)
        read_s = time.monotonic() - started
        running = [job_id for job_id in running if not latest[job_id].is_terminal]
        if on_progress is not None:
            on_progress(Counter(record.state for record in latest.values()))
        left_s = deadline - time.monotonic()
        if not running or left_s <= 0:
            return [latest[job_id] for job_id in ids]
        pause_s = max(WAIT_POLL_INTERVAL_S, read_s * WAIT_READ_COST_FACTOR)
        time.sleep(min(pause_s, WAIT_POLL_INTERVAL_MAX_S, left_s))
