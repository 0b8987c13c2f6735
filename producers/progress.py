"""Progress of waited-for jobs, by state: a bar on a terminal, periodic lines otherwise."""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from typing import TextIO

from producers.constants import PROGRESS_BAR_WIDTH, PROGRESS_PLAIN_INTERVAL_S, STATE_ORDER
from workers.contract import TERMINAL_STATES, JobState


def describe(counts: Mapping[JobState, int]) -> str:
    """``SUCCEEDED 10  FAILED 2  RUNNING 5`` in the states' order, zero counts left out."""
    return "  ".join(f"{state} {counts[state]}" for state in STATE_ORDER if counts.get(state))


class ProgressDisplay:
    """Shows the count of jobs in each state as :meth:`update` receives them.

    On a terminal it redraws one line (a bar of the jobs ended); elsewhere (a log, a pipe)
    it writes a plain line at most every :data:`PROGRESS_PLAIN_INTERVAL_S` seconds, and the
    last one when every job has ended.

    Args:
        stream: Where to write (stderr, so that stdout stays for results).
        total: How many jobs are followed.
        tty: Whether ``stream`` is a terminal (asked of the stream if None).
        clock: Monotonic seconds (injectable for tests).
    """

    def __init__(
        self,
        stream: TextIO,
        total: int,
        *,
        tty: bool | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._stream = stream
        self._total = total
        self._tty = stream.isatty() if tty is None else tty
        self._clock = clock
        self._last_at: float | None = None
        self._last_line = ""
        self._width = 0

    def update(self, counts: Mapping[JobState, int]) -> None:
        """Show new counts."""
        done = sum(count for state, count in counts.items() if state in TERMINAL_STATES)
        summary = f"{done}/{self._total} ended  {describe(counts)}"
        if self._tty:
            filled = PROGRESS_BAR_WIDTH * done // max(self._total, 1)
            bar = "#" * filled + "-" * (PROGRESS_BAR_WIDTH - filled)
            line = f"[{bar}] {summary}"
            self._stream.write("\r" + line.ljust(self._width))
            self._width = max(self._width, len(line))
            self._stream.flush()
            return
        now = self._clock()
        due = self._last_at is None or now - self._last_at >= PROGRESS_PLAIN_INTERVAL_S
        if summary != self._last_line and (due or done == self._total):
            self._stream.write(summary + "\n")
            self._stream.flush()
            self._last_at, self._last_line = now, summary

    def finish(self) -> None:
        """End the display (a terminal's line is closed)."""
        if self._tty and self._width:
            self._stream.write("\n")
            self._stream.flush()
