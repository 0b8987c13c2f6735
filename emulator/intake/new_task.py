"""Turning a validated request into the record of a new task (emulator.tasks.task.Task).

The task keeps only what its answers and its result images need (prompt, size, seed, counts,
a reference to the first input image's bytes), not the request body.
"""

from __future__ import annotations

import hashlib
import math
import uuid

from emulator.auth import Caller
from emulator.constants import MAX_SEED
from emulator.intake.validation import Endpoint, ValidatedRequest
from emulator.tasks.planning import TaskPlan
from emulator.tasks.task import Task

_PIXELS_PER_TOKEN = 784
_UNKNOWN_IMAGE_PIXELS = 1024 * 1024
_SEED_HEX_DIGITS = 8


def new_task(
    caller: Caller,
    endpoint: Endpoint,
    request: ValidatedRequest,
    *,
    request_id: str,
    hidden: bool,
    now: float,
    plan: TaskPlan,
) -> Task:
    """A new task for `request`, submitted at `now`, with its fixed `plan`.

    Without a seed in the request, the rendering seed is derived from the task id, so a
    task's images are stable across downloads. `source_key` is the SHA-1 of the first input
    image's bytes when they are known (the caller keeps those bytes in its source cache).
    """
    task_id = str(uuid.uuid4())
    first = request.images[0].data if request.images else None
    width, height = request.output_size
    return Task(
        task_id=task_id,
        account=caller.account,
        api_key_id=caller.api_key_id,
        request_id=request_id,
        model=request.model,
        protocol=request.protocol,
        endpoint=endpoint,
        hidden=hidden,
        submit_at=now,
        plan=plan,
        prompt=request.prompt,
        n=request.n,
        seed=(
            request.seed
            if request.seed is not None
            else int(task_id[:_SEED_HEX_DIGITS], 16) % MAX_SEED
        ),
        width=width,
        height=height,
        input_tokens=input_tokens(request),
        prompt_extend=request.prompt_extend,
        interleave=request.interleave,
        source_key=None if first is None else hashlib.sha1(first).hexdigest(),
    )


def input_tokens(request: ValidatedRequest) -> int:
    """A plausible input token count: prompt characters plus image pixels / 784."""
    pixels = sum(
        image.width * image.height if image.width and image.height else _UNKNOWN_IMAGE_PIXELS
        for image in request.images
    )
    return len(request.prompt) + math.ceil(pixels / _PIXELS_PER_TOKEN)
