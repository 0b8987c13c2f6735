"""Typed answers and their parsing from raw bodies."""

from __future__ import annotations

from datetime import datetime

import pytest
from pydantic import ValidationError

from workers.upstream import TaskStatus, parse_submit, parse_sync, parse_task, parse_task_page
from workers.upstream.models import parse_task_time


def test_terminal_statuses() -> None:
    terminal = {status for status in TaskStatus if status.is_terminal}
    assert terminal == {"SUCCEEDED", "FAILED", "CANCELED", "UNKNOWN"}


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("2026-03-31 19:57:58.840", datetime(2026, 3, 31, 19, 57, 58, 840000)),
        ("2026-03-31 19:57:58", datetime(2026, 3, 31, 19, 57, 58)),
        ("..", None),
        ("", None),
        (None, None),
        (1709260684485, None),
    ],
)
def test_task_times(raw: object, expected: datetime | None) -> None:
    assert parse_task_time(raw) == expected


def test_sdk_printed_fields_are_ignored_and_java_request_id_is_read() -> None:
    raw = {
        "requestId": "java-rid",
        "status_code": 200,
        "code": "",
        "message": "",
        "output": {
            "text": None,
            "finish_reason": None,
            "choices": None,
            "audio": None,
            "task_id": "t1",
            "task_status": "PENDING",
        },
        "usage": {"input_tokens": 0, "output_tokens": 0, "characters": 0},
    }
    submitted = parse_submit(raw)
    assert (submitted.request_id, submitted.task_id) == ("java-rid", "t1")
    task = parse_task(raw)
    assert (task.code, task.message, task.image_urls) == (None, None, ())
    assert task.usage is not None and task.usage.input_tokens == 0


def test_header_request_id_is_the_fallback() -> None:
    raw = {"output": {"task_id": "t1", "task_status": "RUNNING"}}
    assert parse_task(raw, "hdr").request_id == "hdr"
    assert parse_task({"request_id": "body", **raw}, "hdr").request_id == "body"


def test_several_choices_are_flattened_in_order() -> None:
    def choice(*parts: dict[str, str]) -> dict[str, object]:
        return {"message": {"role": "assistant", "content": list(parts)}}

    raw = {
        "output": {
            "choices": [
                choice({"type": "image", "image": "u1"}, {"type": "text", "text": "t1"}),
                choice({"type": "image", "image": "u2"}, {"type": "image", "image": ""}),
                {"message": None},
                "junk",
            ]
        }
    }
    result = parse_sync(raw)
    assert (result.image_urls, result.texts) == (("u1", "u2"), ("t1",))


def test_sync_answer_needs_output() -> None:
    with pytest.raises(ValueError):
        parse_sync({"request_id": "r"})


@pytest.mark.parametrize(
    "raw",
    [
        {"output": {"task_status": "RUNNING"}},
        {"output": {"task_id": "t", "task_status": "DONE"}},
        {"output": {"task_id": "", "task_status": "RUNNING"}},
        {"request_id": "r"},
    ],
)
def test_unusable_task_answers(raw: dict[str, object]) -> None:
    with pytest.raises(ValidationError):
        parse_task(raw)


def test_list_accepts_tasks_key_and_null_data() -> None:
    entry = {"task_id": "t", "status": "RUNNING", "gmt_create": None}
    page = parse_task_page({"total": 1, "tasks": [entry]}, "hdr")
    assert page.tasks[0].gmt_create is None and page.request_id == "hdr"
    assert parse_task_page({"total": 0, "data": None}).tasks == ()
    with pytest.raises(ValidationError):
        parse_task_page({"data": [{"status": "RUNNING"}]})


def test_models_are_frozen() -> None:
    task = parse_task({"output": {"task_id": "t", "task_status": "RUNNING"}})
    with pytest.raises(ValidationError):
        task.status = TaskStatus.FAILED  # type: ignore[misc]
