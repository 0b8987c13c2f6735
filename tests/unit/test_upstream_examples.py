"""Every response example of the provider's page and of the protocol notes parses.

The examples are read from ``<repo>/../shared/reference`` (CI checks ``shared/`` out beside the
clone). Three shapes occur: SDK-printed full responses (with ``status_code``, ``code``,
``message``, ``output.text``...), task-submit answers and task-query answers; the synchronous
endpoint's answers have no ``task_id``.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import httpx
import pytest
from pydantic import SecretStr

from workers.errors import UpstreamAuthFailed, UpstreamRejected
from workers.upstream import (
    DashScopeClient,
    SubmitResult,
    SyncResult,
    TaskResult,
    TaskStatus,
    parse_submit,
    parse_sync,
    parse_task,
    parse_task_page,
)
from workers.upstream.translate import error_from_answer

REFERENCE = Path(__file__).resolve().parents[2].parent / "shared" / "reference"
PAGE = REFERENCE / "wan-image-edit-api.txt"
NOTES = REFERENCE / "dashscope-protocol.md"

# Counted by hand in wan-image-edit-api.txt: 4 synchronous answers, 6 submit answers and
# 8 task-query answers (the wan2.5 "synchronous" SDK examples are async + wait, so task answers).
EXPECTED_COUNTS = {SyncResult: 4, SubmitResult: 6, TaskResult: 8}

_MARKER = re.compile(r"response example", re.IGNORECASE)
_REQUEST_MARKER = re.compile(r"request example", re.IGNORECASE)
_MAX_PROSE_LINES = 3  # captions between a marker and its objects ("1. Response when ...")


def _object_end(text: str, start: int) -> int | None:
    """Index of the brace closing the object opened at ``start`` (string-aware), or None."""
    depth, in_string, escaped = 0, False, False
    for index in range(start, len(text)):
        char = text[index]
        if in_string:
            if escaped:
                escaped = False
            elif char == "\\":
                escaped = True
            elif char == '"':
                in_string = False
        elif char == '"':
            in_string = True
        elif char == "{":
            depth += 1
        elif char == "}":
            depth -= 1
            if depth == 0:
                return index
    return None


def json_objects(text: str) -> list[dict[str, Any]]:
    """Every outermost JSON object in ``text`` (balanced-brace scan; non-JSON is skipped)."""
    found: list[dict[str, Any]] = []
    index = 0
    while index < len(text):
        if text[index] != "{":
            index += 1
            continue
        end = _object_end(text, index)
        try:
            value = json.loads(text[index : end + 1]) if end is not None else None
        except ValueError:
            value = None
        if isinstance(value, dict) and end is not None:
            found.append(value)
            index = end + 1
        else:
            index += 1
    return found


def page_examples() -> list[tuple[int, dict[str, Any]]]:
    """(line, object) for each JSON object that follows a "Response example" line.

    After a marker, objects starting at column 0 are collected while at most a few caption
    lines separate them; the next marker or a "Request example" line ends the run.
    """
    lines = PAGE.read_text(encoding="utf-8").splitlines()
    examples: list[tuple[int, dict[str, Any]]] = []
    index = 0
    while index < len(lines):
        if not _MARKER.search(lines[index]):
            index += 1
            continue
        index, prose = index + 1, 0
        while index < len(lines) and prose <= _MAX_PROSE_LINES:
            line = lines[index]
            if _MARKER.search(line) or _REQUEST_MARKER.search(line):
                break
            if line.startswith("{"):
                rest = "\n".join(lines[index:])
                end = _object_end(rest, 0)
                assert end is not None, f"unbalanced example at line {index + 1}"
                examples.append((index + 1, json.loads(rest[: end + 1])))
                index += rest[: end + 1].count("\n") + 1
                prose = 0
                continue
            prose += 1 if line.strip() else 0
            index += 1
    return examples


def shape_of(raw: dict[str, Any]) -> type[SubmitResult | TaskResult | SyncResult]:
    output = raw.get("output") or {}
    if "task_id" not in output:
        return SyncResult
    finished = output.get("choices") or output.get("results") or output.get("end_time")
    if output.get("task_status") == "PENDING" and not finished:
        return SubmitResult
    return TaskResult


def raw_request_id(raw: dict[str, Any]) -> str:
    value = raw.get("request_id") or raw.get("requestId")
    assert isinstance(value, str)
    return value


EXAMPLES = page_examples()


def test_the_page_has_all_its_examples() -> None:
    assert len(EXAMPLES) >= sum(EXPECTED_COUNTS.values())
    counts = {kind: 0 for kind in EXPECTED_COUNTS}
    for _, raw in EXAMPLES:
        counts[shape_of(raw)] += 1
    for kind, expected in EXPECTED_COUNTS.items():
        assert counts[kind] >= expected, kind.__name__


@pytest.mark.parametrize(("line", "raw"), EXAMPLES, ids=[f"line{line}" for line, _ in EXAMPLES])
def test_page_example_parses(line: int, raw: dict[str, Any]) -> None:
    kind = shape_of(raw)
    if kind is SubmitResult:
        submitted = parse_submit(raw)
        assert submitted.task_id == raw["output"]["task_id"]
        assert submitted.task_status is TaskStatus.PENDING
        assert submitted.request_id == raw_request_id(raw)
    elif kind is TaskResult:
        task = parse_task(raw)
        assert task.status is TaskStatus.SUCCEEDED and task.status.is_terminal
        assert task.task_id == raw["output"]["task_id"]
        assert task.request_id == raw_request_id(raw)
        assert task.image_urls and all(url.startswith("https://") for url in task.image_urls)
        assert task.failures == ()
        assert task.usage is not None and task.usage.image_count == len(task.image_urls)
        if "submit_time" in raw["output"]:
            assert task.submit_time is not None and task.end_time is not None
            assert task.end_time > task.submit_time
    else:
        result = parse_sync(raw)
        assert result.request_id == raw_request_id(raw)
        assert result.image_urls and all(url.startswith("https://") for url in result.image_urls)
        assert result.usage is not None and result.usage.image_count == len(result.image_urls)


def test_page_examples_through_the_client() -> None:
    """Each example, served as the answer of the matching call, comes back as its model."""
    for _, raw in EXAMPLES:
        transport = httpx.MockTransport(lambda _, raw=raw: httpx.Response(200, json=raw))
        with DashScopeClient("http://emulator/api/v1", SecretStr("k"), transport=transport) as c:
            kind = shape_of(raw)
            if kind is SubmitResult:
                assert isinstance(c.submit_body("wan2.7-image", "MESSAGES", {}), SubmitResult)
            elif kind is TaskResult:
                assert c.fetch(raw["output"]["task_id"]).image_urls
            else:
                assert c.generate_body("wan2.7-image", "MESSAGES", {}).image_urls


# --- the protocol notes ---------------------------------------------------------------------


def notes_section(start: str, end: str) -> str:
    text = NOTES.read_text(encoding="utf-8").split(start, 1)[1].split(end, 1)[0]
    return "\n".join(line for line in text.splitlines() if not line.lstrip().startswith("//"))


def test_section_4_task_shapes() -> None:
    answers = [raw for raw in json_objects(notes_section("## 4.", "## 5.")) if "output" in raw]
    by_status = {raw["output"]["task_status"]: raw for raw in answers}
    assert len(answers) >= 4
    assert {"RUNNING", "SUCCEEDED", "FAILED"} <= set(by_status)

    running = parse_task(by_status["RUNNING"])
    assert running.status is TaskStatus.RUNNING and not running.status.is_terminal
    assert running.task_metrics is not None and running.task_metrics.total == 4
    assert running.scheduled_time is not None and running.image_urls == ()

    succeeded = [parse_task(raw) for raw in answers if raw["output"]["task_status"] == "SUCCEEDED"]
    assert len(succeeded) == 2
    messages, wan25 = succeeded
    assert messages.image_urls[0].startswith("https://dashscope-result-intl")
    assert messages.usage is not None and messages.usage.total_tokens == 18792
    assert messages.usage.size == "2985*1405"
    assert wan25.image_urls == ("https://...png?Expires=..",)
    assert wan25.submit_time is None  # the notes elide it as ".."

    failed = parse_task(by_status["FAILED"])
    assert (failed.status, failed.code) == (TaskStatus.FAILED, "InvalidParameter")
    assert failed.usage is None


def test_section_6_list_shape() -> None:
    (raw,) = json_objects(notes_section("## 6.", "## 7."))
    page = parse_task_page(raw)
    assert (page.total, page.page_size, len(page.tasks)) == (1, 10, 1)
    assert page.tasks[0].status is TaskStatus.SUCCEEDED
    assert page.tasks[0].gmt_create is not None and page.tasks[0].end_time is not None
    assert page.tasks[0].api_key_id == "42677"


def test_section_5_and_7_error_bodies() -> None:
    request = httpx.Request("GET", "http://emulator/api/v1/tasks/x")
    bodies = json_objects(notes_section("## 5.", "## 6.")) + json_objects(
        notes_section("### 7.1", "### 7.2")
    )
    coded = [raw for raw in bodies if raw.get("code") and raw["code"] != "<Code>"]
    assert {raw["code"] for raw in coded} == {
        "UnsupportedOperation",
        "InvalidApiKey",
        "InvalidParameter",
    }
    status = {"UnsupportedOperation": 400, "InvalidApiKey": 401, "InvalidParameter": 400}
    for raw in coded:
        response = httpx.Response(status[raw["code"]], json=raw, request=request)
        error = error_from_answer(response, submit=False)
        expected = UpstreamAuthFailed if raw["code"] == "InvalidApiKey" else UpstreamRejected
        assert type(error) is expected
        assert isinstance(error, UpstreamRejected)
        assert (error.code, error.message) == (raw["code"], raw["message"])
