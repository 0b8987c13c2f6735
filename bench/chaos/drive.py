"""The chaos driver: runs the faults while the jobs go through, until all end or time is up.

Every :data:`TICK_S` it looks after the workers (restarts, readiness), SIGKILLs a random
worker every ``kill_interval_s``, reads the jobs' states (about once a second; a Redis that
is down is skipped), and steps the fault plan (:mod:`bench.chaos.schedule`): ends the
active fault when it is over, starts the next one when it is due. Completions are noted as
they are seen, to tell online whether the pipeline has recovered from the last fault; the
report measures recovery again afterwards on the records' own timestamps.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Final

import redis

from bench.chaos.crew import Crew
from bench.chaos.faults import Fault
from bench.chaos.recovery import recovery
from bench.chaos.scenario import FaultStep
from bench.chaos.schedule import Schedule
from workers.contract import JobStore
from workers.contract.states import TERMINAL_STATES
from workers.errors import WanqError

_log = logging.getLogger(__name__)

TICK_S: Final = 0.25
STATES_EVERY_S: Final = 1.0
PROBE_EVERY_S: Final = 5.0


@dataclass
class FaultRun:
    """One fault as it happened.

    Attributes:
        name: The fault.
        began: When it took effect (epoch s).
        ended: When it ended (None: cut short by the end of the run, see ``cut_short``).
        fault: The injector (its details).
        cut_short: It was still active when the run ended.
    """

    name: str
    began: float
    fault: Fault
    ended: float | None = None
    cut_short: bool = False


@dataclass
class Driven:
    """What the driver did.

    Attributes:
        faults: The faults started, in order.
        not_started: The faults of the plan that never started.
        ended_at: When the run ended (epoch s).
        all_terminal: Whether every job was terminal by then.
        errors: Failures of the harness itself (an injection that failed), as text.
        samples: The probe's samples (``t_s`` since the start, ``terminal``, and the probe's
            figures), every ``PROBE_EVERY_S``.
    """

    faults: list[FaultRun] = field(default_factory=list)
    samples: list[dict[str, Any]] = field(default_factory=list)
    not_started: list[str] = field(default_factory=list)
    ended_at: float = 0.0
    all_terminal: bool = False
    errors: list[str] = field(default_factory=list)


class Driver:
    """Drives one run.

    Args:
        store: The job store (read only).
        ids: The jobs of the run.
        crew: The workers.
        schedule: The fault plan.
        make_fault: Builds the injector of a plan step.
        started: When the jobs were submitted (epoch s).
        deadline_s: The run ends this long after ``started`` at the latest.
        kill_interval_s: SIGKILL a random worker this often (0: never).
        probe: Reads the pipeline's capacity figures (``bench.chaos.probe``), if given.
    """

    def __init__(
        self,
        *,
        store: JobStore,
        ids: Sequence[str],
        crew: Crew,
        schedule: Schedule,
        make_fault: Callable[[FaultStep], Fault],
        started: float,
        deadline_s: float,
        kill_interval_s: float,
        probe: Callable[[], dict[str, Any]] | None = None,
    ) -> None:
        self._store = store
        self._ids = list(ids)
        self._crew = crew
        self._schedule = schedule
        self._make_fault = make_fault
        self._started = started
        self._deadline = started + deadline_s
        self._kill_interval_s = kill_interval_s
        self._probe = probe
        self._seen: list[float] = []
        self._terminal = 0
        self._active: FaultRun | None = None
        self.driven = Driven()

    def run(self) -> Driven:
        """Drive until every job is terminal or the deadline passes."""
        next_kill = self._started + self._kill_interval_s
        next_states = next_probe = 0.0
        while True:
            now = time.time()
            self._crew.tick()
            if self._probe is not None and now >= next_probe:
                next_probe = now + PROBE_EVERY_S
                self._sample(now)
            if self._kill_interval_s > 0 and now >= next_kill:
                self._crew.kill_random()
                next_kill += self._kill_interval_s
            if now >= next_states:
                next_states = now + STATES_EVERY_S
                self._read_states(now)
                if self._terminal == len(self._ids):
                    self.driven.all_terminal = True
                    break
            if now >= self._deadline:
                break
            self._step_faults(now)
            time.sleep(TICK_S)
        self._wind_up()
        return self.driven

    def _read_states(self, now: float) -> None:
        try:
            states = self._store.states(self._ids)
        except WanqError:  # Redis is down (a restart): look again next time
            return
        terminal = sum(1 for state in states if state in TERMINAL_STATES)
        if terminal > self._terminal:
            self._seen.extend([now] * (terminal - self._terminal))
            self._terminal = terminal

    def _sample(self, now: float) -> None:
        assert self._probe is not None
        try:
            figures = self._probe()
        except redis.RedisError:  # a restart: skip this sample
            return
        sample = {"t_s": round(now - self._started, 1), "terminal": self._terminal, **figures}
        self.driven.samples.append(sample)

    def _recovered(self, now: float) -> bool:
        last = self.driven.faults[-1] if self.driven.faults else None
        if last is None or last.ended is None:
            return True
        measured = recovery(self._seen, began=last.began, ended=last.ended, done_at=None, now=now)
        return measured.recovered_at is not None

    def _step_faults(self, now: float) -> None:
        active = self._active
        if active is not None:
            if active.fault.over(now):
                self._finish(active)
            return
        step = self._schedule.due(now, self._terminal / len(self._ids), self._recovered(now))
        if step is None:
            return
        fault = self._make_fault(step)
        self._schedule.started(step)
        try:
            began = fault.begin()
        except Exception as exc:
            _log.exception("fault %s could not be injected", step.name)
            self.driven.errors.append(f"{step.name}: {type(exc).__name__}: {exc}")
            self._schedule.ended(time.time())
            return
        _log.info("fault %s began", step.name)
        self._active = FaultRun(step.name, began, fault)
        self.driven.faults.append(self._active)

    def _finish(self, active: FaultRun) -> None:
        try:
            active.ended = active.fault.end()
        except Exception as exc:
            _log.exception("fault %s could not be ended", active.name)
            self.driven.errors.append(f"{active.name} (end): {type(exc).__name__}: {exc}")
            active.ended = time.time()
        _log.info("fault %s ended", active.name)
        self._schedule.ended(active.ended)
        self._active = None

    def _wind_up(self) -> None:
        self.driven.ended_at = time.time()
        if self._active is not None:
            self._active.cut_short = True
            self._finish(self._active)
        self.driven.not_started = [step.name for step in self._schedule.pending()]

    def progress(self) -> dict[str, Any]:
        """Jobs seen terminal so far."""
        return {"terminal": self._terminal, "jobs": len(self._ids)}
