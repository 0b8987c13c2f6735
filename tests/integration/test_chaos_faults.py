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


def _queries(emulator: RunningEmulator, calls: int = CALLS) -> list[int | None]:
    """Query an unknown task ``calls`` times; each status code, None for a dropped answer."""
    codes: list[int | None] = []
    with httpx.Client(base_url=emulator.base_url, headers=emulator.auth(KEY)) as api:
        for _ in range(calls):
            try:
                codes.append(api.get("/tasks/no-such-task").status_code)
            except httpx.TransportError:
                codes.append(None)
    return codes


def _admin(emulator: RunningEmulator) -> httpx.Client:
    return httpx.Client(base_url=emulator.root_url, timeout=10.0)


def test_the_flaky_window_drops_and_truncates_answers_then_puts_the_rates_back(
    emulator: RunningEmulator,
) -> None:
    emulator.set_config(Scenario().emulator_config())
    before = emulator.get_config()["faults"]
    with _admin(emulator) as admin:
        fault = faults.flaky_upstream(admin, duration_s=5.0)
        fault.begin()
        during = emulator.get_config()["faults"]
        codes = _queries(emulator)
        fault.end()
    assert {k: during["query"][k] for k in FLAKY_RATES} == FLAKY_RATES
    assert {k: during["submit"][k] for k in FLAKY_RATES} == FLAKY_RATES
    assert emulator.get_config()["faults"] == before
    injected = fault.details()["faults_injected"]
    assert injected["drop"].get("query", 0) == codes.count(None) > 0
    assert injected["malformed"].get("query", 0) > 0  # drawn (a 404 stays whole: not a 200)


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
