"""The job store: job records in Redis, with a state machine that never goes backwards.

Producers create records (one live job per ``custom_id``); workers move them forward. Every
change of state is one Lua script, so concurrent workers (or a redelivered message racing the
original) cannot regress a state, leave a terminal state, change a terminal record, or both
start a submit. Records are validated when they are created, never when they are read
(:func:`~workers.contract.records.from_hash`), so a rule tightened later cannot make a stored
job unreadable.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Collection, Iterable, Mapping, Sequence
from typing import Any, Final

from redis import Redis

from config import PipelineSettings
from workers.contract.backfill import Backfill
from workers.contract.jobscripts import CHANGE_SCRIPT, CREATE_SCRIPT, change_args, create_args
from workers.contract.live import LiveIndex
from workers.contract.records import JobRecord, from_hash
from workers.contract.redisio import text, translated
from workers.contract.states import TERMINAL_STATES, JobState
from workers.contract.taskowners import ORPHAN_SUSPECTS, TASK_OWNER_TTL_S, TaskOwners

# ORPHAN_SUSPECTS and TASK_OWNER_TTL_S live in taskowners; re-exported for their importers here.
__all__ = ["CHUNK", "DEFAULT_JOB_TTL_S", "ORPHAN_SUSPECTS", "TASK_OWNER_TTL_S", "JobStore"]

DEFAULT_JOB_TTL_S: Final[int] = PipelineSettings.model_fields["job_ttl_s"].default
"""``PipelineSettings.job_ttl_s``'s default, for stores built without settings (tests, tools)."""
CHUNK: Final = 1000
CREATE_CHUNK: Final = 250
"""Records created by one script call (a call holds Redis for its records only)."""
"""Most commands sent in one pipeline round trip."""


class JobStore:
    """The only owner of job keys in Redis.

    Keys (``{prefix}`` is ``Settings.key_prefix``):

    * ``{prefix}job:{job_id}``: hash, the record (see :mod:`workers.contract.records`);
      expires ``job_ttl_s`` after the job reaches a terminal state.
    * ``{prefix}custom:{custom_id}``: string, the job id of a custom id (same expiry).
    * ``{prefix}batch:{batch}``: sorted set of job ids scored by creation time; expires
      ``job_ttl_s`` after the batch's last terminal job.
    * ``{prefix}batches``: sorted set of batch names scored by their last activity.
    * ``{prefix}live``: sorted set of the jobs not yet terminal, job id → ms of the job's last
      change of state; kept by the create and change scripts in the same call (a terminal
      move takes the job out; a change of fields alone leaves it), read and moved on by the
      sweeper through :attr:`live` (:class:`~workers.contract.live.LiveIndex`, which lists
      its own keys: the sweep's cursor and lock, its findings of unplaced jobs); jobs written
      without it are listed by :attr:`backfill` (:class:`~workers.contract.backfill.Backfill`).

    The upstream-task links and the counters are :class:`TaskOwners`' keys (:attr:`tasks`);
    :meth:`claim_task`, :meth:`task_owner`, :meth:`task_owners`, :meth:`incr_stat` and
    :meth:`stat` reach them through the store.

    Every method lets Redis failures out as :class:`~workers.errors.RedisUnavailable`
    (retryable: unreachable, timed out, loading, read-only) or
    :class:`~workers.errors.RedisRejected` (permanent), never as redis-py exceptions.

    Args:
        redis: A redis-py client (text or bytes responses).
        prefix: Key prefix (``Settings.key_prefix``).
        job_ttl_s: How long terminal records are kept (``Settings.pipeline.job_ttl_s``).
    """

    def __init__(self, redis: Redis, prefix: str, *, job_ttl_s: int = DEFAULT_JOB_TTL_S) -> None:
        self._redis = redis
        self._prefix = prefix
        self._job_ttl_s = job_ttl_s
        self._create = redis.register_script(CREATE_SCRIPT)
        self._change = redis.register_script(CHANGE_SCRIPT)
        self.tasks = TaskOwners(redis, prefix)
        """The upstream-task links and counters, under the same prefix."""
        self.live = LiveIndex(redis, prefix)
        """The index of live jobs (kept by this store's scripts), under the same prefix."""
        self.backfill = Backfill(redis, prefix, self.live)
        """The walks that list in :attr:`live` the jobs written without it."""

    # --- keys ---------------------------------------------------------------------------

    def job_key(self, job_id: str) -> str:
        """``{prefix}job:{job_id}``."""
        return f"{self._prefix}job:{job_id}"

    def _custom_key(self, custom_id: str) -> str:
        return f"{self._prefix}custom:{custom_id}"

    def _batch_key(self, batch: str) -> str:
        return f"{self._prefix}batch:{batch}"

    # --- creation -----------------------------------------------------------------------

    def create(self, record: JobRecord) -> tuple[JobRecord, bool]:
        """Store a new QUEUED record, unless its custom id already names a live job.

        Returns:
            ``(record, True)`` when created; ``(existing, False)`` when ``custom_id`` (or the
            job id) is taken, where ``existing`` is the job already stored.

        Raises:
            ValueError: The record is not QUEUED.
        """
        [(job_id, created)] = self._create_chunk([record])
        if created:
            return record, True
        existing = self.get(job_id)
        return (existing or record), False

    def create_many(self, records: Iterable[JobRecord]) -> list[tuple[str, bool]]:
        """Store many records, :data:`CREATE_CHUNK` per script call; each as :meth:`create`
        would.

        Returns:
            ``(job id, created)`` per record, in order (the existing id when not created).

        Raises:
            ValueError: A record is not QUEUED (nothing of its chunk was stored).
        """
        out: list[tuple[str, bool]] = []
        batch: list[JobRecord] = []
        for record in records:
            batch.append(record)
            if len(batch) == CREATE_CHUNK:
                out += self._create_chunk(batch)
                batch = []
        if batch:
            out += self._create_chunk(batch)
        return out

    def _create_chunk(self, records: Sequence[JobRecord]) -> list[tuple[str, bool]]:
        for record in records:
            if record.state is not JobState.QUEUED:
                raise ValueError(f"a new job must be QUEUED, not {record.state}")
        with translated("create"):
            replies = self._create(args=create_args(records, self._prefix))
        pairs = zip(replies[::2], replies[1::2], strict=True)
        return [(text(job_id), bool(int(created))) for job_id, created in pairs]

    # --- reading ------------------------------------------------------------------------

    def get(self, job_id: str) -> JobRecord | None:
        """The record of a job, or None when there is none (never created, or expired)."""
        with translated("get"):
            raw = self._redis.hgetall(self.job_key(job_id))
        return from_hash(raw) if raw else None

    def get_many(self, job_ids: Iterable[str]) -> list[JobRecord | None]:
        """The records of many jobs, pipelined, in order (None where missing)."""
        ids = list(job_ids)
        out: list[JobRecord | None] = []
        for start in range(0, len(ids), CHUNK):
            with translated("get_many"):
                pipe = self._redis.pipeline(transaction=False)
                for job_id in ids[start : start + CHUNK]:
                    pipe.hgetall(self.job_key(job_id))
                replies = pipe.execute()
            out += [from_hash(raw) if raw else None for raw in replies]
        return out

    def get_by_custom_id(self, custom_id: str) -> JobRecord | None:
        """The live job of a custom id, or None (never used, or its job expired)."""
        with translated("get_by_custom_id"):
            job_id = self._redis.get(self._custom_key(custom_id))
        return self.get(text(job_id)) if job_id is not None else None

    def states(self, job_ids: Iterable[str]) -> list[JobState | None]:
        """The state of many jobs, pipelined, in order (None where missing).

        Reads one hash field per job: the cheap way to watch many jobs, reading whole
        records (:meth:`get_many`) only for those whose state is of interest.
        """
        ids = list(job_ids)
        out: list[JobState | None] = []
        for start in range(0, len(ids), CHUNK):
            with translated("states"):
                pipe = self._redis.pipeline(transaction=False)
                for job_id in ids[start : start + CHUNK]:
                    pipe.hget(self.job_key(job_id), "state")
                replies = pipe.execute()
            out += [JobState(text(state)) if state is not None else None for state in replies]
        return out

    def gone(self, job_ids: Iterable[str]) -> list[bool]:
        """Whether each job has ended or no longer exists (in order)."""
        return [state is None or state in TERMINAL_STATES for state in self.states(job_ids)]

    def batch_job_ids(self, batch: str) -> list[str]:
        """Ids of a batch's jobs, oldest first (expired jobs may still be listed)."""
        with translated("batch_job_ids"):
            ids = self._redis.zrange(self._batch_key(batch), 0, -1)
        return [text(job_id) for job_id in ids]

    def batches(self) -> list[str]:
        """Names of the batches with jobs still kept, least recently active first."""
        key = f"{self._prefix}batches"
        with translated("batches"):
            names = [text(name) for name in self._redis.zrange(key, 0, -1)]
            if not names:
                return []
            pipe = self._redis.pipeline(transaction=False)
            for name in names:
                pipe.exists(self._batch_key(name))
            alive = pipe.execute()
            gone = [name for name, exists in zip(names, alive, strict=True) if not exists]
            if gone:
                self._redis.zrem(key, *gone)
        return [name for name, exists in zip(names, alive, strict=True) if exists]

    def counts_by_state(self, batch: str) -> dict[JobState, int]:
        """How many of a batch's kept jobs are in each state."""
        states = self.states(self.batch_job_ids(batch))
        return dict(Counter(state for state in states if state is not None))

    # --- changes ------------------------------------------------------------------------

    def transition(
        self,
        job_id: str,
        to: JobState,
        *,
        expect: Collection[JobState] | None = None,
        match: Mapping[str, str | float | None] | None = None,
        **fields: Any,
    ) -> bool:
        """Move a job to ``to`` and set ``fields``, atomically, if the move is allowed.

        Allowed: to a higher-ranked state (QUEUED < SUBMITTING < PENDING < RUNNING < STORING
        < any terminal state), or to the same non-terminal state (a field update). Nothing
        leaves a terminal state. Entering a state records ``timestamps[to]``; entering a
        terminal one starts the record's expiry.

        Args:
            job_id: The job.
            to: The target state.
            expect: When given, the current state must be one of these.
            match: When given, each field must hold this value (a float: this number, as a
                stamp is; None: the field must be absent).
            **fields: Fields to set (None deletes); see ``records.UPDATABLE_FIELDS``.

        Returns:
            Whether the change was applied (False: refused, or no such job).
        """
        return self._apply(job_id, to=to, expect=expect, match=match, fields=fields) == 1

    def update(self, job_id: str, *, allow_terminal: bool = False, **fields: Any) -> bool:
        """Set fields other than the state (None deletes).

        Args:
            job_id: The job.
            allow_terminal: Also write to a terminal record. Off by default: a late or
                redelivered task must not rewrite a finished job's outcome.
            **fields: Fields to set; see ``records.UPDATABLE_FIELDS``.

        Returns:
            Whether the fields were set (False: no such job, or it is terminal and
            ``allow_terminal`` is off).
        """
        return self._apply(job_id, fields=fields, terminal_ok=allow_terminal) == 1

    def begin_submit(self, job_id: str, account: str | None = None) -> bool:
        """Record a submit intent, before the upstream call: the one gate to submitting.

        Succeeds only for a QUEUED job, or a SUBMITTING one with no submit in progress (no
        ``intent_at``: its last attempt provably created nothing). Moves it to SUBMITTING,
        records the ``account`` it is submitted on (when given), stamps ``intent_at`` with
        the Redis clock and counts the attempt. Of two concurrent callers, one wins.
        """
        applied = self._apply(
            job_id,
            to=JobState.SUBMITTING,
            expect=(JobState.QUEUED, JobState.SUBMITTING),
            match={"intent_at": None, "task_id": None},
            stamp=("intent_at",),
            incr={"attempts": 1},
            fields={"account": account} if account is not None else None,
        )
        return applied == 1

    def clear_intent(self, job_id: str, *, failed: bool = False) -> bool:
        """Record that the submit in progress failed without creating an upstream task.

        The job stays SUBMITTING (states never go backwards) with ``intent_at`` removed, which
        lets :meth:`begin_submit` start a new attempt. Call it only when the upstream provably
        took nothing (a refused connection, a 429, a 503 at the door), never after an
        ambiguous submit. ``failed``: the attempt failed (not a 429): count it in
        ``submit_errors``.
        """
        applied = self._apply(
            job_id,
            to=JobState.SUBMITTING,
            expect=(JobState.SUBMITTING,),
            match={"task_id": None},
            fields={"intent_at": None},
            incr={"submit_errors": 1} if failed else None,
        )
        return applied == 1

    def attach_task(self, job_id: str, task_id: str, request_id: str | None) -> bool:
        """Record the upstream task of a SUBMITTING job and move it to PENDING.

        The task's owner link is written first (``task-owner``), so a reconciling submit
        never adopts a task that a job already follows.

        Returns:
            False when another job owns the task, or the job is no longer SUBMITTING.
        """
        if not self.claim_task(task_id, job_id):
            return False
        return self.transition(
            job_id,
            JobState.PENDING,
            expect=(JobState.SUBMITTING,),
            task_id=task_id,
            request_id=request_id,
        )

    def swap_poll_token(self, job_id: str, old: str | None, new: str) -> bool:
        """Make ``new`` the job's poll token if ``old`` is its token (None: no token yet) or
        the one before (a redelivered previous link); ``old`` becomes the one before.

        Counts the poll. Of two poll chains, only the one whose swap wins goes on; a
        terminal job has no poll chain (the swap is refused).
        """
        fields = {"poll_token": new, "poll_prev": old}
        for match in ("poll_token", "poll_prev"):
            if match == "poll_prev" and old is None:
                break
            if self._apply(job_id, match={match: old}, fields=fields, incr={"polls": 1}) == 1:
                return True
        return False

    def _apply(
        self,
        job_id: str,
        *,
        to: JobState | None = None,
        expect: Collection[JobState] | None = None,
        match: Mapping[str, str | float | None] | None = None,
        fields: Mapping[str, Any] | None = None,
        stamp: Sequence[str] = (),
        incr: Mapping[str, int] | None = None,
        terminal_ok: bool = False,
    ) -> int:
        args = change_args(
            to=to,
            expect=expect,
            match=match,
            fields=fields,
            stamp=stamp,
            incr=incr,
            terminal_ok=terminal_ok,
            ttl_s=self._job_ttl_s,
            prefix=self._prefix,
        )
        operation = "transition" if to is not None else "update"
        with translated(operation):
            result = self._change(keys=[self.job_key(job_id)], args=args)
        return int(result)

    # --- task ownership and counters (kept by :attr:`tasks`) ----------------------------

    def claim_task(self, task_id: str, job_id: str) -> bool:
        """Link an upstream task to a job; True if linked now or already to this job."""
        return self.tasks.claim(task_id, job_id)

    def task_owner(self, task_id: str) -> str | None:
        """The job that owns an upstream task, if any."""
        return self.tasks.owner(task_id)

    def task_owners(self, task_ids: Sequence[str]) -> list[str | None]:
        """The owners of many upstream tasks, in order."""
        return self.tasks.owners(task_ids)

    def incr_stat(self, name: str, by: int = 1) -> int:
        """Add to a counter (``{prefix}stats:{name}``); returns the new value."""
        return self.tasks.incr_stat(name, by)

    def stat(self, name: str) -> int:
        """A counter's value (0 when never counted)."""
        return self.tasks.stat(name)
