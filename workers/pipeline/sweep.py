"""The sweeper: finds jobs stuck in a non-terminal state and drives them on, or ends them.

Nothing else moves a job whose next message is gone: a message taken by a worker that was
killed before the broker held it as unacknowledged (celery/celery#7950), a crash or a Redis
hiccup between a change of state and the send of the next step, a bug. So every
``sweeper.interval_s`` one worker process of the fleet (a Redis lock), from its dispatcher's
thread, takes the next ``sweeper.batch_size`` jobs of the live index
(:mod:`workers.contract.live`, oldest change of state first), reads a few fields of each, and
acts on those that went without moving for longer than their state's next step may take,
plus ``sweeper.margin_s`` for queue delays and clock skew:

* **Waiting** (QUEUED, or SUBMITTING with neither a submit in progress nor a task: handed
  back to wait again): stuck when two sweeps, at least ``sweeper.margin_s`` apart, find it
  neither in the waiting room nor admitted (one finding could be the instant between a
  submit taking it from the admitted jobs and recording its intent); it is parked again,
  first in its tenant's line (``reparked``). Admitted jobs whose submit never
  started are the dispatcher's own chore (``limiter.admitted_timeout_s``).
* **SUBMITTING with a submit intent**: stuck when the intent is older than the latest moment
  the submit path reconciles by itself (an ambiguous answer comes within
  :func:`config.celery.submit_settle_s`, its reconcile :func:`config.celery.reconcile_after_s`
  later); ``wanq.submit`` is sent, and the reconcile path (:mod:`workers.pipeline.reconcile`)
  adopts the task the submit created or ends the job ``SubmitOutcomeUnknown``. It never
  submits blindly (``reconciled``).
* **PENDING, RUNNING**: stuck when the record has not changed (each poll's token swap stamps
  it) for longer than the longest countdown a poll is sent with
  (:func:`config.celery.longest_countdown_s`); the poll token is swapped twice, so that neither
  the silent chain's token nor the one before it is accepted any more (a late message of that
  chain is dropped), and a poll is sent now with the new one (``repolled``).
* **STORING**: stuck when the record has not changed for ``sweeper.store_stall_s``;
  ``wanq.store`` is sent again (``restored``).

Past its deadline a job ends FAILED ``Stuck`` (``failed``): a waiting job
``sweeper.waiting_deadline_s`` after its creation (a big backlog legitimately waits for hours
and waiting costs nothing, so that bound is generous), any other job
``sweeper.upstream_deadline_s`` after its submit began (STORING: after its task succeeded),
when the upstream has forgotten its task and results. A job caught with a submit in progress
ends ``SubmitOutcomeUnknown`` instead and counts as an orphan suspect, as in
:func:`workers.pipeline.outcomes.fail`. Listed jobs whose record is terminal or gone are
dropped from the index (``dropped``), as are those whose record cannot be read
(``unreadable``, logged as an error). Every :data:`LIVE_BACKFILL_EVERY_S` the sweeps also list
the live jobs that were written without the index, a page at a time
(:mod:`workers.contract.backfill`).

Each action is one the pipeline takes anyway when a message comes twice, so a job taken for
stuck by mistake (a slow queue) costs a message, never a second submit: parking is
idempotent, a reconcile never resubmits blindly, one poll chain survives a token swap, and a
store skips what it stored. A driven job's score in the index moves on to the sweep's time, so
it is looked at again only once its state's time has passed again. Each action counts in
``{prefix}stats:sweep:{action}`` (:data:`SWEEP_STAT`).

"Now" is the pipeline's clock (``Runtime.clock``) compared with the record's stamps (the
Redis clock), as the reconcile path does; the margin covers the skew.
"""

from __future__ import annotations

import logging
import secrets
from collections import Counter
from dataclasses import dataclass
from enum import StrEnum
from typing import Final, NamedTuple

from config.celery import longest_countdown_s, reconcile_after_s, submit_settle_s
from config.settings import Settings
from workers.contract import TERMINAL_STATES, JobState
from workers.contract.jobstore import ORPHAN_SUSPECTS
from workers.contract.live import LiveJob, Unreadable
from workers.contract.names import TASK_STORE, TASK_SUBMIT
from workers.pipeline.constants import (
    LIVE_BACKFILL_EVERY_S,
    POLL_TOKEN_BYTES,
    STUCK,
    SUBMIT_OUTCOME_UNKNOWN,
)
from workers.pipeline.outcomes import release, schedule_poll
from workers.pipeline.submit import park
from workers.runtime import Runtime

_log = logging.getLogger(__name__)

SWEEP_STAT: Final = "sweep:{action}"
"""Counter of one sweep action (``{prefix}stats:sweep:{action}``, see :class:`Action`)."""


class Action(StrEnum):
    """What a sweep does to a listed job; the value names its counter."""

    PARK = "reparked"
    """Park it again, if it is neither waiting nor admitted."""
    RECONCILE = "reconciled"
    """Send ``wanq.submit``: its interrupted submit is reconciled."""
    POLL = "repolled"
    """Swap its poll token and poll now."""
    STORE = "restored"
    """Send ``wanq.store`` again."""
    FAIL = "failed"
    """End it FAILED, past its deadline."""
    DROP = "dropped"
    """Take it out of the index: its record is terminal or gone."""
    UNREADABLE = "unreadable"
    """Take it out of the index: no step of the pipeline can follow its record (logged)."""


@dataclass(frozen=True)
class Thresholds:
    """How long each state may go without moving, and how long a job may live (seconds):
    what the sweeper's settings mean for each rule.

    Attributes:
        waiting_grace_s: A waiting job younger than this (since its last change) is left
            alone, even if it is not parked yet (its producer parks it after creating it).
        reconcile_s: A submit intent older than this is reconciled.
        poll_silence_s: A poll chain silent for this long is replaced.
        store_stall_s: A store silent for this long is sent again.
        waiting_s: A waiting job's deadline, from its creation.
        upstream_s: Any other job's deadline, from its submit (STORING: its task's success).
    """

    waiting_grace_s: float
    reconcile_s: float
    poll_silence_s: float
    store_stall_s: float
    waiting_s: float
    upstream_s: float

    @classmethod
    def of(cls, settings: Settings) -> Thresholds:
        """The thresholds of these settings (see :class:`config.settings.SweeperSettings`)."""
        sweeper = settings.sweeper
        return cls(
            waiting_grace_s=sweeper.margin_s,
            reconcile_s=submit_settle_s(settings) + reconcile_after_s(settings) + sweeper.margin_s,
            poll_silence_s=longest_countdown_s(settings) + sweeper.margin_s,
            store_stall_s=sweeper.store_stall_s,
            waiting_s=sweeper.waiting_deadline_s,
            upstream_s=sweeper.upstream_deadline_s,
        )

    @property
    def quiet_min_s(self) -> float:
        """A job whose state changed more recently than this is not looked at."""
        return min(self.waiting_grace_s, self.reconcile_s, self.poll_silence_s, self.store_stall_s)


class Deadline(NamedTuple):
    """A job's deadline: from when (epoch s), how long (s), and what started it."""

    start_s: float
    limit_s: float
    since: str


def waits_for_admission(state: JobState, intent_at: float | None, task_id: str | None) -> bool:
    """Whether a job in this state waits for admission: QUEUED, or SUBMITTING with no submit
    in progress and no task (a submit that provably created nothing handed it back)."""
    return state is JobState.QUEUED or (
        state is JobState.SUBMITTING and intent_at is None and task_id is None
    )


def deadline(job: LiveJob, thresholds: Thresholds) -> Deadline:
    """When a live job's time runs out (see the module's doc)."""
    if waits_for_admission(job.state, job.intent_at, job.task_id):
        return Deadline(job.created_at, thresholds.waiting_s, "its creation")
    if job.state is JobState.STORING:
        start_s, since = job.storing_at, "its task succeeded"
    elif job.state is JobState.SUBMITTING:
        start_s, since = job.intent_at, "its submit began"
    else:
        start_s, since = job.pending_at, "its task was created"
    return Deadline(
        start_s if start_s is not None else job.changed_at, thresholds.upstream_s, since
    )


def decide(job: LiveJob | None, now_s: float, thresholds: Thresholds) -> Action | None:
    """What a sweep does to a listed job at ``now_s``; None: nothing, it moves.

    :attr:`Action.PARK` is a candidate only: the sweep parks the job again only if it is
    neither in the waiting room nor admitted.
    """
    if job is None or job.state in TERMINAL_STATES:
        return Action.DROP
    due = deadline(job, thresholds)
    if now_s - due.start_s > due.limit_s:
        return Action.FAIL
    quiet_s = now_s - max(job.changed_at, job.updated_at or 0.0, job.intent_at or 0.0)
    if waits_for_admission(job.state, job.intent_at, job.task_id):
        stall_s, action = thresholds.waiting_grace_s, Action.PARK
    elif job.state is JobState.SUBMITTING:
        stall_s, action = thresholds.reconcile_s, Action.RECONCILE
    elif job.state is JobState.STORING:
        stall_s, action = thresholds.store_stall_s, Action.STORE
    else:
        stall_s, action = thresholds.poll_silence_s, Action.POLL
    return action if quiet_s > stall_s else None


class Sweeper:
    """Sweeps the live jobs (see the module's doc); one per worker process, run by its
    dispatcher as a chore (:class:`~workers.limits.dispatcher.Chore`).

    Args:
        rt: The process's runtime.
    """

    def __init__(self, rt: Runtime) -> None:
        self._rt = rt
        self._thresholds = Thresholds.of(rt.settings)
        self._owner = secrets.token_hex(8)

    def sweep(self) -> Counter[Action] | None:
        """Sweep the next page of live jobs, unless another process swept this interval.

        Returns:
            How many jobs each action was taken on; None when it was not this process's turn.

        Raises:
            WanqError: Redis or the broker failed; the rest of the page waits for the next
                pass (what was done is counted).
        """
        rt, settings = self._rt, self._rt.settings.sweeper
        live = rt.store.live
        if not live.claim_sweep(self._owner, max(1, round(settings.interval_s * 1000))):
            return None
        now_s = rt.clock()
        listed = rt.store.backfill.step(now_s, settings.batch_size, LIVE_BACKFILL_EVERY_S)
        if listed:
            _log.warning("sweep: listed %d live jobs that were written without the index", listed)
        live.forget_unplaced_before(now_s - self._thresholds.waiting_s)
        page = live.next_page((now_s - self._thresholds.quiet_min_s) * 1000, settings.batch_size)
        ids = [job_id for job_id, _ in page]
        plan: list[tuple[str, LiveJob | None, Action | None]] = []
        unreadable: list[Unreadable] = []
        for job_id, view in zip(ids, live.read(ids, [s for _, s in page]), strict=True):
            if isinstance(view, Unreadable):
                unreadable.append(view)
            else:
                plan.append((job_id, view, decide(view, now_s, self._thresholds)))
        done: Counter[Action] = Counter()
        try:
            for bad in unreadable:
                _log.error("job %s: its record cannot be read (%s)", bad.job_id, bad.reason)
            gone = [job_id for job_id, _, action in plan if action is Action.DROP]
            if gone or unreadable:
                live.drop(gone + [bad.job_id for bad in unreadable])
                done.update({Action.DROP: len(gone), Action.UNREADABLE: len(unreadable)})
            driven = self._park_lost([job for _, job, a in plan if a is Action.PARK and job], done)
            for _, job, action in plan:
                if job is None or action is None or action in (Action.DROP, Action.PARK):
                    continue
                if self._drive(job, action, now_s):
                    done[action] += 1
                    if action is not Action.FAIL:
                        driven.append(job.job_id)
            live.touch(driven, now_s)
        finally:
            self._count(done)
        return done

    def _park_lost(self, candidates: list[LiveJob], done: Counter[Action]) -> list[str]:
        """Park again the waiting jobs found neither in the waiting room nor admitted by two
        sweeps; returns the jobs it parked or marked (their scores move on).

        One finding is not enough: a submit removes its job from the admitted ones a few
        round trips before it records its intent, and parking the job in that instant would
        admit it a second time (a second slot, held until its lease expires). The second
        look comes at least ``sweeper.margin_s`` later, when such a submit has long recorded
        its intent or died."""
        if not candidates:
            return []
        rt, live = self._rt, self._rt.store.live
        ids = [job.job_id for job in candidates]
        placed = rt.limits.admission.placed(ids)
        seen = live.unplaced_since(ids)
        first: list[str] = []
        cleared: list[str] = []
        parked: list[str] = []
        for view, is_placed, since in zip(candidates, placed, seen, strict=True):
            job_id = view.job_id
            if is_placed:
                if since is not None:
                    cleared.append(job_id)
            elif since is None or (view.updated_at or view.changed_at) >= since:
                first.append(job_id)  # (found before its last change: that finding is void)
            else:
                cleared.append(job_id)
                job = rt.store.get(job_id)
                if job is None or not waits_for_admission(job.state, job.intent_at, job.task_id):
                    continue
                _log.warning(
                    "job %s: %s, neither waiting nor admitted for %.0f s; parking it again",
                    job_id,
                    job.state.value,
                    rt.clock() - since,
                )
                park(rt, job, first=True)
                done[Action.PARK] += 1
                parked.append(job_id)
        live.clear_unplaced(cleared)
        live.mark_unplaced(first, rt.clock())
        return first + parked

    def _drive(self, job: LiveJob, action: Action, now_s: float) -> bool:
        """Take ``action`` on a stuck job; whether it was taken."""
        rt = self._rt
        if action is Action.FAIL:
            return self._fail(job, now_s)
        if action is Action.POLL:
            retired = secrets.token_hex(POLL_TOKEN_BYTES)  # held by no message
            if not rt.store.swap_poll_token(job.job_id, job.poll_token, retired):
                return False  # its chain moved meanwhile
            if not schedule_poll(rt, job.job_id, retired, 0.0):
                return False  # a link of the old chain won the swap after all: it goes on
            _log.warning("job %s: %s, its polls went silent; polling again", job.job_id, job.state)
        elif action is Action.RECONCILE:
            _log.warning("job %s: an interrupted submit was left; reconciling it", job.job_id)
            rt.scheduler.later(TASK_SUBMIT, job.job_id)
        elif action is Action.STORE:
            _log.warning("job %s: its store went silent; storing again", job.job_id)
            rt.scheduler.later(TASK_STORE, job.job_id)
        return True

    def _fail(self, view: LiveJob, now_s: float) -> bool:
        """End a job past its deadline, unless it moved since it was read: the move matches
        its state, submit intent and task in the same script, so a submit that begins
        meanwhile is never failed under its POST."""
        rt = self._rt
        due = deadline(view, self._thresholds)
        submitting = view.state is JobState.SUBMITTING and view.intent_at is not None
        code = SUBMIT_OUTCOME_UNKNOWN if submitting and view.task_id is None else STUCK
        message = (
            f"stuck: still {view.state.value} {now_s - due.start_s:.0f} s after {due.since}, "
            f"past the sweeper's deadline of {due.limit_s:.0f} s"
        )
        if not rt.store.transition(
            view.job_id,
            JobState.FAILED,
            expect=(view.state,),
            match={"intent_at": view.intent_at, "task_id": view.task_id},
            error_code=code,
            error_message=message,
        ):
            return False
        job = rt.store.get(view.job_id)
        if job is not None:
            release(rt, job)
        if code == SUBMIT_OUTCOME_UNKNOWN:
            rt.store.incr_stat(ORPHAN_SUSPECTS)
        _log.error("job %s FAILED %s: %s", view.job_id, code, message)
        return True

    def _count(self, done: Counter[Action]) -> None:
        for action, count in done.items():
            if count:
                self._rt.store.incr_stat(SWEEP_STAT.format(action=action.value), count)
        if any(done.values()):
            _log.info("sweep: %s", ", ".join(f"{a.value} {n}" for a, n in done.items() if n))
