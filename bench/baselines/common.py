"""What both baselines share: the result record, the jobs, the wire shape and the backoff.

The jobs are small wan2.5-i2i-preview edits whose one input image is an inline PNG
``data:`` URI, so the emulator accepts them without any network access (it decodes and checks
the bytes itself; the model wants sides of at least 384 px and an output of at least 768*768).
"""

from __future__ import annotations

import base64
import io
import random
from dataclasses import dataclass, field
from typing import Any, Final

from PIL import Image

MODEL: Final = "wan2.5-i2i-preview"
SUBMIT_PATH: Final = "/services/aigc/image2image/image-synthesis"
"""Relative to the ``/api/v1`` base URL; the SDK's route for wan2.5-i2i models."""

TERMINAL_STATUSES: Final = frozenset({"SUCCEEDED", "FAILED", "CANCELED", "UNKNOWN"})
"""What the SDKs treat as the end of a task (its ``wait()`` stops on these)."""

POLL_INTERVAL_S: Final = 1.0
BACKOFF_BASE_S: Final = 0.5
BACKOFF_CAP_S: Final = 8.0
JOB_DEADLINE_S: Final = 600.0
"""How long a baseline keeps trying one job before it gives up (the job is then lost)."""

INPUT_SIDE_PX: Final = 384
OUTPUT_SIZE: Final = "768*768"


@dataclass
class BaselineRun:
    """What one baseline run did, in the terms every benchmark compares.

    Attributes:
        jobs: Jobs given.
        succeeded: Jobs the client saw SUCCEEDED (and whose first image it downloaded).
        failed: Jobs the client saw end otherwise (FAILED, CANCELED, UNKNOWN, or a submit
            refused for good).
        lost: Jobs that never reached a terminal status known to the client (crash, gave
            up, exception).
        makespan_s: First submit attempt to the last job noticed terminal.
        noticed_at: Upstream task id -> epoch seconds when the client saw it terminal.
        cpu_s: CPU seconds (user + system) of the process(es) that did the work.
        client_429: HTTP 429 answers the client saw (submits and queries).
    """

    jobs: int
    succeeded: int
    failed: int
    lost: int
    makespan_s: float
    noticed_at: dict[str, float] = field(default_factory=dict)
    cpu_s: float = 0.0
    client_429: int = 0


def _png_data_uri(colour: tuple[int, int, int]) -> str:
    out = io.BytesIO()
    Image.new("RGB", (INPUT_SIDE_PX, INPUT_SIDE_PX), colour).save(out, format="PNG")
    return "data:image/png;base64," + base64.b64encode(out.getvalue()).decode()


def job_inputs(n: int) -> list[dict[str, Any]]:
    """``n`` distinct small wan2.5-i2i-preview jobs.

    Each job is ``{"model", "prompt", "images": [data URI], "parameters": {"n", "size",
    "seed"}}``: the keyword arguments of ``ImageSynthesis.async_call`` once ``parameters`` is
    spread, and the wire body once ``prompt`` and ``images`` move under ``input``.
    """
    rng = random.Random(n)
    jobs: list[dict[str, Any]] = []
    for index in range(n):
        colour = (rng.randrange(256), rng.randrange(256), rng.randrange(256))
        jobs.append(
            {
                "model": MODEL,
                "prompt": f"Job {index}: put the object on a white studio background",
                "images": [_png_data_uri(colour)],
                "parameters": {"n": 1, "size": OUTPUT_SIZE, "seed": index},
            }
        )
    return jobs


def wire_body(job: dict[str, Any]) -> dict[str, Any]:
    """The submit body the SDK sends for ``job`` (legacy prompt/images protocol)."""
    return {
        "model": job["model"],
        "input": {"prompt": job["prompt"], "images": list(job["images"])},
        "parameters": dict(job["parameters"]),
    }


def backoff_s(attempt: int, rng: random.Random | None = None) -> float:
    """Exponential backoff with full jitter: uniform in [0, min(cap, base * 2**attempt)].

    Args:
        attempt: 0 for the first retry.
        rng: Random source (None: the module's).
    """
    ceiling = min(BACKOFF_CAP_S, BACKOFF_BASE_S * 2 ** min(attempt, 16))
    return (rng or random).uniform(0.0, ceiling)


def first_result_url(output: dict[str, Any]) -> str | None:
    """The first image URL of a SUCCEEDED wan2.5-i2i task's ``output``, if any."""
    for result in output.get("results") or []:
        url = result.get("url")
        if url:
            return str(url)
    return None
