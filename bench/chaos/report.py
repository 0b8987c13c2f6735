"""``bench/results/chaos.json``: the scenario, the definitions, each run, and the verdict.

The issue's fields come first in each run (``jobs``, ``terminal``, ``succeeded``,
``failed_by_code``, ``lost``, ``duplicate_submits``, ``orphaned_tasks``,
``stuck_non_terminal``, ``recovery_s``, ``wall_s``), then the fault timeline and the details
that explain them.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Final

SUMMARY_FIELDS: Final = (
    "jobs",
    "terminal",
    "succeeded",
    "failed_by_code",
    "lost",
    "duplicate_submits",
    "orphaned_tasks",
    "stuck_non_terminal",
    "recovery_s",
    "wall_s",
)

DEFINITIONS: Final = {
    "terminal": "jobs whose record is in a terminal state (SUCCEEDED, FAILED, CANCELED, "
    "EXPIRED) when the run ended",
    "failed_by_code": "terminal jobs that did not succeed, by their error_code (else state)",
    "stuck_non_terminal": "jobs whose record exists but is not terminal when the run ended "
    "(every job terminal, or the deadline); stuck_where says what would still move them",
    "lost": "jobs with no record, plus stuck jobs that nothing in Redis would move any more: "
    "no broker message (queued or unacked), not in the waiting room, not admitted (only the "
    "sweeper could still drive them on)",
    "unasked_worker_exits": "worker processes that exited without being signalled (crashes), "
    "by the last critical line of their log; the harness starts them again, as a supervisor "
    "would",
    "duplicate_submits": "submits the emulator accepted minus jobs known to have reached it "
    "(a record with its task_id, or an unlinked task whose echoed prompt names the job); an "
    "unlinked task that shows no prompt counts as a duplicate",
    "orphaned_tasks": "unlinked_upstream_tasks: upstream tasks no job record follows (billed, "
    "nobody stores them; upstream.unlinked_by_kind attributes them); orphan_suspects: the job "
    "store's counter of submits that may have created such a task",
    "recovery_s": "per fault: seconds from the fault's end until the completion rate (jobs "
    "becoming terminal per second, from the records' timestamps) over the next 10 s is back to "
    "75 % of its rate over the 20 s before the fault began; if the backlog drained first, the "
    "time to the last completion; null: not recovered by the deadline, or no baseline",
    "wall_s": "from submitting the first job to the end of the run",
    "fault_end": "sigterm: the restarted worker is ready; redis_restart: Redis answers again; "
    "slow_upstream, upstream_outage, s3_outage, flaky_upstream, rate_storm, s3_slow: the "
    "window closes",
    "upstream_timeline": "the emulator's view every 5 s: tasks in flight, submits accepted, "
    "tasks finished, 429s answered (cumulative)",
    "pipeline_timeline": "wanqueue's view every 5 s, from Redis: slot leases held, messages "
    "delivered and unacknowledged (held by a worker, or by a dead one until the visibility "
    "timeout), messages queued, jobs waiting for admission, jobs admitted, jobs terminal",
    "completion_rate": "jobs becoming terminal per second, in 5 s buckets from the start",
    "sweeper": "stuck jobs the sweeper drove on, by action (its stats:sweep:* counters)",
}


def must_show(runs: Sequence[dict[str, Any]]) -> dict[str, bool]:
    """The issue's checks, over every run."""
    return {
        "lost 0": all(r["lost"] == 0 for r in runs),
        "stuck_non_terminal 0": all(r["stuck_non_terminal"] == 0 for r in runs),
        "every job terminal": all(r["terminal"] == r["jobs"] for r in runs),
        "duplicate_submits 0": all(r["duplicate_submits"] == 0 for r in runs),
        "every fault injected, figures complete": all(
            not r["timeline"]["not_started"] and not r["harness_errors"] for r in runs
        ),
    }


def summary(run: dict[str, Any]) -> dict[str, Any]:
    """The issue's fields of one run."""
    return {name: run[name] for name in SUMMARY_FIELDS}


def document(
    scenario: dict[str, Any], command: str, runs: Sequence[dict[str, Any]]
) -> dict[str, Any]:
    """The whole ``chaos.json``."""
    return {
        "command": command,
        "scenario": scenario,
        "settings": runs[0].get("settings", {}) if runs else {},
        "definitions": DEFINITIONS,
        "must_show": must_show(runs),
        "summary": [summary(run) for run in runs],
        "runs": [{"run": index + 1, **run} for index, run in enumerate(runs)],
    }


def printed(run: dict[str, Any], index: int) -> str:
    """A few lines of one run's figures for the terminal."""
    lines = [f"run {index}: " + ", ".join(f"{k}={run[k]}" for k in SUMMARY_FIELDS[:8])]
    lines.append(f"  recovery_s={run['recovery_s']} wall_s={run['wall_s']}")
    for row in run["timeline"]["faults"]:
        lines.append(
            f"  {row['fault']:<16} {row['began_t_s']:>7.1f} .. {row['ended_t_s']:>7.1f} s  "
            f"recovery {row['recovery']}  {row['details']}"
        )
    if run["timeline"]["not_started"]:
        lines.append(f"  not started: {run['timeline']['not_started']}")
    kills = sum(1 for e in run["timeline"]["workers"] if e["event"] == "sigkill")
    crashes = sum(1 for e in run["timeline"]["workers"] if e["event"] == "crash")
    lines.append(f"  sigkills={kills} unasked worker exits={crashes}")
    if run["stuck_non_terminal"]:
        lines.append(f"  stuck by state {run['stuck_by_state']} where {run['stuck_where']}")
    if run["harness_errors"]:
        lines.append(f"  harness errors: {run['harness_errors']}")
    return "\n".join(lines)
