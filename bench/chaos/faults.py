"""The faults the suite injects, each with a start, an end and what it saw meanwhile.

=================  ==========================================================================
fault              how
=================  ==========================================================================
sigterm            a random ready worker gets SIGTERM (warm shutdown) and is started again
                   once it has exited; ends when the new process is ready
redis_restart      the suite's own Redis (AOF) is stopped (SIGTERM), kept down a moment and
                   started again on the same port and directory; ends when it answers
slow_upstream      every submit is answered ``SLOW_DELAY_S`` late (past the client's read
                   timeout) through the emulator's ``faults.submit.delay_*``; the emulator
                   still creates and bills the task: ambiguous submits
upstream_outage    ``POST /admin/outage``: every call of DashScope's API answers 503
s3_outage          the S3 proxy resets (or refuses) every connection; moto keeps its objects
=================  ==========================================================================

Each fault's :meth:`Fault.details` says what happened during it: the upstream calls it
turned away (from the emulator's fault counters) or the S3 connections the proxy reset, so
a hot loop (clients retrying without pause) shows.
"""

from __future__ import annotations

import time
from typing import Any, Protocol

import httpx

from bench.chaos.crew import Crew, Event
from bench.chaos.proxy import Mode, TcpProxy
from bench.chaos.redis_server import AofRedis
from bench.chaos.scenario import API_GROUPS, REDIS_DOWN_S, SLOW_DELAY_S, FaultStep


class Fault(Protocol):
    """One injected fault."""

    name: str

    def begin(self) -> float:
        """Inject it; returns when it took effect (epoch s)."""

    def over(self, now: float) -> bool:
        """Whether it has ended by ``now`` (epoch s)."""

    def end(self) -> float:
        """Undo whatever needs undoing; returns when it ended (epoch s)."""

    def details(self) -> dict[str, Any]:
        """What it did and saw, as JSON."""


Counts = dict[str, dict[str, int]]
"""The emulator's fault counters: endpoint group -> kind -> count."""


def _faults_of(admin: httpx.Client) -> Counts:
    response = admin.get("/admin/stats")
    response.raise_for_status()
    faults: Counts = response.json().get("faults", {})
    return faults


def _delta(after: Counts, before: Counts, kind: str) -> dict[str, int]:
    return {
        group: kinds.get(kind, 0) - before.get(group, {}).get(kind, 0)
        for group, kinds in after.items()
        if kinds.get(kind, 0) - before.get(group, {}).get(kind, 0)
    }


class WarmShutdown:
    """SIGTERM to a random ready worker; over once its successor is ready."""

    name = "sigterm"

    def __init__(self, crew: Crew) -> None:
        self._crew = crew
        self._event: Event | None = None

    def begin(self) -> float:
        self._event = self._crew.terminate_random()
        if self._event is None:
            raise RuntimeError("no ready worker to shut down")
        return self._event.at

    def over(self, now: float) -> bool:
        return self._event is not None and self._crew.back(self._event)

    def end(self) -> float:
        assert self._event is not None and self._event.ready_at is not None
        return self._event.ready_at

    def details(self) -> dict[str, Any]:
        event = self._event
        if event is None:
            return {}
        return {
            "worker": event.worker,
            "pid": event.pid,
            "exit_code": event.exit_code,
            "shutdown_s": None if event.exited_at is None else round(event.exited_at - event.at, 2),
        }


class RedisRestart:
    """Stop the suite's Redis, keep it down a moment, start it again (AOF)."""

    name = "redis_restart"

    def __init__(self, server: AofRedis, down_s: float = REDIS_DOWN_S) -> None:
        self._server = server
        self._down_s = down_s
        self._stopped_at = 0.0
        self._back_at = 0.0
        self._pids: tuple[int | None, int | None] = (None, None)

    def begin(self) -> float:
        before = self._server.pid
        self._stopped_at, self._back_at = self._server.restart(self._down_s)
        self._pids = (before, self._server.pid)
        return self._stopped_at

    def over(self, now: float) -> bool:
        return True

    def end(self) -> float:
        return self._back_at

    def details(self) -> dict[str, Any]:
        return {"down_s": round(self._back_at - self._stopped_at, 2), "pids": list(self._pids)}


class SlowUpstream:
    """Every submit answered ``delay_s`` late for ``duration_s`` (the task still created)."""

    name = "slow_upstream"

    def __init__(self, admin: httpx.Client, duration_s: float, delay_s: float = SLOW_DELAY_S):
        self._admin = admin
        self._duration_s = duration_s
        self._delay_s = delay_s
        self._began = 0.0
        self._saved: dict[str, Any] = {}
        self._before: Counts = {}
        self._seen: dict[str, int] = {}

    def begin(self) -> float:
        response = self._admin.get("/admin/config")
        response.raise_for_status()
        submit = response.json()["faults"]["submit"]
        self._saved = {"delay_rate": submit["delay_rate"], "delay_s": submit["delay_s"]}
        self._before = _faults_of(self._admin)
        patch = {"faults": {"submit": {"delay_rate": 1.0, "delay_s": self._delay_s}}}
        self._admin.patch("/admin/config", json=patch).raise_for_status()
        self._began = time.time()
        return self._began

    def over(self, now: float) -> bool:
        return now >= self._began + self._duration_s

    def end(self) -> float:
        patch = {"faults": {"submit": self._saved}}
        self._admin.patch("/admin/config", json=patch).raise_for_status()
        self._seen = _delta(_faults_of(self._admin), self._before, "delay")
        return time.time()

    def details(self) -> dict[str, Any]:
        return {"delay_s": self._delay_s, "delayed_calls": self._seen}


class UpstreamOutage:
    """``POST /admin/outage``: every call of the API groups answers 503 for ``duration_s``."""

    name = "upstream_outage"

    def __init__(self, admin: httpx.Client, duration_s: float) -> None:
        self._admin = admin
        self._duration_s = duration_s
        self._window: dict[str, Any] = {}
        self._before: Counts = {}
        self._seen: dict[str, int] = {}

    def begin(self) -> float:
        self._before = _faults_of(self._admin)
        body = {"duration_s": self._duration_s, "groups": list(API_GROUPS)}
        response = self._admin.post("/admin/outage", json=body)
        response.raise_for_status()
        self._window = response.json()
        return float(self._window["start_epoch_s"])

    def over(self, now: float) -> bool:
        return now >= float(self._window["end_epoch_s"])

    def end(self) -> float:
        self._seen = _delta(_faults_of(self._admin), self._before, "outage")
        return float(self._window["end_epoch_s"])

    def details(self) -> dict[str, Any]:
        per_s = {g: round(n / self._duration_s, 2) for g, n in self._seen.items()}
        return {"calls_refused": self._seen, "calls_refused_per_s": per_s}


class S3Outage:
    """The S3 proxy resets (or refuses) every connection for ``duration_s``."""

    name = "s3_outage"

    def __init__(self, proxy: TcpProxy, duration_s: float, mode: str) -> None:
        self._proxy = proxy
        self._duration_s = duration_s
        self._mode = Mode(mode)
        self._began = 0.0
        self._before = 0
        self._reset = 0

    def begin(self) -> float:
        self._before = self._proxy.counts.reset
        self._proxy.set_mode(self._mode)
        self._began = time.time()
        return self._began

    def over(self, now: float) -> bool:
        return now >= self._began + self._duration_s

    def end(self) -> float:
        self._proxy.set_mode(Mode.FORWARD)
        self._reset = self._proxy.counts.reset - self._before
        return time.time()

    def details(self) -> dict[str, Any]:
        shown: dict[str, Any] = {"mode": self._mode.value}
        if self._mode is Mode.RESET:
            shown["connections_reset"] = self._reset
            shown["connections_reset_per_s"] = round(self._reset / self._duration_s, 2)
        return shown


def build(
    step: FaultStep,
    *,
    crew: Crew,
    redis: AofRedis,
    admin: httpx.Client,
    proxy: TcpProxy,
    s3_mode: str,
) -> Fault:
    """The fault of a plan step, bound to the run's parts.

    Raises:
        ValueError: Not a known fault.
    """
    if step.name == WarmShutdown.name:
        return WarmShutdown(crew)
    if step.name == RedisRestart.name:
        return RedisRestart(redis)
    if step.name == SlowUpstream.name:
        return SlowUpstream(admin, step.duration_s)
    if step.name == UpstreamOutage.name:
        return UpstreamOutage(admin, step.duration_s)
    if step.name == S3Outage.name:
        return S3Outage(proxy, step.duration_s, s3_mode)
    raise ValueError(f"unknown fault {step.name!r}")
