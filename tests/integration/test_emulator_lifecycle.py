"""Task lifecycle over real HTTP: statuses and times, accounts, expiry, failures, results."""

from __future__ import annotations

import re
from typing import Any

import httpx
import pytest

from tests.integration.emulator_harness import (
    FAST_MODELS,
    I2I_PATH,
    SYNC_PATH,
    RunningEmulator,
    first_image_url,
    i2i_body,
    messages_body,
    wait_for,
)

pytestmark = pytest.mark.integration

TIME_RE = re.compile(r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d{3}$")
KEY_A2 = "sk-account-a-second"
KEY_B = "sk-account-b"
INSPECTION = {
    "code": "DataInspectionFailed",
    "message": "Output data may contain inappropriate content.",
    "http_status": 400,
}


def _two_accounts(**extra: Any) -> dict[str, Any]:
    return {
        "accounts": [
            {"name": "default", "api_keys": ["sk-emulator", KEY_A2], "query_qps": 0},
            {"name": "b", "region": "cn-beijing", "api_keys": [KEY_B], "query_qps": 0},
        ],
        "models": FAST_MODELS,
        **extra,
    }


def test_statuses_and_times(emulator: RunningEmulator) -> None:
    emulator.set_config(
        {"models": {"*": {"pending": {"median_s": 0.5}, "running": {"median_s": 0.5}}}}
    )
    task_id = emulator.submit_ok(messages_body())
    pending = emulator.task(task_id)["output"]
    assert pending["task_status"] == "PENDING"
    assert TIME_RE.match(pending["submit_time"])
    assert "scheduled_time" not in pending
    running = emulator.wait_status(task_id, "RUNNING")
    assert TIME_RE.match(running["output"]["scheduled_time"])
    assert "end_time" not in running["output"]
    assert "usage" not in running
    done = emulator.wait_status(task_id, "SUCCEEDED")
    output = done["output"]
    assert output["submit_time"] < output["scheduled_time"] < output["end_time"]
    assert output["finished"] is True
    assert output["choices"][0]["message"]["role"] == "assistant"
    assert output["choices"][0]["message"]["content"][0]["type"] == "image"
    assert set(done["usage"]) == {
        "size",
        "total_tokens",
        "image_count",
        "output_tokens",
        "input_tokens",
    }
    refused = emulator.api.post(f"/tasks/{task_id}/cancel")
    assert refused.status_code == 400
    assert refused.json()["code"] == "UnsupportedOperation"


def test_tasks_belong_to_the_account(emulator: RunningEmulator) -> None:
    emulator.set_config(_two_accounts())
    task_id = emulator.submit_ok(messages_body())
    assert emulator.task(task_id, key=KEY_A2)["output"]["task_id"] == task_id
    foreign = emulator.api.get(f"/tasks/{task_id}", headers=emulator.auth(KEY_B))
    assert foreign.status_code == 200
    assert foreign.json() == {
        "request_id": foreign.headers["x-request-id"],
        "output": {"task_id": task_id, "task_status": "UNKNOWN"},
    }
    cancel = emulator.api.post(f"/tasks/{task_id}/cancel", headers=emulator.auth(KEY_B))
    assert cancel.status_code == 400
    listed = emulator.api.get("/tasks", headers=emulator.auth(KEY_B)).json()
    assert listed["total"] == 0
    mine = emulator.api.get("/tasks", headers=emulator.auth(KEY_A2)).json()
    assert [d["task_id"] for d in mine["data"]] == [task_id]
    assert mine["data"][0]["api_key_id"] != ""


def test_task_ids_expire(emulator: RunningEmulator) -> None:
    emulator.set_config({"models": FAST_MODELS, "task_ttl_s": 1.0})
    task_id = emulator.submit_ok(messages_body())
    assert emulator.task(task_id)["output"]["task_status"] != "UNKNOWN"
    emulator.wait_status(task_id, "UNKNOWN", timeout_s=5)
    stats = emulator.model_stats("wan2.7-image-pro")
    assert stats["tasks_by_status"] == {"SUCCEEDED": 1}, "expired tasks stay counted"
    assert stats["images_billed"] == 1


def test_result_urls_are_signed_and_expire(emulator: RunningEmulator) -> None:
    emulator.set_config({"models": FAST_MODELS, "result_url_ttl_s": 2.0})
    task_id = emulator.submit_ok(messages_body())
    done = emulator.wait_status(task_id, "SUCCEEDED")
    url = first_image_url(done)
    assert re.search(r"\?Expires=\d+&OSSAccessKeyId=[^&]+&Signature=[^&]+$", url)
    assert httpx.get(url).status_code == 200
    forged = httpx.get(url.replace("Signature=", "Signature=x"))
    assert forged.status_code == 403
    assert "<Code>SignatureDoesNotMatch</Code>" in forged.text
    assert httpx.get(url.split("?")[0]).status_code == 403

    def expired() -> httpx.Response | None:
        response = httpx.get(url)
        return response if response.status_code == 403 else None

    answer = wait_for(expired, timeout_s=5, what="the result URL to expire")
    assert answer.headers["content-type"].startswith("application/xml")
    assert "<Code>AccessDenied</Code>" in answer.text
    assert "<Message>Request has expired.</Message>" in answer.text
    assert answer.headers["x-oss-request-id"]


def test_failed_tasks_report_code_and_message(emulator: RunningEmulator) -> None:
    emulator.set_config(
        {
            "models": {"*": {**FAST_MODELS["*"], "failure_rate": 1.0}},
            "failure_codes": [INSPECTION],
        }
    )
    task_id = emulator.submit_ok(messages_body())
    failed = emulator.wait_status(task_id, "FAILED")
    output = failed["output"]
    assert (output["code"], output["message"]) == (INSPECTION["code"], INSPECTION["message"])
    assert TIME_RE.match(output["end_time"])
    assert "usage" not in failed
    assert "choices" not in output

    i2i_id = emulator.submit_ok(
        i2i_body("blend", ["https://example.com/a.png"], n=2), path=I2I_PATH
    )
    metrics = emulator.wait_status(i2i_id, "FAILED")["output"]["task_metrics"]
    assert metrics == {"TOTAL": 2, "SUCCEEDED": 0, "FAILED": 2}

    sync = emulator.api.post(SYNC_PATH, json=messages_body(model="wan2.7-image"))
    assert sync.status_code == 400
    assert sync.json()["code"] == "DataInspectionFailed"
    stats = emulator.model_stats("wan2.7-image-pro")
    assert stats["tasks_by_status"] == {"FAILED": 1}
    assert stats["images_billed"] == 0


def test_partial_success_bills_only_the_images_made(emulator: RunningEmulator) -> None:
    emulator.set_config({"models": {"*": {**FAST_MODELS["*"], "partial_failure_rate": 1.0}}})
    i2i_id = emulator.submit_ok(
        i2i_body("blend", ["https://example.com/a.png"], n=3), path=I2I_PATH
    )
    done = emulator.wait_status(i2i_id, "SUCCEEDED")
    metrics = done["output"]["task_metrics"]
    assert metrics["TOTAL"] == 3 and 1 <= metrics["FAILED"] <= 2
    assert metrics["SUCCEEDED"] == 3 - metrics["FAILED"] == done["usage"]["image_count"]
    results = done["output"]["results"]
    failed = [r for r in results if "url" not in r]
    assert len(failed) == metrics["FAILED"]
    assert all(set(r) == {"code", "message"} for r in failed)

    task_id = emulator.submit_ok(messages_body(n=3))
    done = emulator.wait_status(task_id, "SUCCEEDED")
    images = done["output"]["choices"][0]["message"]["content"]
    assert 1 <= len(images) == done["usage"]["image_count"] <= 2
    billed = emulator.model_stats("wan2.7-image-pro")["images_billed"]
    assert billed == done["usage"]["image_count"]


def test_a_result_can_be_the_input_of_the_next_edit(
    emulator: RunningEmulator, image_urls: dict[str, str]
) -> None:
    """Loopback inputs are fetched off the event loop, even from the emulator itself."""
    first = emulator.submit_ok(messages_body(images=[image_urls["car"]], size="1K"))
    done = emulator.wait_status(first, "SUCCEEDED")
    assert _is_landscape(done["usage"]["size"])
    second = emulator.submit_ok(messages_body(images=[first_image_url(done)], size="1K"))
    chained = emulator.wait_status(second, "SUCCEEDED")
    assert chained["usage"]["size"] == done["usage"]["size"], "the result's bytes were read"


def _is_landscape(size: str) -> bool:
    width, height = map(int, size.split("*"))
    return width > height
