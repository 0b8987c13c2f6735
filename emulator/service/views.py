"""Task bodies as the real service shapes them (dashscope-protocol.md sections 4, 6 and 11).

Plain dicts built per call, no models: this is the hot path of every poll. `Signer` turns a
task's image index into its signed result URL (emulator.storage.results). Times are local
``YYYY-MM-DD HH:MM:SS.mmm`` strings in task bodies and epoch milliseconds in the task list.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from emulator.auth import account_uid
from emulator.tasks.task import (
    CANCELED,
    FAILED,
    PENDING,
    RUNNING,
    SUCCEEDED,
    UNKNOWN,
    Task,
)

Signer = Callable[[Task, int], str]

_OUTPUT_TOKENS_PER_IMAGE = 2
_PROMPT_EXTENSION = " Keep the composition natural, with consistent lighting and fine detail."
_INTERLEAVE_TEXT = "Here is the edited picture for your request: "
_INTERLEAVE_ECHO_CHARS = 60


def format_time(epoch_s: float) -> str:
    """Format a timestamp the way task bodies do: ``YYYY-MM-DD HH:MM:SS.mmm``, local time."""
    whole = int(epoch_s)
    millis = int((epoch_s - whole) * 1000)
    return f"{time.strftime('%Y-%m-%d %H:%M:%S', time.localtime(whole))}.{millis:03d}"


def epoch_ms(epoch_s: float) -> int:
    """Epoch milliseconds, the time format of the task list."""
    return int(epoch_s * 1000)


def unknown_output(task_id: str) -> dict[str, Any]:
    """``output`` for an id that does not exist, expired or belongs to another account."""
    return {"task_id": task_id, "task_status": UNKNOWN}


def task_output(task: Task, status: str, sign: Signer) -> dict[str, Any]:
    """``output`` of ``GET /tasks/{id}`` for `task` in `status`."""
    out: dict[str, Any] = {
        "task_id": task.task_id,
        "task_status": status,
        "submit_time": format_time(task.submit_at),
    }
    scheduled_at = task.scheduled_at
    if status != PENDING and status != CANCELED and scheduled_at is not None:
        out["scheduled_time"] = format_time(scheduled_at)
    if status in (SUCCEEDED, FAILED, CANCELED):
        end_at = task.end_at
        if end_at is not None:
            out["end_time"] = format_time(end_at)
    prompt_images = task.protocol == "prompt_images"
    if status == SUCCEEDED:
        if prompt_images:
            out["results"] = _results(task, sign)
        else:
            out["finished"] = True
            out["choices"] = _choices(task, sign)
    elif status == FAILED:
        failure = task.plan.failure
        assert failure is not None
        out["code"] = failure.code
        out["message"] = failure.message
    if prompt_images:
        out["task_metrics"] = _metrics(task, status)
    return out


def usage(task: Task) -> dict[str, Any]:
    """``usage`` of a SUCCEEDED task (only successful images are billed)."""
    images = task.image_count()
    if task.protocol == "prompt_images":
        return {"image_count": images}
    output_tokens = _OUTPUT_TOKENS_PER_IMAGE * images
    return {
        "size": f"{task.width}*{task.height}",
        "total_tokens": task.input_tokens + output_tokens,
        "image_count": images,
        "output_tokens": output_tokens,
        "input_tokens": task.input_tokens,
    }


def sync_body(task: Task, sign: Signer) -> dict[str, Any]:
    """Body of a successful synchronous call: the result without task fields."""
    return {
        "output": {"choices": _choices(task, sign), "finished": True},
        "usage": usage(task),
    }


def content_items(task: Task, sign: Signer) -> list[dict[str, Any]]:
    """``message.content`` items: a text item first in interleave mode, then the images."""
    items: list[dict[str, Any]] = []
    if task.interleave:
        echo = task.prompt[:_INTERLEAVE_ECHO_CHARS]
        items.append({"type": "text", "text": _INTERLEAVE_TEXT + echo})
    for index in range(task.n):
        if index not in task.plan.failed_slots:
            items.append({"type": "image", "image": sign(task, index)})
    return items


def list_item(task: Task, status: str, region: str) -> dict[str, Any]:
    """One entry of the ``GET /tasks`` list (times in epoch milliseconds)."""
    scheduled_at = task.scheduled_at
    end_at = task.end_at
    group, function = _task_route(task.endpoint)
    return {
        "task_id": task.task_id,
        "status": status,
        "model_name": task.model,
        "region": region,
        "api_key_id": task.api_key_id,
        "caller_parent_id": account_uid(task.account),
        "caller_uid": account_uid(task.account),
        "request_id": task.request_id,
        "user_api_unique_key": f"apikey:v1:aigc:{group}:{function}:{task.model}",
        "gmt_create": epoch_ms(task.submit_at),
        "start_time": (
            epoch_ms(scheduled_at) if scheduled_at is not None and status != PENDING else None
        ),
        "end_time": (
            epoch_ms(end_at) if end_at is not None and status not in (PENDING, RUNNING) else None
        ),
    }


def _task_route(endpoint: str) -> tuple[str, str]:
    if endpoint == "image2image":
        return "image2image", "image-synthesis"
    if endpoint == "multimodal":
        return "multimodal-generation", "generation"
    return "image-generation", "generation"


def _choices(task: Task, sign: Signer) -> list[dict[str, Any]]:
    return [
        {
            "finish_reason": "stop",
            "message": {"role": "assistant", "content": content_items(task, sign)},
        }
    ]


def _results(task: Task, sign: Signer) -> list[dict[str, Any]]:
    results: list[dict[str, Any]] = []
    slot_failure = task.plan.slot_failure
    for index in range(task.n):
        if index in task.plan.failed_slots and slot_failure is not None:
            results.append({"code": slot_failure.code, "message": slot_failure.message})
            continue
        item: dict[str, Any] = {"url": sign(task, index), "orig_prompt": task.prompt}
        if task.prompt_extend is not False:
            item["actual_prompt"] = task.prompt + _PROMPT_EXTENSION
        results.append(item)
    return results


def _metrics(task: Task, status: str) -> dict[str, int]:
    if status == SUCCEEDED:
        failed = len(task.plan.failed_slots)
        return {"TOTAL": task.n, "SUCCEEDED": task.n - failed, "FAILED": failed}
    if status == FAILED:
        return {"TOTAL": task.n, "SUCCEEDED": 0, "FAILED": task.n}
    return {"TOTAL": task.n, "SUCCEEDED": 0, "FAILED": 0}
