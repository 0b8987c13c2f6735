"""The upstream's ledger against the job records: what was billed twice, what nobody follows.

The emulator counts every accepted submit (``/admin/stats``) and lists every task it created
(``GET /api/v1/tasks``). Each task is matched to a job:

* **linked**: some job record names it as its ``task_id``;
* **unlinked** (an *orphaned task*: billed, followed by no job): it is attributed, when the
  upstream shows its prompt (a SUCCEEDED task of the prompt/images protocol echoes
  ``orig_prompt``; every job of the suite has a prompt of its own), to the job that sent it:

  - ``of_job_without_task``: the job never learned a task id (an ambiguous submit it gave
    up on, ``SubmitOutcomeUnknown``): an orphan, billed once;
  - ``of_job_with_another_task``: the job follows another task: **billed twice**;

  a task that shows no prompt (FAILED, CANCELED, still running) is matched by time
  (:func:`by_time`) to a job that has no task id, no attributed task, and whose submit began
  just before the task was created (``of_job_without_task_by_time``: an orphan by
  elimination), else it stays ``unattributed``.

``duplicate_submits`` = accepted submits - jobs known to have reached the upstream (linked,
attributed, or matched by time), so an unattributed task counts as a duplicate;
``duplicate_submits_upper_bound`` counts the tasks matched only by time as duplicates too.

Reading the list spends the account's query budget and meets the emulator's injected faults,
so both are turned off first (:func:`quiet`): call :func:`upstream_ledger` once the workers
have stopped.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Final

import httpx

from bench.scenarios.measure import upstream_counts
from emulator.config.faults import GROUPS, FaultRates
from workers.contract import JobRecord, JobState

LIST_PATH: Final = "/api/v1/tasks"
PAGE_SIZE: Final = 100
REQUEST_TIMEOUT_S: Final = 10.0
ATTEMPTS: Final = 5
RETRY_PAUSE_S: Final = 0.5
SHOWN_MAX: Final = 20
"""Most task ids listed per kind of orphan in the report."""
OF_JOB_WITHOUT_TASK: Final = "of_job_without_task"
BY_TIME: Final = "of_job_without_task_by_time"
OF_JOB_WITH_ANOTHER_TASK: Final = "of_job_with_another_task"
UNATTRIBUTED: Final = "unattributed"
ORPHAN_KINDS: Final = (OF_JOB_WITHOUT_TASK, BY_TIME, OF_JOB_WITH_ANOTHER_TASK, UNATTRIBUTED)


@dataclass
class Ledger:
    """The upstream's ledger against the records (see the module's doc).

    Attributes:
        submits: Submits the emulator accepted (tasks created).
        listed: Tasks the task list shows.
        linked: Tasks some job record follows.
        jobs_submitted: Jobs known to have reached the upstream (by their record, by the
            prompt their task echoes, or matched by time).
        jobs_proven: The same without the matches by time.
        orphans: Unlinked task ids by kind.
        shared_tasks: Task ids that more than one record names.
        statuses: Unlinked tasks by upstream status.
    """

    submits: int
    listed: int
    linked: int
    jobs_submitted: int
    jobs_proven: int
    orphans: dict[str, list[str]] = field(default_factory=dict)
    shared_tasks: list[str] = field(default_factory=list)
    statuses: dict[str, int] = field(default_factory=dict)

    @property
    def duplicate_submits(self) -> int:
        """Accepted submits beyond one per job that reached the upstream."""
        return self.submits - self.jobs_submitted

    @property
    def duplicate_submits_upper_bound(self) -> int:
        """The same, counting every task matched only by time as a duplicate."""
        return self.submits - self.jobs_proven

    @property
    def unlinked(self) -> int:
        """Upstream tasks no job follows."""
        return sum(len(ids) for ids in self.orphans.values())

    def as_dict(self) -> dict[str, Any]:
        """The ledger as JSON."""
        return {
            "upstream_submits": self.submits,
            "upstream_tasks_listed": self.listed,
            "linked_tasks": self.linked,
            "jobs_submitted": self.jobs_submitted,
            "duplicate_submits": self.duplicate_submits,
            "duplicate_submits_upper_bound": self.duplicate_submits_upper_bound,
            "unlinked_tasks": self.unlinked,
            "unlinked_by_kind": {kind: len(ids) for kind, ids in self.orphans.items()},
            "unlinked_by_status": self.statuses,
            "unlinked_task_ids": {k: ids[:SHOWN_MAX] for k, ids in self.orphans.items() if ids},
            "tasks_named_by_several_jobs": self.shared_tasks[:SHOWN_MAX],
        }


def quiet(admin: httpx.Client) -> None:
    """Turn the emulator's injected faults off and its accounts' query limits (``query_qps``
    0), so that reading the ledger is neither refused nor throttled."""
    response = admin.get("/admin/config")
    response.raise_for_status()
    config = response.json()
    accounts = [{**a, "query_qps": 0} for a in config["accounts"]]
    off = {name: 0.0 for name in FaultRates.model_fields if name.endswith("_rate")}
    faults: dict[str, Any] = {group: off for group in GROUPS}
    patch = {"accounts": accounts, "faults": {**faults, "outages": []}}
    admin.patch("/admin/config", json=patch).raise_for_status()


def _get(api: httpx.Client, path: str, params: dict[str, Any] | None = None) -> Any:
    """``GET path`` as JSON, tried again on a transport error or a 5xx."""
    for attempt in range(1, ATTEMPTS + 1):
        try:
            response = api.get(path, params=params)
            if response.status_code < 500 or attempt == ATTEMPTS:
                response.raise_for_status()
                return response.json()
        except httpx.TransportError:
            if attempt == ATTEMPTS:
                raise
        time.sleep(RETRY_PAUSE_S)
    raise AssertionError("unreachable")


def list_tasks(api: httpx.Client) -> list[dict[str, Any]]:
    """Every task of the account of ``api``'s key (paged, newest first)."""
    tasks: list[dict[str, Any]] = []
    page_no, total_pages = 1, 1
    while page_no <= total_pages:
        page = _get(api, LIST_PATH, {"page_no": page_no, "page_size": PAGE_SIZE})
        tasks += page["data"]
        total_pages = int(page["total_page"])
        page_no += 1
    return tasks


def shown_prompt(api: httpx.Client, task_id: str) -> str | None:
    """The prompt the upstream echoes for a task (SUCCEEDED prompt/images tasks), if any."""
    body = _get(api, f"/api/v1/tasks/{task_id}")
    for result in body.get("output", {}).get("results") or []:
        if result.get("orig_prompt"):
            return str(result["orig_prompt"])
    return None


def submit_began(record: JobRecord) -> float | None:
    """When the job's (last) submit attempt began: its intent, else its SUBMITTING stamp."""
    return record.intent_at or record.timestamps.get(JobState.SUBMITTING)


def by_time(
    tasks: Sequence[tuple[str, float]],
    candidates: Sequence[tuple[str, float]],
    window_s: tuple[float, float],
) -> dict[str, str]:
    """Match tasks (id, created) to distinct candidate jobs (id, submit began) whose submit
    began within ``window_s`` = (before, after) of the task's creation: a job's task is
    created at most ``before`` seconds after its submit began and at least ``after``
    seconds before it (clock margin). Greedy, earliest task first, nearest job first.

    Returns:
        Task id -> job id, for the tasks matched.
    """
    before_s, after_s = window_s
    free = dict(candidates)
    matched: dict[str, str] = {}
    for task_id, created in sorted(tasks, key=lambda item: item[1]):
        fits = [
            (abs(created - began), job_id)
            for job_id, began in free.items()
            if created - before_s <= began <= created + after_s
        ]
        if fits:
            job_id = min(fits)[1]
            matched[task_id] = job_id
            del free[job_id]
    return matched


def upstream_ledger(
    emulator_root: str,
    admin: httpx.Client,
    api_key: str,
    records: Sequence[JobRecord],
    window_s: tuple[float, float],
) -> Ledger:
    """Match the emulator's tasks to the job records (see the module's doc).

    Args:
        emulator_root: The emulator's root URL.
        admin: A client of its admin API.
        api_key: A key of the account whose tasks are matched.
        records: The run's job records.
        window_s: How long before and after a task's creation its submit may have begun
            (``by_time``).
    """
    stats = admin.get("/admin/stats")
    stats.raise_for_status()
    submits = upstream_counts(stats.json())["submits"]
    quiet(admin)
    by_task = Counter(r.task_id for r in records if r.task_id is not None)
    job_by_prompt = {r.request.prompt: r for r in records}
    headers = {"Authorization": f"Bearer {api_key}"}
    orphans: dict[str, list[str]] = {kind: [] for kind in ORPHAN_KINDS}
    statuses: Counter[str] = Counter()
    attributed: set[str] = set()
    unknown: list[tuple[str, float]] = []
    with httpx.Client(base_url=emulator_root, headers=headers, timeout=REQUEST_TIMEOUT_S) as api:
        tasks = list_tasks(api)
        for task in tasks:
            task_id = str(task["task_id"])
            if task_id in by_task:
                continue
            statuses[str(task["status"])] += 1
            prompt = shown_prompt(api, task_id)
            job = job_by_prompt.get(prompt) if prompt is not None else None
            if job is None:
                unknown.append((task_id, int(task["gmt_create"]) / 1000))
            elif job.task_id is None:
                orphans[OF_JOB_WITHOUT_TASK].append(task_id)
                attributed.add(job.job_id)
            else:
                orphans[OF_JOB_WITH_ANOTHER_TASK].append(task_id)
    candidates = [
        (r.job_id, began)
        for r in records
        if r.task_id is None and r.job_id not in attributed and (began := submit_began(r))
    ]
    inferred = by_time(unknown, candidates, window_s)
    orphans[BY_TIME] = sorted(inferred)
    orphans[UNATTRIBUTED] = sorted(task_id for task_id, _ in unknown if task_id not in inferred)
    with_task = {r.job_id for r in records if r.task_id is not None}
    return Ledger(
        submits=submits,
        listed=len(tasks),
        linked=sum(1 for t in tasks if str(t["task_id"]) in by_task),
        jobs_submitted=len(with_task | attributed | set(inferred.values())),
        jobs_proven=len(with_task | attributed),
        orphans=orphans,
        shared_tasks=sorted(t for t, n in by_task.items() if n > 1),
        statuses=dict(statuses),
    )
