"""Wire details over real HTTP: headers, request ids, SSE, uploads, routing, admin API."""

from __future__ import annotations

import json
import re
from typing import Any

import httpx
import pytest

from tests.integration.conftest import StartEmulator
from tests.integration.emulator_harness import (
    ASYNC_HEADERS,
    FAST_CONFIG,
    I2I_PATH,
    MESSAGES_PATH,
    SYNC_PATH,
    RunningEmulator,
    i2i_body,
    messages_body,
    png_bytes,
)

pytestmark = pytest.mark.integration

FRAME_RE = re.compile(r"^id:(\d+)\nevent:(\w+)\n:HTTP_STATUS/(\d+)\ndata:(.*)$")
SSE_HEADERS = {"X-DashScope-SSE": "enable", "Accept": "text/event-stream"}


def _frames(text: str) -> list[tuple[int, str, int, dict[str, Any]]]:
    frames = []
    for block in text.strip().split("\n\n"):
        match = FRAME_RE.match(block)
        assert match, block
        frames.append((int(match[1]), match[2], int(match[3]), json.loads(match[4])))
    return frames


@pytest.mark.parametrize("path", [MESSAGES_PATH, I2I_PATH])
def test_async_endpoints_need_the_async_header(emulator: RunningEmulator, path: str) -> None:
    response = emulator.api.post(path, json=messages_body())
    assert response.status_code == 403
    assert response.json()["code"] == "AccessDenied"
    assert response.json()["message"] == "current user api does not support synchronous calls"


def test_submit_answer_and_request_ids(emulator: RunningEmulator) -> None:
    submitted = emulator.submit(messages_body(), path=MESSAGES_PATH)
    body = submitted.json()
    assert set(body) == {"request_id", "output"}
    assert set(body["output"]) == {"task_id", "task_status"}
    assert body["output"]["task_status"] == "PENDING"
    answers = [
        submitted,
        emulator.api.get(f"/tasks/{body['output']['task_id']}"),
        emulator.api.get("/tasks/unknown"),
        emulator.api.get("/tasks", headers={"Authorization": "Bearer nope"}),
        emulator.api.get("/no/such/route"),
        emulator.api.post(MESSAGES_PATH, content=b"{not json", headers=ASYNC_HEADERS),
    ]
    for answer in answers:
        assert answer.json()["request_id"] == answer.headers["x-request-id"], answer.text
    assert [a.status_code for a in answers[3:]] == [401, 404, 400]
    assert answers[3].json()["code"] == "InvalidApiKey"


def test_task_route_alias(emulator: RunningEmulator) -> None:
    task_id = emulator.submit_ok(messages_body())
    alias = httpx.get(f"{emulator.root_url}/api-task/v1/tasks/{task_id}", headers=emulator.auth())
    assert alias.json()["output"]["task_id"] == task_id


def test_validation_errors_pass_through(emulator: RunningEmulator) -> None:
    no_images = emulator.submit(i2i_body("blend", []), path=I2I_PATH)
    assert no_images.status_code == 400
    assert no_images.json()["code"] == "InvalidParameter"
    unknown = emulator.submit(messages_body(model="wan9-image"))
    assert unknown.status_code == 404
    assert unknown.json()["code"] == "ModelNotFound"
    assert emulator.model_stats("wan2.5-i2i-preview")["rejected"] == {"InvalidParameter": 1}


def test_sse_frames(emulator: RunningEmulator) -> None:
    answer = emulator.api.post(SYNC_PATH, json=messages_body(n=2, size="1K"), headers=SSE_HEADERS)
    assert answer.status_code == 200
    assert answer.headers["content-type"].startswith("text/event-stream")
    frames = _frames(answer.text)
    assert [(f[0], f[1], f[2]) for f in frames] == [(1, "result", 200), (2, "result", 200)]
    last = frames[-1][3]
    assert last["output"]["finished"] is True
    assert last["output"]["choices"][0]["finish_reason"] == "stop"
    assert last["usage"]["image_count"] == 2
    assert last["request_id"] == answer.headers["x-request-id"]

    error = emulator.api.post(SYNC_PATH, json=messages_body(n=99), headers=SSE_HEADERS)
    assert error.status_code == 200
    ((number, event, status, data),) = _frames(error.text)
    assert (number, event, status) == (1, "error", 400)
    assert data["code"] == "InvalidParameter"
    assert data["request_id"] == error.headers["x-request-id"]


def test_sync_interleave_needs_streaming(emulator: RunningEmulator) -> None:
    body = messages_body(model="wan2.6-image", enable_interleave=True)
    refused = emulator.api.post(SYNC_PATH, json=body)
    assert refused.status_code == 400
    streamed = emulator.api.post(SYNC_PATH, json=body, headers=SSE_HEADERS)
    kinds = [
        f[3]["output"]["choices"][0]["message"]["content"][0]["type"]
        for f in _frames(streamed.text)
    ]
    assert kinds[0] == "text"
    assert "image" in kinds


def _upload(emulator: RunningEmulator, key: str | None = None) -> str:
    policy = emulator.api.get("/uploads", params={"action": "getPolicy", "model": "wan2.7-image"})
    assert policy.status_code == 200, policy.text
    data = policy.json()["data"]
    object_key = f"{data['upload_dir']}/{key or 'input.png'}"
    form = {
        "OSSAccessKeyId": data["oss_access_key_id"],
        "Signature": data["signature"],
        "policy": data["policy"],
        "key": object_key,
        "x-oss-object-acl": data["x_oss_object_acl"],
        "x-oss-forbid-overwrite": data["x_oss_forbid_overwrite"],
        "success_action_status": "200",
    }
    posted = httpx.post(
        data["upload_host"], data=form, files={"file": ("input.png", png_bytes(300, 600))}
    )
    assert posted.status_code == 200, posted.text
    again = httpx.post(data["upload_host"], data=form, files={"file": ("x.png", b"x")})
    assert again.status_code == 409
    forged = httpx.post(
        data["upload_host"], data={**form, "Signature": "AAAA"}, files={"file": ("x.png", b"x")}
    )
    assert forged.status_code == 403
    assert "<Code>SignatureDoesNotMatch</Code>" in forged.text
    return f"oss://{object_key}"


def test_oss_uploads_resolve_only_on_request(emulator: RunningEmulator) -> None:
    source = _upload(emulator)
    body = messages_body(images=[source], model="wan2.7-image", size="1K")
    without = emulator.submit(body)
    assert without.status_code == 400
    assert without.json()["code"] == "InvalidURL"
    resolved = emulator.api.post(
        MESSAGES_PATH,
        json=body,
        headers={**ASYNC_HEADERS, "X-DashScope-OssResourceResolve": "enable"},
    )
    assert resolved.status_code == 200, resolved.text
    task_id = resolved.json()["output"]["task_id"]
    size = emulator.wait_status(task_id, "SUCCEEDED")["usage"]["size"]
    width, height = map(int, size.split("*"))
    assert height > width, "the uploaded portrait image set the output aspect"


def test_admin_config_stats_and_reset(emulator: RunningEmulator) -> None:
    config = emulator.get_config()
    assert config["accounts"][0]["api_keys"] == [emulator.api_key]
    patched = emulator.patch_config({"task_ttl_s": 120, "faults": {"query": {"delay_s": 0.1}}})
    assert patched["task_ttl_s"] == 120
    assert patched["faults"]["query"]["delay_s"] == 0.1
    assert patched["models"] == emulator.get_config()["models"]

    invalid = emulator.admin.put("/admin/config", json={"models": {"*": {"bogus": 1}}})
    assert invalid.status_code == 400
    assert invalid.json()["code"] == "InvalidParameter"
    assert emulator.get_config()["task_ttl_s"] == 120, "a refused config changes nothing"
    too_faulty = emulator.admin.patch(
        "/admin/config", json={"faults": {"submit": {"drop_rate": 0.6, "error_500_rate": 0.6}}}
    )
    assert too_faulty.status_code == 400

    task_id = emulator.submit_ok(messages_body())
    emulator.wait_status(task_id, "SUCCEEDED")
    stats = emulator.stats()
    assert stats["tasks_live"] == 1
    assert stats["accounts"]["default"]["queries"] >= 1
    emulator.reset()
    assert emulator.task(task_id)["output"]["task_status"] == "UNKNOWN"
    assert emulator.stats()["tasks_live"] == 0
    assert emulator.admin.get("/health").json() == {"status": "ok"}


def test_admin_token_and_multiple_keys(start_emulator: StartEmulator) -> None:
    config = {
        **FAST_CONFIG,
        "admin_token": "secret",
        "accounts": [{"name": "main", "api_keys": ["sk-1", "sk-2"]}],
    }
    emulator = start_emulator(config)
    assert emulator.admin.get("/admin/stats").status_code == 403
    allowed = emulator.admin.get("/admin/stats", headers={"X-Admin-Token": "secret"})
    assert allowed.status_code == 200
    assert emulator.api.get("/tasks").status_code == 401, "the default key is not configured"
    task = emulator.api.post(
        MESSAGES_PATH, json=messages_body(), headers={**ASYNC_HEADERS, **emulator.auth("sk-1")}
    )
    task_id = task.json()["output"]["task_id"]
    seen = emulator.api.get(f"/tasks/{task_id}", headers=emulator.auth("sk-2"))
    assert seen.json()["output"]["task_id"] == task_id
