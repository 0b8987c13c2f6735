"""A background sampler of the emulator's ``GET /admin/stats``: the upstream's view of a run.

Every ``interval_s`` it reads the counters and keeps, per account, the figures the benchmark
plots: tasks in flight, tasks finished, submits accepted and 429s answered. What the emulator
counts is what the upstream saw, whatever the client believes.
"""

from __future__ import annotations

import threading
import time
from types import TracebackType
from typing import Any, Final, Self

import httpx

DEFAULT_INTERVAL_S: Final = 0.5
_REQUEST_TIMEOUT_S: Final = 5.0
_FINISHED_STATUSES: Final = ("SUCCEEDED", "FAILED")
ADMIN_TOKEN_HEADER: Final = "X-Admin-Token"


def account_figures(account: dict[str, Any]) -> dict[str, int]:
    """One account's entry of ``/admin/stats`` reduced to the sampled figures.

    Returns:
        ``in_flight`` (summed over models), ``finished`` (SUCCEEDED + FAILED tasks),
        ``submits_accepted`` and ``throttled`` (account-wide query throttles plus every
        model's submit throttles).
    """
    models: dict[str, Any] = account.get("models", {})
    by_status = [m.get("tasks_by_status", {}) for m in models.values()]
    return {
        "in_flight": sum(int(m.get("in_flight", 0)) for m in models.values()),
        "finished": sum(int(s.get(name, 0)) for s in by_status for name in _FINISHED_STATUSES),
        "submits_accepted": sum(int(m.get("submits_accepted", 0)) for m in models.values()),
        "throttled": sum(int(n) for n in account.get("throttled", {}).values())
        + sum(int(n) for m in models.values() for n in m.get("throttled", {}).values()),
    }


class StatsSampler:
    """Samples ``/admin/stats`` on a background thread while its ``with`` block runs.

    Each sample is ``{"t_s": seconds since start, "epoch_s": wall time, "accounts": {name:
    account_figures(...)}}``. A failed request is skipped (the timeline has a gap), so a
    sampler never breaks the run it watches.

    Args:
        emulator_root: The emulator's root URL (``http://host:port``).
        interval_s: Time between samples.
        admin_token: The emulator's admin token, if its configuration sets one.

    Attributes:
        cpu_s: CPU seconds the sampling thread used (known once it stopped), for callers
            that measure their own process's CPU and want to leave the sampler out.
    """

    def __init__(
        self,
        emulator_root: str,
        *,
        interval_s: float = DEFAULT_INTERVAL_S,
        admin_token: str | None = None,
    ) -> None:
        headers = {ADMIN_TOKEN_HEADER: admin_token} if admin_token else {}
        self._client = httpx.Client(
            base_url=emulator_root, headers=headers, timeout=_REQUEST_TIMEOUT_S
        )
        self._interval_s = interval_s
        self._samples: list[dict[str, Any]] = []
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._started = 0.0
        self.cpu_s = 0.0

    def start(self) -> Self:
        """Take a first sample now, then one every ``interval_s`` on a daemon thread."""
        self._started = time.monotonic()
        self._stop.clear()
        self._thread = threading.Thread(target=self._loop, name="stats-sampler", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        """Take a last sample and stop the thread; idempotent."""
        if self._thread is not None:
            self._stop.set()
            self._thread.join()
            self._thread = None
        self._client.close()

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    def timeline(self) -> list[dict[str, Any]]:
        """The samples so far, oldest first (a copy)."""
        with self._lock:
            return list(self._samples)

    def _loop(self) -> None:
        cpu_start_s = time.thread_time()
        while True:
            self._sample()
            if self._stop.wait(self._interval_s):
                break
        self._sample()
        self.cpu_s = time.thread_time() - cpu_start_s

    def _sample(self) -> None:
        try:
            response = self._client.get("/admin/stats")
            response.raise_for_status()
            stats: dict[str, Any] = response.json()
        except (httpx.HTTPError, ValueError):
            return
        sample = {
            "t_s": time.monotonic() - self._started,
            "epoch_s": time.time(),
            "accounts": {
                name: account_figures(account)
                for name, account in stats.get("accounts", {}).items()
            },
        }
        with self._lock:
            self._samples.append(sample)
