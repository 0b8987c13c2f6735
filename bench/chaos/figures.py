"""The JSON figures of one chaos run, from what the run collected.

The issue's fields first (see :mod:`bench.chaos.report` for their definitions), then what
explains them: the fault timeline with each fault's recovery, the workers' events, the stuck
jobs and where they stand, the upstream's ledger, the stored objects, and three timelines
(completions, the emulator's view, wanqueue's view).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Final

from bench.chaos import audit
from bench.chaos.crew import Crew
from bench.chaos.drive import Driven, FaultRun
from bench.chaos.ledger import Ledger
from bench.chaos.recovery import rate_series, recovery
from workers.contract import JobRecord

TIMELINE_STEP_S: Final = 5.0
TIMELINE_FIGURES: Final = ("in_flight", "submits_accepted", "finished", "throttled")


def of_run(
    *,
    ids: list[str],
    records: list[JobRecord | None],
    where: dict[str, list[str]],
    orphan_suspects: int,
    ledger: Ledger | None,
    keys: set[str] | None,
    driven: Driven,
    crew: Crew,
    started: float,
    run_dir: Path,
    errors: list[str],
) -> dict[str, Any]:
    """The JSON figures of one run."""
    outcome = audit.outcomes(ids, records)
    times = audit.completion_times(records)
    done_at = times[-1] if driven.all_terminal and times else None
    lost = audit.lost_ids(ids, records, where)
    shown = (lost + [j for j in where if j not in lost])[: audit.SHOWN_MAX]
    logs = audit.log_lines(run_dir, shown)
    by_id = {r.job_id: r for r in records if r is not None}
    fault_rows = [_fault_row(f, times, done_at, started) for f in driven.faults]
    wall_s = driven.ended_at - started
    return {
        "jobs": outcome["jobs"],
        "terminal": outcome["terminal"],
        "succeeded": outcome["succeeded"],
        "failed_by_code": outcome["failed_by_code"],
        "lost": len(lost),
        "duplicate_submits": ledger.duplicate_submits if ledger else None,
        "orphaned_tasks": {
            "unlinked_upstream_tasks": ledger.unlinked if ledger else None,
            "orphan_suspects": orphan_suspects,
        },
        "stuck_non_terminal": len(where),
        "recovery_s": {row["fault"]: row["recovery"]["recovery_s"] for row in fault_rows},
        "wall_s": round(wall_s, 1),
        "all_terminal": driven.all_terminal,
        "unasked_worker_exits": _exits(crew),
        "timeline": {
            "faults": fault_rows,
            "not_started": driven.not_started,
            "workers": [event.as_dict(started) for event in crew.events],
        },
        "failure_examples": outcome["failure_examples"],
        "missing_records": outcome["missing_records"],
        "stuck_by_state": outcome["stuck_by_state"],
        "stuck_where": _count_places(where),
        "stuck_jobs": [
            audit.describe(by_id.get(job_id), job_id, where.get(job_id, []), started, logs[job_id])
            for job_id in shown
        ],
        "upstream": ledger.as_dict() if ledger else None,
        "storage": audit.storage_check(records, keys) if keys is not None else None,
        "completion_rate": rate_series(times, started, max(driven.ended_at, started + 1)),
        "harness_errors": errors,
    }


def upstream_timeline(
    samples: list[dict[str, Any]], start: float, every_s: float = TIMELINE_STEP_S
) -> list[dict[str, Any]]:
    """The emulator's view every ``every_s``: tasks in flight, submits accepted, tasks
    finished and 429s answered (summed over accounts), from the sampler's timeline."""
    rows: list[dict[str, Any]] = []
    next_t = 0.0
    for sample in samples:
        t = sample["epoch_s"] - start
        if t < next_t:
            continue
        figures = sample["accounts"].values()
        row = {name: sum(int(f[name]) for f in figures) for name in TIMELINE_FIGURES}
        rows.append({"t_s": round(t, 1), **row})
        next_t = t + every_s
    return rows


def _exits(crew: Crew) -> dict[str, int]:
    """Worker exits nobody asked for (crashes), by the last critical line of their log
    (timestamp cut off)."""
    counts: dict[str, int] = {}
    for event in crew.events:
        if event.kind == "crash":
            reason = (event.reason or "no critical line in the log").split("] ", 1)[-1]
            counts[reason] = counts.get(reason, 0) + 1
    return counts


def _count_places(where: dict[str, list[str]]) -> dict[str, int]:
    counts: dict[str, int] = {}
    for places in where.values():
        for place in places:
            counts[place] = counts.get(place, 0) + 1
    return counts


def _fault_row(
    fault: FaultRun, times: list[float], done_at: float | None, start: float
) -> dict[str, Any]:
    ended = fault.ended if fault.ended is not None else fault.began
    measured = recovery(times, began=fault.began, ended=ended, done_at=done_at)
    return {
        "fault": fault.name,
        "began_t_s": round(fault.began - start, 2),
        "ended_t_s": round(ended - start, 2),
        "duration_s": round(ended - fault.began, 2),
        "cut_short": fault.cut_short,
        "details": fault.fault.details(),
        "recovery": measured.as_dict(),
    }
