"""The worker fleet under attack: SIGKILLs, a warm shutdown, and restarts that do not block.

:class:`devstack.workers.WorkerPool` starts real ``celery worker`` processes; its ``restart``
waits until the worker is ready, which would stall the chaos driver for seconds. The crew
starts a killed worker again at once and notes when it is ready on a later :meth:`Crew.tick`,
so kills, faults and measurements go on meanwhile. A worker that exits without being told
to (a crash) is noted as such and started again: that is a pipeline defect to report.
"""

from __future__ import annotations

import random
import time
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path
from typing import Any, Final

from devstack.procs import log_tail
from devstack.workers import WorkerPool

CRASH_TAIL_LINES: Final = 400
REASON_CHARS: Final = 300


class Phase(StrEnum):
    """Where one worker is."""

    STARTING = "starting"
    READY = "ready"
    STOPPING = "stopping"
    """Warm shutdown asked (SIGTERM); started again once it has exited."""


SIGTERM: Final = "sigterm"


@dataclass
class Event:
    """Something done to (or noticed of) a worker.

    Attributes:
        kind: ``sigkill``, ``sigterm`` or ``crash`` (an exit nobody asked for).
        worker: The worker's name.
        pid: The process that was hit.
        at: When (epoch s).
        exit_code: How the process ended (negative: the signal).
        exited_at: When it had exited (warm shutdown: it takes a while).
        ready_at: When the new process was ready.
        reason: For a crash, the last critical line of the worker's log.
    """

    kind: str
    worker: str
    pid: int | None
    at: float
    exit_code: int | None = None
    exited_at: float | None = None
    ready_at: float | None = None
    reason: str | None = None

    def as_dict(self, start: float) -> dict[str, Any]:
        """The event as JSON, times relative to ``start``."""

        def rel(t: float | None) -> float | None:
            return None if t is None else round(t - start, 2)

        return {
            "event": self.kind,
            "worker": self.worker,
            "pid": self.pid,
            "t_s": rel(self.at),
            "exit_code": self.exit_code,
            "exited_t_s": rel(self.exited_at),
            "ready_t_s": rel(self.ready_at),
            **({"reason": self.reason} if self.reason else {}),
        }


def last_critical(log_path: Path) -> str | None:
    """The last CRITICAL or ERROR line in the tail of a worker's log."""
    lines = [line for line in log_tail(log_path, CRASH_TAIL_LINES).splitlines() if _is_bad(line)]
    return lines[-1].strip()[:REASON_CHARS] if lines else None


def _is_bad(line: str) -> bool:
    return "CRITICAL/" in line or "ERROR/" in line


@dataclass
class _Slot:
    phase: Phase = Phase.READY
    event: Event | None = None
    """The event whose restart is in progress."""


@dataclass
class Crew:
    """Kills and restarts the workers of a started pool.

    Args:
        pool: The started pool (every worker ready).
        rng: The random choice of the worker to kill.

    Attributes:
        events: Everything done to the workers, oldest first.
    """

    pool: WorkerPool
    rng: random.Random
    events: list[Event] = field(default_factory=list)
    _slots: list[_Slot] = field(default_factory=list)

    def __post_init__(self) -> None:
        self._slots = [_Slot() for _ in range(len(self.pool))]

    def ready_count(self) -> int:
        """Workers ready now."""
        return sum(1 for slot in self._slots if slot.phase is Phase.READY)

    def kill_random(self) -> Event | None:
        """SIGKILL a random running worker and start it again; not one in warm shutdown, nor
        its successor before it is ready (the SIGTERM's fault ends when that one is)."""
        choices = [
            i
            for i, slot in enumerate(self._slots)
            if slot.phase is not Phase.STOPPING
            and (slot.event is None or slot.event.kind != SIGTERM)
            and self.pool[i].alive()
        ]
        if not choices:
            return None
        index = self.rng.choice(choices)
        worker = self.pool[index]
        event = Event("sigkill", worker.spec.name, worker.pid, time.time())
        event.exit_code = worker.kill()
        event.exited_at = time.time()
        self._relaunch(index, event)
        return event

    def terminate_random(self) -> Event | None:
        """Ask a random ready worker for a warm shutdown (SIGTERM); it is started again once
        it has exited (see :meth:`tick`)."""
        choices = [i for i, slot in enumerate(self._slots) if slot.phase is Phase.READY]
        if not choices:
            return None
        index = self.rng.choice(choices)
        worker = self.pool[index]
        event = Event(SIGTERM, worker.spec.name, worker.pid, time.time())
        worker.terminate()
        self._slots[index] = _Slot(Phase.STOPPING, event)
        self.events.append(event)
        return event

    def back(self, event: Event) -> bool:
        """Whether the worker of ``event`` is running and ready again."""
        return event.ready_at is not None

    def tick(self) -> None:
        """Start again the workers whose warm shutdown ended, note those now ready, and
        restart any that exited unasked (a crash)."""
        for index, slot in enumerate(self._slots):
            worker = self.pool[index]
            if slot.phase is Phase.STOPPING:
                if not worker.alive():
                    assert slot.event is not None
                    slot.event.exit_code = worker.returncode
                    slot.event.exited_at = time.time()
                    self._relaunch(index, slot.event, record=False)
            elif slot.phase is Phase.STARTING:
                if worker.alive() and worker.is_ready():
                    assert slot.event is not None
                    slot.event.ready_at = time.time()
                    self._slots[index] = _Slot(Phase.READY)
                elif not worker.alive():
                    self._crashed(index)
            elif not worker.alive():
                self._crashed(index)

    def _crashed(self, index: int) -> None:
        worker = self.pool[index]
        event = Event("crash", worker.spec.name, worker.pid, time.time(), worker.returncode)
        event.exited_at = event.at
        event.reason = last_critical(worker.log_path)
        self._relaunch(index, event)

    def _relaunch(self, index: int, event: Event, *, record: bool = True) -> None:
        if record:
            self.events.append(event)
        self.pool[index].launch()
        self._slots[index] = _Slot(Phase.STARTING, event)
