"""The chaos suite's upstream faults against a real emulator: each changes what the emulator
answers for its window, counts what it injected, and puts the configuration back."""

from __future__ import annotations

import httpx

from bench.chaos import faults
from bench.chaos.scenario import (
    FLAKY_RATES,
    KEY,
    RATE_STORM_QUERY_QPS,
    RATE_STORM_SUBMIT_RPS,
    Scenario,
)
from tests.integration.emulator_harness import RunningEmulator

CALLS = 40
KINDS = ("drop", "malformed")


BROKEN = "broken"
"""A 200 answer whose body is not JSON (truncated)."""


def _queries(emulator: RunningEmulator, calls: int = CALLS) -> list[int | str | None]:
    """Query an unknown task ``calls`` times (the API answers 200, status UNKNOWN); each
    status code, :data:`BROKEN` for a body that is not JSON, None for a dropped answer."""
    codes: list[int | str | None] = []
    with httpx.Client(base_url=emulator.base_url, headers=emulator.auth(KEY)) as api:
        for _ in range(calls):
            try:
                response = api.get("/tasks/no-such-task")
            except httpx.TransportError:
                codes.append(None)
                continue
            try:
                response.json()
            except ValueError:
                codes.append(BROKEN)
            else:
                codes.append(response.status_code)
    return codes


def _admin(emulator: RunningEmulator) -> httpx.Client:
    return httpx.Client(base_url=emulator.root_url, timeout=10.0)


def test_the_flaky_window_drops_and_truncates_answers_then_puts_the_rates_back(
    emulator: RunningEmulator,
) -> None:
    emulator.set_config(Scenario().emulator_config())
    before = emulator.get_config()["faults"]
    with _admin(emulator) as admin:
        suite = faults.flaky_upstream(admin, duration_s=5.0)
        suite.begin()
        during = emulator.get_config()["faults"]
        suite.end()
        heavy = {"drop_rate": 0.5, "malformed_rate": 0.4}  # many faults in a few calls
        fault = faults.FaultRatesWindow("flaky", admin, 5.0, {"query": heavy}, KINDS)
        fault.begin()
        codes = _queries(emulator)
        fault.end()
    assert {k: during["query"][k] for k in FLAKY_RATES} == FLAKY_RATES
    assert {k: during["submit"][k] for k in FLAKY_RATES} == FLAKY_RATES
    assert emulator.get_config()["faults"] == before
    injected = fault.details()["faults_injected"]
    assert injected["drop"].get("query", 0) == codes.count(None) > 0
    assert injected["malformed"].get("query", 0) == codes.count(BROKEN) > 0
    assert codes.count(200) == CALLS - codes.count(None) - codes.count(BROKEN)


def test_the_rate_storm_answers_429_then_puts_the_limits_back(emulator: RunningEmulator) -> None:
    emulator.set_config(Scenario().emulator_config())
    before = emulator.get_config()["accounts"]
    with _admin(emulator) as admin:
        storm = faults.RateStorm(admin, duration_s=5.0)
        storm.begin()
        [account] = emulator.get_config()["accounts"]
        codes = _queries(emulator)
        storm.end()
    assert account["query_qps"] == RATE_STORM_QUERY_QPS
    assert {limits["submit_rps"] for limits in account["limits"].values()} == {
        RATE_STORM_SUBMIT_RPS
    }
    assert emulator.get_config()["accounts"] == before
    throttled = codes.count(429)
    assert throttled > CALLS // 2
    assert sum(storm.details()["answered_429_by_code"].values()) == throttled
