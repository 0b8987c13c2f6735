"""DashScopeClient against httpx.MockTransport: requests on the wire, answers, failures."""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any

import httpx
import pytest
from pydantic import SecretStr

from config.regions import Region
from config.settings import UpstreamSettings
from workers.errors import (
    InputInvalid,
    SubmitAmbiguous,
    UpstreamAuthFailed,
    UpstreamRejected,
    UpstreamThrottled,
    UpstreamUnavailable,
    WanqError,
)
from workers.upstream import DashScopeClient, EditRequestLike, TaskStatus

KEY = "sk-test-SECRET-0123456789abcdef"
BASE = "https://dashscope-intl.aliyuncs.com/api/v1"
TASK = "0385dc79-5ff8-4d82-bcb6-000000000001"

Handler = Callable[[httpx.Request], httpx.Response]


@dataclass
class Recorder:
    """A MockTransport handler that records requests and replays canned answers."""

    answers: list[Handler | httpx.Response | Exception] = field(default_factory=list)
    requests: list[httpx.Request] = field(default_factory=list)

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        answer = self.answers.pop(0) if len(self.answers) > 1 else self.answers[0]
        if isinstance(answer, Exception):
            raise answer
        if isinstance(answer, httpx.Response):
            return answer
        return answer(request)

    @property
    def last(self) -> httpx.Request:
        return self.requests[-1]


@pytest.fixture
def recorder() -> Recorder:
    return Recorder(answers=[json_answer(200, {"request_id": "r0"})])


@pytest.fixture
def client(recorder: Recorder) -> Iterator[DashScopeClient]:
    with DashScopeClient(BASE, SecretStr(KEY), transport=httpx.MockTransport(recorder)) as c:
        yield c


@pytest.fixture(autouse=True)
def no_sleeping(monkeypatch: pytest.MonkeyPatch) -> None:
    def refuse(_: float) -> None:
        raise AssertionError("the client must never sleep")

    monkeypatch.setattr(time, "sleep", refuse)


def json_answer(status: int, body: Any, headers: Mapping[str, str] | None = None) -> httpx.Response:
    return httpx.Response(status, json=body, headers=headers)


def answer_with(recorder: Recorder, *answers: Handler | httpx.Response | Exception) -> None:
    recorder.answers[:] = list(answers)


class Protocol(StrEnum):  # stands in for workers.contract.Protocol
    MESSAGES = "messages"
    PROMPT_IMAGES = "prompt_images"


@dataclass
class FakeEditRequest:  # stands in for workers.contract.EditRequest
    model: str
    protocol: Protocol
    body: dict[str, Any]

    def to_body(self, resolve: object = None) -> dict[str, Any]:
        return self.body


def messages_body(model: str = "wan2.7-image-pro", *images: str) -> dict[str, Any]:
    content: list[dict[str, str]] = [{"text": "Spray the graffiti from image 2 onto the car"}]
    content += [{"image": url} for url in images or ("https://example.com/car.webp",)]
    return {
        "model": model,
        "input": {"messages": [{"role": "user", "content": content}]},
        "parameters": {"size": "2K", "n": 1, "watermark": False},
    }


def wan25_body(*images: str) -> dict[str, Any]:
    return {
        "model": "wan2.5-i2i-preview",
        "input": {"prompt": "Put the clock by the vase", "images": list(images)},
        "parameters": {"n": 2, "seed": 3},
    }


SUBMITTED = {
    "request_id": "4909100c-7b5a-9f92-bfe5-000000000000",
    "output": {"task_status": "PENDING", "task_id": TASK},
}


# --- requests on the wire -----------------------------------------------------------------


@pytest.mark.parametrize("model", ["wan2.7-image-pro", "wan2.7-image", "wan2.6-image"])
def test_submit_messages_model(client: DashScopeClient, recorder: Recorder, model: str) -> None:
    answer_with(recorder, json_answer(200, SUBMITTED))
    body = messages_body(model)
    result = client.submit(FakeEditRequest(model, Protocol.MESSAGES, body))
    sent = recorder.last
    assert sent.method == "POST"
    assert str(sent.url) == f"{BASE}/services/aigc/image-generation/generation"
    assert sent.headers["Authorization"] == f"Bearer {KEY}"
    assert sent.headers["Content-Type"] == "application/json; charset=utf-8"
    assert sent.headers["Accept"] == "application/json; charset=utf-8"
    assert sent.headers["X-DashScope-Async"] == "enable"
    assert sent.headers["User-Agent"].startswith("wanqueue/")
    assert "X-DashScope-OssResourceResolve" not in sent.headers
    assert "X-DashScope-WorkSpace" not in sent.headers
    assert json.loads(sent.content) == body
    assert (result.task_id, result.task_status) == (TASK, TaskStatus.PENDING)
    assert result.request_id == SUBMITTED["request_id"]


def test_submit_wan25_uses_its_own_endpoint(client: DashScopeClient, recorder: Recorder) -> None:
    answer_with(recorder, json_answer(200, SUBMITTED))
    body = wan25_body("https://example.com/a.png", "data:image/png;base64,AAAA")
    client.submit_body("wan2.5-i2i-preview", Protocol.PROMPT_IMAGES, body)
    sent = recorder.last
    assert str(sent.url) == f"{BASE}/services/aigc/image2image/image-synthesis"
    assert sent.headers["X-DashScope-Async"] == "enable"
    assert "X-DashScope-OssResourceResolve" not in sent.headers
    assert json.loads(sent.content) == body


@pytest.mark.parametrize("protocol", ["messages", "MESSAGES", Protocol.MESSAGES])
def test_protocol_may_be_enum_or_text(
    client: DashScopeClient, recorder: Recorder, protocol: str
) -> None:
    answer_with(recorder, json_answer(200, SUBMITTED))
    client.submit_body("wan2.7-image", protocol, messages_body("wan2.7-image"))
    assert recorder.last.url.path.endswith("/image-generation/generation")


def test_oss_header_only_when_the_body_has_an_oss_url(
    client: DashScopeClient, recorder: Recorder
) -> None:
    answer_with(recorder, json_answer(200, SUBMITTED))
    oss = "oss://dashscope-instant/abc/2026-01-01/uuid/img.png"
    client.submit_body("wan2.5-i2i-preview", "PROMPT_IMAGES", wan25_body(oss))
    assert recorder.last.headers["X-DashScope-OssResourceResolve"] == "enable"
    client.submit_body("wan2.7-image", "MESSAGES", messages_body("wan2.7-image", oss))
    assert recorder.last.headers["X-DashScope-OssResourceResolve"] == "enable"
    client.submit_body("wan2.7-image", "MESSAGES", messages_body("wan2.7-image"))
    assert "X-DashScope-OssResourceResolve" not in recorder.last.headers


def test_workspace_header(recorder: Recorder) -> None:
    answer_with(recorder, json_answer(200, SUBMITTED))
    transport = httpx.MockTransport(recorder)
    with DashScopeClient(BASE, SecretStr(KEY), transport=transport, workspace_id="ws-42") as c:
        c.submit_body("wan2.6-image", "MESSAGES", messages_body("wan2.6-image"))
        assert recorder.last.headers["X-DashScope-WorkSpace"] == "ws-42"


def test_generate_uses_the_sync_endpoint_and_its_timeout(recorder: Recorder) -> None:
    sync_answer = {
        "output": {
            "choices": [
                {
                    "finish_reason": "stop",
                    "message": {
                        "role": "assistant",
                        "content": [
                            {"type": "text", "text": "Here is step one"},
                            {"type": "image", "image": "https://r.example/1.png?Expires=1"},
                            {"type": "image", "image": "https://r.example/2.png?Expires=1"},
                        ],
                    },
                }
            ],
            "finished": True,
        },
        "usage": {"image_count": 2, "size": "1488*704", "input_tokens": 10, "total_tokens": 12},
        "request_id": "sync-rid",
    }
    running = {"output": {"task_id": TASK, "task_status": "RUNNING"}}
    answer_with(recorder, json_answer(200, sync_answer), json_answer(200, running))
    timeout = httpx.Timeout(connect=1.0, read=2.0, write=3.0, pool=4.0)
    sync_timeout = httpx.Timeout(connect=1.0, read=222.0, write=3.0, pool=4.0)
    transport = httpx.MockTransport(recorder)
    with DashScopeClient(
        BASE, SecretStr(KEY), timeout=timeout, sync_timeout=sync_timeout, transport=transport
    ) as c:
        body = messages_body("wan2.6-image")
        result = c.generate(FakeEditRequest("wan2.6-image", Protocol.MESSAGES, body))
        sent = recorder.last
        assert str(sent.url) == f"{BASE}/services/aigc/multimodal-generation/generation"
        assert "X-DashScope-Async" not in sent.headers
        assert sent.extensions["timeout"]["read"] == 222.0
        assert result.image_urls == (
            "https://r.example/1.png?Expires=1",
            "https://r.example/2.png?Expires=1",
        )
        assert result.texts == ("Here is step one",)
        assert result.usage is not None and result.usage.image_count == 2
        assert result.request_id == "sync-rid"
        c.fetch(TASK)
        assert recorder.last.extensions["timeout"]["read"] == 2.0


def test_generate_refuses_wan25_without_sending(
    client: DashScopeClient, recorder: Recorder
) -> None:
    with pytest.raises(InputInvalid):
        client.generate(FakeEditRequest("wan2.5-i2i-preview", Protocol.PROMPT_IMAGES, wan25_body()))
    assert recorder.requests == []


def test_body_must_match_the_model_and_be_json(client: DashScopeClient, recorder: Recorder) -> None:
    with pytest.raises(InputInvalid):
        client.submit_body("wan2.7-image", "MESSAGES", messages_body("wan2.6-image"))
    with pytest.raises(InputInvalid):
        client.submit_body("wan2.7-image", "MESSAGES", {"input": {"x": object()}})
    with pytest.raises(InputInvalid):
        client.submit_body("wan2.7-image", "GRPC", messages_body("wan2.7-image"))
    assert recorder.requests == []
    answer_with(recorder, json_answer(200, SUBMITTED))
    client.submit_body("wan2.7-image", "MESSAGES", {"input": {}})
    assert json.loads(recorder.last.content)["model"] == "wan2.7-image"


def test_fetch_cancel_and_list_requests(client: DashScopeClient, recorder: Recorder) -> None:
    answer_with(
        recorder,
        json_answer(
            200, {"request_id": "r", "output": {"task_id": TASK, "task_status": "RUNNING"}}
        ),
    )
    client.fetch(TASK)
    sent = recorder.last
    assert (sent.method, str(sent.url)) == ("GET", f"{BASE}/tasks/{TASK}")
    assert "X-DashScope-Async" not in sent.headers
    assert sent.headers["Authorization"] == f"Bearer {KEY}"

    answer_with(recorder, json_answer(200, {"request_id": "r"}))
    client.cancel(TASK)
    sent = recorder.last
    assert (sent.method, str(sent.url), sent.content) == (
        "POST",
        f"{BASE}/tasks/{TASK}/cancel",
        b"",
    )
    assert "X-DashScope-Async" not in sent.headers

    answer_with(recorder, json_answer(200, {"total": 0, "data": []}))
    client.list_tasks(
        page_no=2,
        page_size=50,
        model="wan2.7-image",
        status=TaskStatus.SUCCEEDED,
        start_time=datetime(2026, 4, 20, 0, 0, 0),
        end_time=datetime(2026, 4, 20, 23, 59, 59),
    )
    sent = recorder.last
    assert sent.method == "GET" and sent.url.path == "/api/v1/tasks"
    assert dict(sent.url.params) == {
        "page_no": "2",
        "page_size": "50",
        "model_name": "wan2.7-image",
        "status": "SUCCEEDED",
        "start_time": "20260420000000",
        "end_time": "20260420235959",
    }
    client.list_tasks()
    assert dict(recorder.last.url.params) == {"page_no": "1", "page_size": "10"}


def test_task_ids_are_escaped_and_never_empty(client: DashScopeClient, recorder: Recorder) -> None:
    for bad in ("", "  "):
        with pytest.raises(InputInvalid):
            client.fetch(bad)
        with pytest.raises(InputInvalid):
            client.cancel(bad)
    assert recorder.requests == []
    answer_with(
        recorder, json_answer(200, {"output": {"task_id": "a/b", "task_status": "UNKNOWN"}})
    )
    client.fetch("../a/b")
    assert recorder.last.url.raw_path == b"/api/v1/tasks/..%2Fa%2Fb"


def test_list_refuses_bad_pages(client: DashScopeClient) -> None:
    with pytest.raises(InputInvalid):
        client.list_tasks(page_no=0)


# --- answers ------------------------------------------------------------------------------


def test_fetch_shapes(client: DashScopeClient, recorder: Recorder) -> None:
    answer_with(
        recorder,
        json_answer(
            200,
            {
                "request_id": "r1",
                "output": {
                    "task_id": TASK,
                    "task_status": "SUCCEEDED",
                    "submit_time": "2026-03-31 19:57:58.840",
                    "scheduled_time": "2026-03-31 19:57:58.877",
                    "end_time": "2026-03-31 19:58:11.563",
                    "results": [
                        {"url": "https://r.example/1.png", "orig_prompt": "p"},
                        {"code": "DataInspectionFailed", "message": "inappropriate"},
                        {"url": "https://r.example/3.png", "actual_prompt": "q"},
                    ],
                    "task_metrics": {"TOTAL": 3, "SUCCEEDED": 2, "FAILED": 1},
                },
                "usage": {"image_count": 2},
            },
        ),
    )
    task = client.fetch(TASK)
    assert task.status is TaskStatus.SUCCEEDED and task.status.is_terminal
    assert task.image_urls == ("https://r.example/1.png", "https://r.example/3.png")
    assert [(f.index, f.code) for f in task.failures] == [(1, "DataInspectionFailed")]
    assert task.task_metrics is not None and task.task_metrics.failed == 1
    assert task.submit_time == datetime(2026, 3, 31, 19, 57, 58, 840000)
    assert task.end_time == datetime(2026, 3, 31, 19, 58, 11, 563000)
    assert task.usage is not None and task.usage.image_count == 2

    failed = {
        "request_id": "r2",
        "output": {
            "task_id": TASK,
            "task_status": "FAILED",
            "code": "InvalidParameter",
            "message": "image too small",
            "submit_time": "2026-03-31 19:57:58.840",
        },
    }
    answer_with(recorder, json_answer(200, failed))
    task = client.fetch(TASK)
    assert (task.status, task.code, task.message) == (
        TaskStatus.FAILED,
        "InvalidParameter",
        "image too small",
    )
    assert task.usage is None and task.image_urls == ()

    answer_with(
        recorder,
        json_answer(
            200, {"request_id": "r3", "output": {"task_id": TASK, "task_status": "UNKNOWN"}}
        ),
    )
    assert client.fetch(TASK).status is TaskStatus.UNKNOWN

    answer_with(
        recorder,
        httpx.Response(
            200, json={"output": {"task_status": "PENDING"}}, headers={"x-request-id": "hdr"}
        ),
    )
    task = client.fetch(TASK)
    assert (task.task_id, task.request_id, task.status.is_terminal) == (TASK, "hdr", False)


def test_list_shape(client: DashScopeClient, recorder: Recorder) -> None:
    page = {
        "total": 1,
        "total_page": 1,
        "page_no": 1,
        "page_size": 10,
        "request_id": "list-rid",
        "data": [
            {
                "task_id": TASK,
                "status": "SUCCEEDED",
                "model_name": "wan2.7-image",
                "region": "cn-beijing",
                "api_key_id": 42677,
                "caller_uid": "1493",
                "request_id": "db5c",
                "gmt_create": 1709260684485,
                "start_time": 1709260684527,
                "end_time": 1709260685184,
            }
        ],
    }
    answer_with(recorder, json_answer(200, page))
    result = client.list_tasks()
    assert (result.total, result.total_page, result.page_no, result.request_id) == (
        1,
        1,
        1,
        "list-rid",
    )
    (task,) = result.tasks
    assert (task.task_id, task.status, task.api_key_id, task.request_id) == (
        TASK,
        TaskStatus.SUCCEEDED,
        "42677",
        "db5c",
    )
    assert task.gmt_create == datetime(2024, 3, 1, 2, 38, 4, 485000, tzinfo=UTC)


# --- failures -----------------------------------------------------------------------------

ERROR_CASES = [
    (400, "InvalidParameter", UpstreamRejected, UpstreamRejected),
    (400, "DataInspectionFailed", UpstreamRejected, UpstreamRejected),
    (401, "InvalidApiKey", UpstreamAuthFailed, UpstreamAuthFailed),
    (403, "AccessDenied.Unpurchased", UpstreamAuthFailed, UpstreamAuthFailed),
    (404, "ModelNotFound", UpstreamRejected, UpstreamRejected),
    (429, "Throttling.RateQuota", UpstreamThrottled, UpstreamThrottled),
    (500, "InternalError", SubmitAmbiguous, UpstreamUnavailable),
    (503, "ServiceUnavailable", UpstreamUnavailable, UpstreamUnavailable),
    (504, "GatewayTimeout", SubmitAmbiguous, UpstreamUnavailable),
]


@pytest.mark.parametrize(("status", "code", "on_submit", "on_fetch"), ERROR_CASES)
def test_error_statuses(
    client: DashScopeClient,
    recorder: Recorder,
    status: int,
    code: str,
    on_submit: type[WanqError],
    on_fetch: type[WanqError],
) -> None:
    body = {"request_id": f"rid-{status}", "code": code, "message": f"{code} says no"}
    answer_with(recorder, json_answer(status, body))
    with pytest.raises(on_submit) as submitted:
        client.submit_body("wan2.7-image", "MESSAGES", messages_body("wan2.7-image"))
    with pytest.raises(on_fetch) as fetched:
        client.fetch(TASK)
    assert len(recorder.requests) == 2  # no retries
    for error in (submitted.value, fetched.value):
        assert error.request_id == f"rid-{status}"  # type: ignore[attr-defined]
        assert f"{code} says no" in str(error)
    if not isinstance(fetched.value, SubmitAmbiguous):
        assert fetched.value.code == code  # type: ignore[attr-defined]
        assert fetched.value.status_code == status  # type: ignore[attr-defined]


def test_cancel_of_a_running_task(client: DashScopeClient, recorder: Recorder) -> None:
    body = {
        "request_id": "cancel-rid",
        "code": "UnsupportedOperation",
        "message": "Failed to cancel the task, please confirm if the task is in PENDING status.",
    }
    answer_with(recorder, json_answer(400, body))
    with pytest.raises(UpstreamRejected) as caught:
        client.cancel(TASK)
    assert (caught.value.code, caught.value.request_id) == ("UnsupportedOperation", "cancel-rid")


def test_retry_after_reaches_the_error(client: DashScopeClient, recorder: Recorder) -> None:
    body = {"code": "Throttling", "message": "Requests throttling triggered."}
    answer_with(recorder, json_answer(429, body, headers={"Retry-After": "3", "x-request-id": "h"}))
    with pytest.raises(UpstreamThrottled) as caught:
        client.fetch(TASK)
    assert caught.value.retry_after_s == 3.0
    assert caught.value.request_id == "h"


@pytest.mark.parametrize(
    ("exc", "on_submit"),
    [
        (httpx.ConnectError("refused"), UpstreamUnavailable),
        (httpx.ConnectTimeout("slow"), UpstreamUnavailable),
        (httpx.PoolTimeout("busy"), UpstreamUnavailable),
        (httpx.ReadTimeout("late"), SubmitAmbiguous),
        (httpx.WriteTimeout("late"), SubmitAmbiguous),
        (httpx.ReadError("reset"), SubmitAmbiguous),
        (httpx.RemoteProtocolError("Server disconnected"), SubmitAmbiguous),
    ],
)
def test_transport_failures_on_submit_vs_fetch(
    client: DashScopeClient, recorder: Recorder, exc: Exception, on_submit: type[WanqError]
) -> None:
    answer_with(recorder, exc)
    with pytest.raises(on_submit) as submitted:
        client.submit_body("wan2.7-image", "MESSAGES", messages_body("wan2.7-image"))
    assert submitted.value.__cause__ is exc
    with pytest.raises(UpstreamUnavailable) as fetched:
        client.fetch(TASK)
    assert fetched.value.__cause__ is exc
    assert fetched.value.code == type(exc).__name__
    assert fetched.value.status_code is None
    assert len(recorder.requests) == 2  # no retries


def test_generate_is_billed_so_timeouts_are_ambiguous(
    client: DashScopeClient, recorder: Recorder
) -> None:
    answer_with(recorder, httpx.ReadTimeout("late"))
    with pytest.raises(SubmitAmbiguous):
        client.generate_body("wan2.7-image", "MESSAGES", messages_body("wan2.7-image"))


@pytest.mark.parametrize(
    "bad",
    [
        httpx.Response(200, text="<html>ok</html>"),
        httpx.Response(200, json=["not", "an", "object"]),
        httpx.Response(200, json={"request_id": "r", "output": {"task_status": "PENDING"}}),
        httpx.Response(
            200, json={"request_id": "r", "output": {"task_id": TASK, "task_status": "WEIRD"}}
        ),
    ],
)
def test_unusable_200_answers(
    client: DashScopeClient, recorder: Recorder, bad: httpx.Response
) -> None:
    answer_with(recorder, bad)
    with pytest.raises(SubmitAmbiguous) as submitted:
        client.submit_body("wan2.7-image", "MESSAGES", messages_body("wan2.7-image"))
    assert submitted.value.reason == "MalformedAnswer"
    if b"WEIRD" in bad.content or b"<html>" in bad.content:
        with pytest.raises(UpstreamUnavailable) as fetched:
            client.fetch(TASK)
        assert fetched.value.code == "MalformedAnswer"


def test_generate_without_output_is_ambiguous(client: DashScopeClient, recorder: Recorder) -> None:
    answer_with(recorder, json_answer(200, {"request_id": "sync-rid"}))
    with pytest.raises(SubmitAmbiguous) as caught:
        client.generate_body("wan2.7-image", "MESSAGES", messages_body("wan2.7-image"))
    assert (caught.value.reason, caught.value.request_id) == ("MalformedAnswer", "sync-rid")


def test_redirects_are_not_followed(client: DashScopeClient, recorder: Recorder) -> None:
    answer_with(recorder, httpx.Response(301, headers={"Location": "http://elsewhere/"}))
    with pytest.raises(UpstreamRejected):
        client.submit_body("wan2.7-image", "MESSAGES", messages_body("wan2.7-image"))
    assert len(recorder.requests) == 1


# --- the key stays secret -----------------------------------------------------------------


def test_the_key_never_shows(
    client: DashScopeClient, recorder: Recorder, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)

    def echo(request: httpx.Request) -> httpx.Response:  # a hostile proxy echoing headers
        return httpx.Response(502, text=f"bad gateway for {request.headers['Authorization']}")

    def echo_json(request: httpx.Request) -> httpx.Response:
        auth = request.headers["Authorization"]
        return httpx.Response(400, json={"code": "InvalidParameter", "message": auth})

    errors: list[BaseException] = []
    for answer in (echo, echo_json, httpx.ConnectError(f"cannot reach with {KEY}")):
        answer_with(recorder, answer)
        for call in (
            lambda: client.submit_body("wan2.7-image", "MESSAGES", messages_body("wan2.7-image")),
            lambda: client.fetch(TASK),
        ):
            with pytest.raises(WanqError) as caught:
                call()
            errors.append(caught.value)
    assert len(errors) == 6
    for error in errors:
        assert KEY not in str(error) and KEY not in repr(error)
        assert all(KEY not in str(arg) for arg in error.args)
    assert KEY not in repr(client) and KEY not in str(client)
    assert KEY not in repr(vars(client))
    assert KEY not in caplog.text


# --- construction -------------------------------------------------------------------------


def test_from_settings(recorder: Recorder) -> None:
    settings = UpstreamSettings(
        region=Region.BEIJING,
        api_key=SecretStr(KEY),
        workspace_id="ws-1",
        read_timeout_s=7.0,
        connect_timeout_s=2.0,
    )
    answer_with(recorder, json_answer(200, SUBMITTED))
    with DashScopeClient.from_settings(settings, transport=httpx.MockTransport(recorder)) as c:
        c.submit_body("wan2.7-image", "MESSAGES", messages_body("wan2.7-image"))
    sent = recorder.last
    assert str(sent.url).startswith("https://ws-1.cn-beijing.maas.aliyuncs.com/api/v1/services/")
    assert sent.headers["X-DashScope-WorkSpace"] == "ws-1"
    assert sent.extensions["timeout"] == {"connect": 2.0, "read": 7.0, "write": 30.0, "pool": 10.0}


def test_from_settings_needs_a_key() -> None:
    with pytest.raises(ValueError, match="WANQ_UPSTREAM__API_KEY"):
        DashScopeClient.from_settings(UpstreamSettings())


@pytest.mark.parametrize("base_url", ["ftp://example.com/api/v1", "dashscope"])
def test_base_url_must_be_http(base_url: str) -> None:
    with pytest.raises(ValueError):
        DashScopeClient(base_url, SecretStr(KEY))


def test_close_closes_the_transport() -> None:
    transport = httpx.MockTransport(lambda _: httpx.Response(200, json={}))
    c = DashScopeClient(BASE, SecretStr(KEY), transport=transport)
    c.close()
    # A shutdown race: nothing is sent, the caller may retry on another worker.
    with pytest.raises(UpstreamUnavailable) as caught:
        c.submit_body("wan2.7-image", "MESSAGES", messages_body("wan2.7-image"))
    assert caught.value.code == "ClientClosed"


# --- the real job contract ----------------------------------------------------------------


def test_the_contracts_edit_request_fits(client: DashScopeClient, recorder: Recorder) -> None:
    from workers.contract import EditRequest, ModelName  # here: a broken contract fails one test

    answer_with(recorder, json_answer(200, SUBMITTED))
    wan25 = EditRequest(
        model=ModelName.WAN25, prompt="clock by the vase", images=("https://e.x/a.png",)
    )
    wan27 = EditRequest(
        model=ModelName.WAN27_PRO, prompt="graffiti", images=("https://e.x/car.png",)
    )
    typed: EditRequestLike = wan27  # mypy checks the structural fit
    client.submit(wan25)
    assert recorder.last.url.path.endswith("/image2image/image-synthesis")
    assert json.loads(recorder.last.content) == wan25.to_body()
    client.submit(typed)
    assert recorder.last.url.path.endswith("/image-generation/generation")
    with pytest.raises(InputInvalid):
        client.generate(wan25)
