"""What the job records say at the end of a run: outcomes, stuck jobs, stored results.

* ``terminal``, ``succeeded``, ``failed_by_code`` (every terminal job that did not succeed,
  by its error code, else its state);
* ``stuck_non_terminal``: jobs whose record exists and is not terminal at the end;
* ``lost``: jobs with no record, plus stuck jobs that nothing in Redis will move any more
  (:mod:`bench.chaos.locate`: no message, not waiting, not admitted);
* every SUCCEEDED job's objects are in the bucket (listed through moto directly, not
  through the proxy).
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any, Final

from bench.chaos.locate import NOWHERE
from bench.scenarios.wanqueue import finished_at
from workers.contract import JobRecord, JobState

SHOWN_MAX: Final = 20
"""Most stuck or lost jobs described in the report."""
LOG_LINES_MAX: Final = 8
"""Most worker log lines quoted per described job."""
EXAMPLES_MAX: Final = 3
EXAMPLE_CHARS: Final = 240
"""Distinct error messages quoted per failure code, and their length."""


def outcomes(ids: Sequence[str], records: Sequence[JobRecord | None]) -> dict[str, Any]:
    """The outcome figures of a run's records (``records`` in the order of ``ids``)."""
    present = [r for r in records if r is not None]
    terminal = [r for r in present if r.is_terminal]
    failed = Counter(
        r.error_code or r.state.value for r in terminal if r.state is not JobState.SUCCEEDED
    )
    examples: dict[str, list[str]] = {}
    for r in terminal:
        if r.state is not JobState.SUCCEEDED and r.error_message:
            shown = examples.setdefault(r.error_code or r.state.value, [])
            message = r.error_message[:EXAMPLE_CHARS]
            if message not in shown and len(shown) < EXAMPLES_MAX:
                shown.append(message)
    return {
        "jobs": len(ids),
        "terminal": len(terminal),
        "succeeded": sum(1 for r in terminal if r.state is JobState.SUCCEEDED),
        "failed_by_code": dict(failed.most_common()),
        "failure_examples": examples,
        "missing_records": len(ids) - len(present),
        "stuck_by_state": dict(Counter(r.state.value for r in present if not r.is_terminal)),
    }


def completion_times(records: Iterable[JobRecord | None]) -> list[float]:
    """When each terminal job became terminal (epoch s), sorted."""
    return sorted(t for r in records if r is not None and (t := finished_at(r)) is not None)


def lost_ids(
    ids: Sequence[str], records: Sequence[JobRecord | None], where: Mapping[str, list[str]]
) -> list[str]:
    """Jobs without a record, and stuck jobs found nowhere."""
    missing = [job_id for job_id, r in zip(ids, records, strict=True) if r is None]
    return missing + [job_id for job_id, places in where.items() if places == [NOWHERE]]


def describe(
    record: JobRecord | None, job_id: str, places: list[str], start: float, logs: list[str]
) -> dict[str, Any]:
    """One stuck or lost job for the report: its record's story and where it stands."""
    if record is None:
        return {"job_id": job_id, "record": None, "where": places}

    def rel(t: float | None) -> float | None:
        return None if t is None else round(t - start, 2)

    return {
        "job_id": job_id,
        "state": record.state.value,
        "where": places,
        "account": record.account,
        "task_id": record.task_id,
        "attempts": record.attempts,
        "submit_errors": record.submit_errors,
        "polls": record.polls,
        "intent_t_s": rel(record.intent_at),
        "timestamps_t_s": {state.value: rel(at) for state, at in record.timestamps.items()},
        "updated_t_s": rel(record.updated_at),
        "error_code": record.error_code,
        "log": logs,
    }


def log_lines(log_dir: Path, job_ids: Iterable[str]) -> dict[str, list[str]]:
    """The worker log lines that name each job (the last few per job)."""
    wanted = set(job_ids)
    found: dict[str, list[str]] = {job_id: [] for job_id in wanted}
    if not wanted:
        return found
    pattern = re.compile("|".join(sorted(wanted)))
    for path in sorted(log_dir.glob("chaos*.log")):
        with path.open(errors="replace") as log:
            for line in log:
                for match in pattern.finditer(line):
                    lines = found[match.group(0)]
                    lines.append(f"{path.stem}: {line.strip()[:300]}")
                    del lines[:-LOG_LINES_MAX]
    return found


def storage_check(records: Iterable[JobRecord | None], keys: set[str]) -> dict[str, int]:
    """SUCCEEDED jobs whose every object is in the bucket, and those missing some."""
    succeeded = [r for r in records if r is not None and r.state is JobState.SUCCEEDED]
    missing = sum(1 for r in succeeded if not r.object_keys or not set(r.object_keys) <= keys)
    return {"succeeded_jobs_checked": len(succeeded), "succeeded_without_objects": missing}


def bucket_keys(client: Any, bucket: str, prefix: str) -> set[str]:
    """Every object key under ``prefix`` in ``bucket``."""
    keys: set[str] = set()
    for page in client.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix):
        keys.update(item["Key"] for item in page.get("Contents", []))
    return keys
