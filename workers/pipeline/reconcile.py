"""Finding the task of an interrupted submit, or giving up on it without resubmitting.

A job found SUBMITTING with a submit intent and no task id was interrupted mid-submit (a
worker died, or the answer was lost). The upstream has no idempotency key and bills every
task, so submitting again could bill twice. Instead, once the outcome has settled and every
normal submit of the same window has had time to link its task
(:func:`config.celery.reconcile_after_s`: the client's timeouts, a clock margin and one more
read timeout after the intent), the account's tasks of the job's model created in the window
``[intent - margin, intent + settle]`` are listed:

* a listed task already linked to this job (``task-owner``) is adopted;
* else, if exactly one listed task is linked to no job, it has a creation time, and no other
  job's submit intent of the same account and model is still open around the window
  (:mod:`workers.intents`), it is claimed (atomically, so two reconciling jobs cannot take the
  same one) and adopted: by elimination, it can only be this job's;
* else (none; several unclaimed; one without a creation time; or another interrupted submit
  in the window that could own it) the job ends FAILED with ``SubmitOutcomeUnknown`` and the
  ``orphan_suspects`` counter goes up. It is never submitted again.

Elimination assumes the account has no other clients creating tasks of the model in the
window; a deployment that shares its account with other software should expect such tasks
to be adopted wrongly or counted as orphan suspects.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta, timezone

from config.celery import reconcile_after_s, submit_settle_s
from workers.contract import JobRecord, JobState
from workers.contract.jobstore import ORPHAN_SUSPECTS
from workers.contract.names import TASK_SUBMIT
from workers.pipeline.constants import (
    RECONCILE_MAX_PAGES,
    RECONCILE_PAGE_SIZE,
    SUBMIT_OUTCOME_UNKNOWN,
)
from workers.pipeline.outcomes import finish
from workers.runtime import Runtime
from workers.upstream import TaskSummary

_log = logging.getLogger(__name__)


def reconcile(rt: Runtime, job: JobRecord) -> tuple[str, str | None] | None:
    """Identify the task an interrupted submit created.

    Returns:
        ``(task_id, request_id)`` of the adopted task; None when the job was scheduled to
        come back once the outcome settles, or was ended as ``SubmitOutcomeUnknown``.

    Raises:
        RetryableError: Listing the tasks failed in a way that may pass.
    """
    assert job.intent_at is not None
    # begin_submit records the account with the intent; a record without one is the first
    # account's (the only one before accounts existed).
    account = job.account or next(iter(rt.upstreams))
    model = job.request.model.value
    settle_s = submit_settle_s(rt.settings)
    wait_s = job.intent_at + reconcile_after_s(rt.settings) - rt.clock()
    if wait_s > 0:
        rt.scheduler.later(TASK_SUBMIT, job.job_id, countdown_s=wait_s)
        return None
    since = job.intent_at - rt.settings.pipeline.reconcile_margin_s
    until = job.intent_at + settle_s
    # Order matters (see workers.intents): list, then open intents, then owners.
    listed = _listed(rt, account, model, since, until)
    if listed is None:
        _give_up(rt, job, "too many tasks listed around the submit")
        return None
    rivals = rt.intents.overlapping(account, model, since - settle_s, until, exclude=job.job_id)
    owners = rt.store.task_owners([task.task_id for task in listed])
    for task, owner in zip(listed, owners, strict=True):
        if owner == job.job_id:
            return task.task_id, task.request_id
    unclaimed = [task for task, owner in zip(listed, owners, strict=True) if owner is None]
    if len(unclaimed) != 1:
        _give_up(rt, job, f"{len(unclaimed)} unclaimed upstream tasks around the submit")
        return None
    [task] = unclaimed
    if task.gmt_create is None:
        _give_up(rt, job, f"upstream task {task.task_id} has no creation time")
        return None
    if rivals:
        shown = ", ".join(sorted(rivals)[:3])
        _give_up(rt, job, f"other submits in progress around it ({shown}) may own it")
        return None
    if not rt.store.claim_task(task.task_id, job.job_id):
        _give_up(rt, job, f"upstream task {task.task_id} was claimed by another job")
        return None
    _log.warning("job %s adopted task %s after reconciling", job.job_id, task.task_id)
    return task.task_id, task.request_id


def _give_up(rt: Runtime, job: JobRecord, why: str) -> None:
    rt.store.incr_stat(ORPHAN_SUSPECTS)
    message = f"the submit was interrupted and its task cannot be identified: {why}"
    finish(rt, job, JobState.FAILED, code=SUBMIT_OUTCOME_UNKNOWN, message=message)


def _listed(
    rt: Runtime, account: str, model: str, since: float, until: float
) -> list[TaskSummary] | None:
    """The model's tasks created in ``[since, until]`` (None: more than can be listed)."""
    offset_s = rt.settings.pipeline.reconcile_utc_offset_s
    found: list[TaskSummary] = []
    page_no = 1
    while True:
        page = rt.upstream_for(account).list_tasks(
            page_no=page_no,
            page_size=RECONCILE_PAGE_SIZE,
            model=model,
            start_time=_wall_clock(since - 1, offset_s),
            end_time=_wall_clock(until + 1, offset_s),
        )
        for task in page.tasks:
            if task.model_name not in (None, model):
                continue
            created = task.gmt_create.timestamp() if task.gmt_create is not None else None
            if created is None or since <= created <= until:
                found.append(task)
        if page_no >= page.total_page or not page.tasks:
            return found
        page_no += 1
        if page_no > RECONCILE_MAX_PAGES:
            return None


def _wall_clock(epoch_s: float, offset_s: int | None) -> datetime:
    """A naive wall-clock time as the upstream reads list filters (local, or at an offset)."""
    if offset_s is None:
        return datetime.fromtimestamp(epoch_s)
    return datetime.fromtimestamp(epoch_s, timezone(timedelta(seconds=offset_s))).replace(
        tzinfo=None
    )
