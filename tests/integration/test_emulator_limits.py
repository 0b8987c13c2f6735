"""Account limits of the emulator over real HTTP: submit rate, concurrency, query budget."""

from __future__ import annotations

import itertools
from typing import Any

import pytest

from tests.integration.emulator_harness import (
    FAST_MODELS,
    RunningEmulator,
    messages_body,
)

pytestmark = pytest.mark.integration

KEY_B = "sk-account-b"


def _config(
    limits: dict[str, Any] | None = None,
    *,
    query_qps: float = 0,
    models: dict[str, Any] | None = None,
    **extra: Any,
) -> dict[str, Any]:
    return {
        "accounts": [
            {
                "name": "default",
                "api_keys": ["sk-emulator"],
                "query_qps": query_qps,
                "limits": limits or {},
            },
            {"name": "b", "api_keys": [KEY_B], "query_qps": query_qps},
        ],
        "models": models or FAST_MODELS,
        **extra,
    }


def _slow(running_s: float) -> dict[str, Any]:
    return {"*": {"pending": {"median_s": 0.0}, "running": {"median_s": running_s}}}


def test_submit_rate_is_limited_per_model(emulator: RunningEmulator) -> None:
    emulator.set_config(_config({"wan2.7-image": {"submit_rps": 0.2, "burst": 2}}))
    body = messages_body(model="wan2.7-image")
    answers = [emulator.submit(body) for _ in range(3)]
    assert [a.status_code for a in answers] == [200, 200, 429]
    throttled = answers[2]
    assert throttled.json() == {
        "request_id": throttled.headers["x-request-id"],
        "code": "Throttling.RateQuota",
        "message": "Requests rate limit exceeded, please try again later.",
    }
    assert "retry-after" not in throttled.headers
    assert emulator.submit(messages_body(model="wan2.7-image-pro")).status_code == 200
    assert emulator.submit(body, key=KEY_B).status_code == 200, "limits are per account"
    stats = emulator.model_stats("wan2.7-image")
    assert stats["throttled"] == {"Throttling.RateQuota": 1}
    assert stats["submits_accepted"] == 2


@pytest.mark.parametrize(
    ("retry_after", "expected"),
    [({"mode": "fixed", "seconds": 3}, "3"), ({"mode": "computed"}, "2")],
)
def test_retry_after_is_optional(
    emulator: RunningEmulator, retry_after: dict[str, Any], expected: str
) -> None:
    emulator.set_config(_config({"*": {"submit_rps": 0.5}}, retry_after=retry_after))
    assert emulator.submit(messages_body()).status_code == 200
    throttled = emulator.submit(messages_body())
    assert throttled.status_code == 429
    assert throttled.headers["retry-after"] == expected


def test_concurrency_cap_rejects(emulator: RunningEmulator) -> None:
    emulator.set_config(_config({"*": {"max_concurrent": 1}}, models=_slow(1.0)))
    first = emulator.submit_ok(messages_body())
    refused = emulator.submit(messages_body())
    assert refused.status_code == 429
    assert refused.json()["code"] == "Throttling.AllocationQuota"
    assert refused.json()["message"] == (
        "Allocated quota exceeded, please increase your quota limit."
    )
    emulator.wait_status(first, "SUCCEEDED")
    assert emulator.submit(messages_body()).status_code == 200, "the slot is free again"
    stats = emulator.model_stats("wan2.7-image-pro")
    assert stats["throttled"] == {"Throttling.AllocationQuota": 1}
    assert stats["max_in_flight"] == 1


def test_concurrency_cap_queues(emulator: RunningEmulator) -> None:
    emulator.set_config(
        _config({"*": {"max_concurrent": 1, "on_concurrency": "queue"}}, models=_slow(0.5))
    )
    ids = [emulator.submit_ok(messages_body(f"edit {i}")) for i in range(3)]
    assert emulator.task(ids[2])["output"]["task_status"] == "PENDING"
    done = [emulator.wait_status(i, "SUCCEEDED")["output"] for i in ids]
    for before, after in itertools.pairwise(done):
        assert after["scheduled_time"] >= before["end_time"], "FIFO: one slot, one at a time"
    stats = emulator.model_stats("wan2.7-image-pro")
    assert (stats["max_in_flight"], stats["max_queued"]) == (1, 2)
    assert stats["tasks_by_status"] == {"SUCCEEDED": 3}


def test_query_budget_is_per_account(emulator: RunningEmulator) -> None:
    emulator.set_config(_config(query_qps=0.2))
    task_id = emulator.submit_ok(messages_body())
    assert emulator.api.get(f"/tasks/{task_id}").status_code == 200
    throttled = emulator.api.get(f"/tasks/{task_id}")
    assert throttled.status_code == 429
    assert throttled.json()["code"] == "Throttling"
    assert throttled.json()["message"] == "Requests throttling triggered."
    assert emulator.api.get("/tasks").status_code == 429, "the list shares the budget"
    other = emulator.api.get(f"/tasks/{task_id}", headers=emulator.auth(KEY_B))
    assert other.status_code == 200
    assert emulator.stats()["accounts"]["default"]["throttled"] == {"Throttling": 2}


def test_limits_off_by_default(emulator: RunningEmulator) -> None:
    ids = [emulator.submit_ok(messages_body()) for _ in range(10)]
    for task_id in ids * 3:
        assert emulator.api.get(f"/tasks/{task_id}").status_code == 200
    assert emulator.model_stats("wan2.7-image-pro")["max_in_flight"] >= 2
