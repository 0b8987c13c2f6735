"""The fault-injection section of the configuration: per endpoint group rates, and outages.

Part of the configuration root (emulator.config.root.EmulatorConfig.faults); applied to
answers by emulator.http.faults.
"""

from __future__ import annotations

from typing import Literal, Self

from pydantic import Field, model_validator

from emulator.config.sections import Frozen
from emulator.constants import DEFAULT_FAULT_DELAY_S

Group = Literal["submit", "sync", "query", "cancel", "list", "upload", "results"]
GROUPS: tuple[Group, ...] = ("submit", "sync", "query", "cancel", "list", "upload", "results")


class FaultRates(Frozen):
    """Injected faults of one endpoint group; the rates are shares of requests.

    At most one of the exclusive faults hits a request (their rates must sum to at most 1);
    a delay is drawn independently and can combine with them.

    Attributes:
        error_500_rate: Answer 500 InternalError without processing.
        error_503_rate: Answer 503 ServiceUnavailable without processing.
        drop_rate: Close the connection without answering, without processing.
        malformed_rate: Process, then answer 200 with a truncated body.
        drop_after_rate: Process, then close the connection without answering. On submit
            this is the ambiguous submit: the task exists and is billed, the answer is lost.
        error_after_rate: Process, then answer 500 InternalError.
        delay_rate: Share of requests delayed by `delay_s` before processing.
        delay_s: The added delay.
    """

    error_500_rate: float = Field(default=0.0, ge=0, le=1)
    error_503_rate: float = Field(default=0.0, ge=0, le=1)
    drop_rate: float = Field(default=0.0, ge=0, le=1)
    malformed_rate: float = Field(default=0.0, ge=0, le=1)
    drop_after_rate: float = Field(default=0.0, ge=0, le=1)
    error_after_rate: float = Field(default=0.0, ge=0, le=1)
    delay_rate: float = Field(default=0.0, ge=0, le=1)
    delay_s: float = Field(default=DEFAULT_FAULT_DELAY_S, ge=0)

    @model_validator(mode="after")
    def _check_sum(self) -> Self:
        if self.exclusive_total() > 1.0 + 1e-9:
            raise ValueError("the exclusive fault rates of a group must sum to at most 1")
        return self

    def exclusive_total(self) -> float:
        """Sum of the rates of the mutually exclusive faults."""
        return (
            self.error_500_rate
            + self.error_503_rate
            + self.drop_rate
            + self.malformed_rate
            + self.drop_after_rate
            + self.error_after_rate
        )


class Outage(Frozen):
    """A window in which every call of the listed groups answers 503.

    Attributes:
        start_epoch_s: Start (Unix time, seconds).
        end_epoch_s: End (Unix time, seconds), exclusive.
        groups: Affected endpoint groups; None means all.
    """

    start_epoch_s: float = 0.0
    end_epoch_s: float
    groups: tuple[Group, ...] | None = None


class Faults(Frozen):
    """Fault injection per endpoint group, plus outage windows."""

    submit: FaultRates = FaultRates()
    sync: FaultRates = FaultRates()
    query: FaultRates = FaultRates()
    cancel: FaultRates = FaultRates()
    list: FaultRates = FaultRates()
    upload: FaultRates = FaultRates()
    results: FaultRates = FaultRates()
    outages: tuple[Outage, ...] = ()
