"""The dispatcher: a thread in every worker process that admits waiting jobs.

Each round it admits, model by model, as many waiting jobs as the accounts have capacity for,
and sends each one a submit message naming its account; then it sleeps until the soonest
moment capacity may return (at most ``dispatch_interval_s``), or until woken: a poll that
frees a slot and a submit that parks a job wake their process's dispatcher. Every process
runs one; admission is atomic in Redis, so they never admit a job twice. Housekeeping rides
along: leases of ended jobs are reaped every ``reap_interval_s``, and admitted jobs whose
submit never started (a lost message) are dispatched again after ``admitted_timeout_s``.
Further chores the process hands it (:class:`Chore`: the sweep of stuck jobs) run between
rounds too, each at its own interval.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Final

from config.accounts import LimiterSettings
from workers.errors import WanqError
from workers.limits.admission import Admission, Admitted
from workers.limits.leases import Leases

_log = logging.getLogger(__name__)

ROUND_MAX: Final = 200
"""Most jobs one round admits per model before looking at the others."""

Send = Callable[[str, str], None]
"""Sends ``submit(job_id, account)``."""


@dataclass(frozen=True)
class Chore:
    """Housekeeping a dispatcher runs between its rounds, every ``interval_s``.

    Attributes:
        name: What it is (for the log).
        interval_s: How often it runs.
        run: The work; it should be brief and bounded (this process admits nothing meanwhile).
    """

    name: str
    interval_s: float
    run: Callable[[], object]


class Dispatcher:
    """Admits waiting jobs (see the module's doc).

    Args:
        admission: The waiting room.
        leases: The lease sets (for the reaper).
        send: Sends an admitted job's submit.
        gone: Whether each of some job ids has ended or vanished (for the reaper).
        pairs: The ``(account, model)`` lease sets to reap.
        limiter: The limiter's settings.
        clock: Monotonic seconds.
        chores: Further housekeeping, each run at the first round, then every
            ``interval_s``.
    """

    def __init__(
        self,
        admission: Admission,
        leases: Leases,
        send: Send,
        gone: Callable[[list[str]], list[bool]],
        pairs: Iterable[tuple[str, str]],
        limiter: LimiterSettings,
        clock: Callable[[], float] = time.monotonic,
        chores: Iterable[Chore] = (),
    ) -> None:
        self._admission = admission
        self._leases = leases
        self._send = send
        self._gone = gone
        self._pairs = tuple(pairs)
        self._limiter = limiter
        self._clock = clock
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._next_chores = clock()
        self._chores = tuple(chores)
        self._chores_due = [clock()] * len(self._chores)

    def start(self) -> None:
        """Start the thread (a daemon: it holds no work of its own)."""
        if self._thread is None:
            self._thread = threading.Thread(target=self._run, name="wanq-dispatcher", daemon=True)
            self._thread.start()

    def stop(self, timeout_s: float = 5.0) -> None:
        """Stop the thread and wait for it."""
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout_s)
            self._thread = None

    def wake(self) -> None:
        """Run a round now (a slot was freed or a job parked)."""
        self._wake.set()

    def run_round(self) -> float:
        """Admit what can be admitted now; returns the seconds until the next round."""
        sleep_s = self._limiter.dispatch_interval_s
        for model in self._admission.waiting():
            for _ in range(ROUND_MAX):
                outcome = self._admission.admit(model)
                if isinstance(outcome, Admitted):
                    self._send(outcome.job_id, outcome.account)
                    continue
                if outcome is not None:
                    sleep_s = min(sleep_s, outcome)
                break
            else:
                sleep_s = 0.0
        return sleep_s

    def run_chores(self) -> None:
        """Reap leases of ended jobs; dispatch again admitted jobs whose submit was lost."""
        reclaimed = self._leases.reap(self._pairs, self._gone)
        if reclaimed:
            _log.warning("reclaimed %d slot lease(s) of ended or vanished jobs", reclaimed)
        for job_id, account in self._admission.stale(self._limiter.admitted_timeout_s):
            _log.warning("job %s: admitted but its submit never started; dispatching again", job_id)
            self._send(job_id, account)

    def run_due_chores(self) -> None:
        """Run each of the further chores whose time has come; one that fails is logged and
        the others still run."""
        for index, chore in enumerate(self._chores):
            if self._clock() < self._chores_due[index]:
                continue
            self._chores_due[index] = self._clock() + chore.interval_s
            try:
                chore.run()
            except WanqError as exc:  # Redis or the broker is down: next time
                _log.warning("dispatcher chore %s: %s", chore.name, exc)
            except Exception:
                _log.exception("dispatcher chore %s failed", chore.name)

    def _run(self) -> None:
        while not self._stop.is_set():
            sleep_s = self._limiter.dispatch_interval_s
            try:
                sleep_s = self.run_round()
                if self._clock() >= self._next_chores:
                    self._next_chores = self._clock() + self._limiter.reap_interval_s
                    self.run_chores()
                self.run_due_chores()
            except WanqError as exc:  # Redis or the broker is down: try again later
                _log.warning("dispatcher: %s", exc)
            except Exception:
                _log.exception("dispatcher round failed")
            self._wake.wait(max(0.001, sleep_s))
            self._wake.clear()
