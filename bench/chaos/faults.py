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
flaky_upstream     a share of submits and queries is dropped before any answer, another
                   answered 200 with a truncated body (``faults.*.drop_rate``,
                   ``malformed_rate``); a truncated submit still created its task
rate_storm         the account's submit rate and query budget are cut (to
                   ``RATE_STORM_SUBMIT_RPS`` and ``RATE_STORM_QUERY_QPS``), unannounced
                   (``PATCH /admin/config``): 429s until the limiter has adapted
s3_slow            the S3 proxy holds every chunk S3 sends back ``S3_SLOW_DELAY_S`` (under the
                   client's read timeout)
=================  ==========================================================================

Each fault's :meth:`Fault.details` says what happened during it: the upstream calls it
turned away (from the emulator's fault counters) or the S3 connections the proxy reset, so
a hot loop (clients retrying without pause) shows.
"""

from __future__ import annotations

import time
from typing import Any, Final, Protocol

import httpx

from bench.chaos.crew import Crew, Event
from bench.chaos.proxy import Mode, TcpProxy
from bench.chaos.redis_server import AofRedis
from bench.chaos.scenario import (
    API_GROUPS,
    FLAKY_RATES,
    RATE_STORM_QUERY_QPS,
    RATE_STORM_SUBMIT_RPS,
    REDIS_DOWN_S,
    S3_SLOW_DELAY_S,
    SLOW_DELAY_S,
    FaultStep,
)

SLOW_UPSTREAM: Final = "slow_upstream"
FLAKY_UPSTREAM: Final = "flaky_upstream"


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


class FaultRatesWindow:
    """Emulator fault rates raised for ``duration_s`` (``PATCH /admin/config``), then put
    back as they were; it counts the faults of ``kinds`` the emulator injected meanwhile."""

    def __init__(
        self,
        name: str,
        admin: httpx.Client,
        duration_s: float,
        rates: dict[str, dict[str, float]],
        kinds: tuple[str, ...],
    ) -> None:
        self.name = name
        self._admin = admin
        self._duration_s = duration_s
        self._rates = rates
        self._kinds = kinds
        self._began = 0.0
        self._saved: dict[str, dict[str, Any]] = {}
        self._before: Counts = {}
        self._seen: dict[str, dict[str, int]] = {}

    def begin(self) -> float:
        response = self._admin.get("/admin/config")
        response.raise_for_status()
        current = response.json()["faults"]
        self._saved = {
            group: {field: current[group][field] for field in fields}
            for group, fields in self._rates.items()
        }
        self._before = _faults_of(self._admin)
        self._admin.patch("/admin/config", json={"faults": self._rates}).raise_for_status()
        self._began = time.time()
        return self._began

    def over(self, now: float) -> bool:
        return now >= self._began + self._duration_s

    def end(self) -> float:
        self._admin.patch("/admin/config", json={"faults": self._saved}).raise_for_status()
        after = _faults_of(self._admin)
        self._seen = {kind: _delta(after, self._before, kind) for kind in self._kinds}
        return time.time()

    def details(self) -> dict[str, Any]:
        return {"rates": self._rates, "faults_injected": self._seen}


def slow_upstream(admin: httpx.Client, duration_s: float) -> FaultRatesWindow:
    """Every submit answered ``SLOW_DELAY_S`` late (the task still created): ambiguous."""
    rates = {"submit": {"delay_rate": 1.0, "delay_s": SLOW_DELAY_S}}
    return FaultRatesWindow(SLOW_UPSTREAM, admin, duration_s, rates, ("delay",))


def flaky_upstream(admin: httpx.Client, duration_s: float) -> FaultRatesWindow:
    """Submits and queries dropped without an answer, or answered with a truncated body."""
    rates = {group: dict(FLAKY_RATES) for group in ("submit", "query")}
    return FaultRatesWindow(FLAKY_UPSTREAM, admin, duration_s, rates, ("drop", "malformed"))


class RateStorm:
    """The accounts' submit rate and query budget cut to ``RATE_STORM_SUBMIT_RPS`` and
    ``RATE_STORM_QUERY_QPS`` for ``duration_s``, unannounced: a storm of 429s until the
    limiter adapts; then put back."""

    name = "rate_storm"

    def __init__(self, admin: httpx.Client, duration_s: float) -> None:
        self._admin = admin
        self._duration_s = duration_s
        self._began = 0.0
        self._saved: list[dict[str, Any]] = []
        self._before: dict[str, int] = {}
        self._seen: dict[str, int] = {}
        self._lasted_s = duration_s

    def begin(self) -> float:
        response = self._admin.get("/admin/config")
        response.raise_for_status()
        self._saved = response.json()["accounts"]
        stormy = [
            {
                **account,
                "query_qps": RATE_STORM_QUERY_QPS,
                "limits": {
                    model: {**limits, "submit_rps": RATE_STORM_SUBMIT_RPS}
                    for model, limits in account["limits"].items()
                },
            }
            for account in self._saved
        ]
        self._before = self._throttled()
        self._admin.patch("/admin/config", json={"accounts": stormy}).raise_for_status()
        self._began = time.time()
        return self._began

    def over(self, now: float) -> bool:
        return now >= self._began + self._duration_s

    def end(self) -> float:
        self._admin.patch("/admin/config", json={"accounts": self._saved}).raise_for_status()
        ended = time.time()
        after = self._throttled()
        deltas = {code: n - self._before.get(code, 0) for code, n in after.items()}
        self._seen = {code: n for code, n in deltas.items() if n > 0}
        self._lasted_s = ended - self._began
        return ended

    def details(self) -> dict[str, Any]:
        total = sum(self._seen.values())
        return {
            "submit_rps": RATE_STORM_SUBMIT_RPS,
            "query_qps": RATE_STORM_QUERY_QPS,
            "answered_429_by_code": self._seen,
            "answered_429_per_s": round(total / max(self._lasted_s, 1e-9), 2),
        }

    def _throttled(self) -> dict[str, int]:
        response = self._admin.get("/admin/stats")
        response.raise_for_status()
        totals: dict[str, int] = {}
        for account in response.json()["accounts"].values():
            for code, n in account.get("throttled", {}).items():
                totals[code] = totals.get(code, 0) + int(n)
        return totals


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


class S3Slow:
    """Every chunk S3 sends back held ``S3_SLOW_DELAY_S`` for ``duration_s`` (slow, not
    down)."""

    name = "s3_slow"

    def __init__(self, proxy: TcpProxy, duration_s: float) -> None:
        self._proxy = proxy
        self._duration_s = duration_s
        self._began = 0.0
        self._before = 0

    def begin(self) -> float:
        self._before = self._proxy.counts.accepted
        self._proxy.slow_answers(S3_SLOW_DELAY_S)
        self._began = time.time()
        return self._began

    def over(self, now: float) -> bool:
        return now >= self._began + self._duration_s

    def end(self) -> float:
        self._proxy.slow_answers(0.0)
        return time.time()

    def details(self) -> dict[str, Any]:
        opened = self._proxy.counts.accepted - self._before
        return {"answer_delay_s": S3_SLOW_DELAY_S, "connections_opened": opened}


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
    if step.name == SLOW_UPSTREAM:
        return slow_upstream(admin, step.duration_s)
    if step.name == FLAKY_UPSTREAM:
        return flaky_upstream(admin, step.duration_s)
    if step.name == RateStorm.name:
        return RateStorm(admin, step.duration_s)
    if step.name == S3Slow.name:
        return S3Slow(proxy, step.duration_s)
    if step.name == UpstreamOutage.name:
        return UpstreamOutage(admin, step.duration_s)
    if step.name == S3Outage.name:
        return S3Outage(proxy, step.duration_s, s3_mode)
    raise ValueError(f"unknown fault {step.name!r}")
