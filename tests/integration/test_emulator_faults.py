"""Fault injection over real HTTP: errors, delays, drops, broken bodies, outages."""

from __future__ import annotations

import json
import time
from typing import Any

import httpx
import pytest

from tests.integration.emulator_harness import (
    ASYNC_HEADERS,
    FAST_MODELS,
    MESSAGES_PATH,
    RunningEmulator,
    first_image_url,
    messages_body,
    wait_for,
)

pytestmark = pytest.mark.integration

# A connection closed without an answer reads as either, depending on FIN/RST timing.
DROPPED = (httpx.RemoteProtocolError, httpx.ReadError)


def _faults(**groups: dict[str, Any]) -> dict[str, Any]:
    return {"models": FAST_MODELS, "faults": groups}


def _fresh_client(emulator: RunningEmulator) -> httpx.Client:
    return httpx.Client(base_url=emulator.base_url, headers=emulator.auth(), timeout=10.0)


def _listed(emulator: RunningEmulator) -> list[dict[str, Any]]:
    data: list[dict[str, Any]] = emulator.api.get("/tasks").json()["data"]
    return data


def test_error_answers(emulator: RunningEmulator) -> None:
    emulator.set_config(_faults(query={"error_500_rate": 1.0}, list={"error_503_rate": 1.0}))
    internal = emulator.api.get("/tasks/any")
    assert internal.status_code == 500
    assert internal.json() == {
        "request_id": internal.headers["x-request-id"],
        "code": "InternalError",
        "message": "An internal error has occured, please try again later or contact service "
        "support.",
    }
    unavailable = emulator.api.get("/tasks")
    assert unavailable.status_code == 503
    assert unavailable.json()["code"] == "ServiceUnavailable"
    assert unavailable.json()["message"] == (
        "Service temporarily unavailable, possibly overloaded or not ready."
    )
    faults = emulator.stats()["faults"]
    assert faults == {"query": {"error_500": 1}, "list": {"error_503": 1}}


def test_slow_answers(emulator: RunningEmulator) -> None:
    emulator.set_config(_faults(query={"delay_rate": 1.0, "delay_s": 0.4}))
    started = time.monotonic()
    assert emulator.api.get("/tasks/any").status_code == 200
    assert time.monotonic() - started >= 0.4


def test_dropped_connection(emulator: RunningEmulator) -> None:
    emulator.set_config(_faults(query={"drop_rate": 1.0}))
    with _fresh_client(emulator) as client, pytest.raises(DROPPED):
        client.get("/tasks/any")
    assert emulator.api.get("/tasks").status_code == 200, "other groups are unaffected"


def test_malformed_body(emulator: RunningEmulator) -> None:
    task_id = emulator.submit_ok(messages_body())
    emulator.set_config(_faults(query={"malformed_rate": 1.0}))
    response = emulator.api.get(f"/tasks/{task_id}")
    assert response.status_code == 200
    with pytest.raises(json.JSONDecodeError):
        json.loads(response.content)


def test_submit_dropped_after_the_task_was_created(emulator: RunningEmulator) -> None:
    emulator.set_config(_faults(submit={"drop_after_rate": 1.0}))
    with _fresh_client(emulator) as client, pytest.raises(DROPPED):
        client.post(MESSAGES_PATH, json=messages_body(), headers=ASYNC_HEADERS)
    (task,) = _listed(emulator)
    emulator.wait_status(task["task_id"], "SUCCEEDED")
    stats = emulator.model_stats("wan2.7-image-pro")
    assert stats["submits_accepted"] == 1
    assert stats["images_billed"] == 1, "the lost submit is billed"
    assert emulator.stats()["faults"]["submit"] == {"drop_after": 1}


def test_submit_error_after_the_task_was_created(emulator: RunningEmulator) -> None:
    emulator.set_config(_faults(submit={"error_after_rate": 1.0}))
    assert emulator.submit(messages_body()).status_code == 500
    assert len(_listed(emulator)) == 1


def test_submit_dropped_before_processing_creates_nothing(emulator: RunningEmulator) -> None:
    emulator.set_config(_faults(submit={"drop_rate": 1.0, "error_503_rate": 0.0}))
    with _fresh_client(emulator) as client, pytest.raises(DROPPED):
        client.post(MESSAGES_PATH, json=messages_body(), headers=ASYNC_HEADERS)
    assert _listed(emulator) == []


def test_outage_window(emulator: RunningEmulator) -> None:
    task_id = emulator.submit_ok(messages_body())
    emulator.outage(1.0)
    assert emulator.submit(messages_body()).status_code == 503
    assert emulator.api.get(f"/tasks/{task_id}").json()["code"] == "ServiceUnavailable"
    wait_for(
        lambda: emulator.api.get(f"/tasks/{task_id}").status_code == 200,
        timeout_s=5,
        what="the outage to end",
    )
    assert emulator.submit(messages_body()).status_code == 200


def test_result_download_faults_answer_like_oss(emulator: RunningEmulator) -> None:
    task_id = emulator.submit_ok(messages_body())
    url = first_image_url(emulator.wait_status(task_id, "SUCCEEDED"))
    emulator.patch_config({"faults": {"results": {"error_503_rate": 1.0}}})
    response = httpx.get(url)
    assert response.status_code == 503
    assert "<Code>ServiceUnavailable</Code>" in response.text
    emulator.patch_config({"faults": {"results": {"error_503_rate": 0.0}}})
    assert httpx.get(url).status_code == 200


def test_fault_rates_are_shares(emulator: RunningEmulator) -> None:
    emulator.set_config({**_faults(query={"error_503_rate": 0.5}), "random_seed": 1})
    codes = [emulator.api.get("/tasks/any").status_code for _ in range(60)]
    assert 10 < codes.count(503) < 50
    assert set(codes) == {200, 503}
