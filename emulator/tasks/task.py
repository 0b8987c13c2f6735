"""An emulated task and its lifecycle as a function of time.

    PENDING ──(slot + pending_s)──▶ RUNNING ──(running_s)──▶ SUCCEEDED | FAILED
       └──(cancel)──▶ CANCELED

A task is PENDING from submit until it holds a concurrency slot (`slot_at`, set by
emulator.limits.lanes; at once when there is room) plus its planned pending time, then RUNNING
for its planned running time, then ends as its plan says. Nothing runs in the background: the
status is computed from the clock whenever someone looks.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

from emulator.tasks.planning import TaskPlan

PENDING: Final = "PENDING"
RUNNING: Final = "RUNNING"
SUCCEEDED: Final = "SUCCEEDED"
FAILED: Final = "FAILED"
CANCELED: Final = "CANCELED"
UNKNOWN: Final = "UNKNOWN"
LISTABLE_STATUSES: Final = frozenset({PENDING, RUNNING, SUCCEEDED, FAILED, CANCELED})
TERMINAL_STATUSES: Final = frozenset({SUCCEEDED, FAILED, CANCELED})


@dataclass(slots=True, eq=False)
class Task:
    """One accepted request (async task, or the hidden task behind a synchronous call).

    Attributes:
        task_id: The task id (a UUID4 string).
        account: Owning account.
        api_key_id: Id of the key that submitted it.
        request_id: Request id of the submit.
        model: Model name.
        protocol: "messages" or "prompt_images".
        endpoint: Which endpoint accepted it ("image_generation", "image2image", "multimodal").
        hidden: A synchronous call's task: invisible to the task APIs.
        submit_at: Submit time (Unix seconds).
        plan: Planned durations and outcome.
        prompt: The prompt.
        n: Images requested.
        seed: Seed used for rendering (the request's, or one derived from the task id).
        width: Output width in pixels.
        height: Output height in pixels.
        input_tokens: Reported input tokens (messages protocol).
        prompt_extend: The request's ``prompt_extend``.
        interleave: wan2.6-image interleaved text-and-image output.
        source_key: Key of the first input image's bytes in the source cache, if any.
        slot_at: When the task got its concurrency slot (None while queued).
        canceled_at: When it was canceled (None if it was not).
    """

    task_id: str
    account: str
    api_key_id: str
    request_id: str
    model: str
    protocol: str
    endpoint: str
    hidden: bool
    submit_at: float
    plan: TaskPlan
    prompt: str
    n: int
    seed: int
    width: int
    height: int
    input_tokens: int
    prompt_extend: bool | None
    interleave: bool
    source_key: str | None
    slot_at: float | None = None
    canceled_at: float | None = None

    @property
    def scheduled_at(self) -> float | None:
        """When the task starts RUNNING, once it has a slot."""
        return None if self.slot_at is None else self.slot_at + self.plan.pending_s

    @property
    def end_at(self) -> float | None:
        """When the task ends (canceled, or finished once it has a slot)."""
        if self.canceled_at is not None:
            return self.canceled_at
        if self.slot_at is None:
            return None
        return self.slot_at + self.plan.pending_s + self.plan.running_s

    @property
    def finish_at(self) -> float | None:
        """When the task's slot frees by finishing (ignores cancellation)."""
        if self.slot_at is None:
            return None
        return self.slot_at + self.plan.pending_s + self.plan.running_s

    def status_at(self, now: float) -> str:
        """The task's status at time `now`."""
        if self.canceled_at is not None:
            return CANCELED
        slot_at = self.slot_at
        if slot_at is None:
            return PENDING
        plan = self.plan
        running_at = slot_at + plan.pending_s
        if now < running_at:
            return PENDING
        if now < running_at + plan.running_s:
            return RUNNING
        return FAILED if plan.failure is not None else SUCCEEDED

    def has_image(self, index: int, now: float) -> bool:
        """Whether result image `index` exists at `now`: the task SUCCEEDED and kept it."""
        return (
            0 <= index < self.n
            and index not in self.plan.failed_slots
            and self.status_at(now) == SUCCEEDED
        )

    def image_count(self) -> int:
        """Images the task produces (and bills) when it succeeds."""
        return self.n - len(self.plan.failed_slots)
