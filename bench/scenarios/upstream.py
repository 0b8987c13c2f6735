"""The emulated upstream of a scenario: accounts, limits, latency, failures and faults."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class AccountSpec:
    """One emulated account: its key and limits for the benchmark's model."""

    name: str
    api_key: str
    submit_rps: float
    max_in_flight: int
    query_rps: float = 20.0


@dataclass(frozen=True)
class UpstreamSpec:
    """What the emulator does in a scenario.

    Attributes:
        accounts: The accounts (limits on).
        median_s: Median task latency (lognormal; pending time 0).
        sigma: Lognormal sigma of the latency.
        failure_rate: Share of tasks that end FAILED.
        error_5xx_rate: Share of submits and queries answered 503 (nothing processed).
        seed: Random seed of the emulator's draws.
    """

    accounts: tuple[AccountSpec, ...]
    median_s: float = 3.0
    sigma: float = 0.25
    failure_rate: float = 0.02
    error_5xx_rate: float = 0.01
    seed: int = 4
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def mean_latency_s(self) -> float:
        """Mean task latency of the lognormal."""
        return self.median_s * math.exp(self.sigma**2 / 2)

    def ideal_makespan_s(self, jobs: int, account: AccountSpec | None = None) -> float:
        """``jobs / min(rate, concurrency / mean latency) + mean latency``, summed over the
        accounts' throughputs (or for one account)."""
        accounts = (account,) if account else self.accounts
        throughput = sum(min(a.submit_rps, a.max_in_flight / self.mean_latency_s) for a in accounts)
        return jobs / throughput + self.mean_latency_s

    def emulator_config(self) -> dict[str, Any]:
        """The emulator's configuration (429s reject at the limits, no Retry-After)."""
        faults = {"error_503_rate": self.error_5xx_rate}
        return {
            "accounts": [
                {
                    "name": a.name,
                    "api_keys": [a.api_key],
                    "query_qps": a.query_rps,
                    "limits": {
                        "*": {
                            "submit_rps": a.submit_rps,
                            "max_concurrent": a.max_in_flight,
                            "on_concurrency": "reject",
                        }
                    },
                }
                for a in self.accounts
            ],
            "models": {
                "*": {
                    "pending": {"kind": "fixed", "median_s": 0.0},
                    "running": {
                        "kind": "lognormal",
                        "median_s": self.median_s,
                        "sigma": self.sigma,
                        "max_s": self.median_s * 10,
                    },
                    "failure_rate": self.failure_rate,
                }
            },
            "random_seed": self.seed,
            "faults": {"submit": faults, "query": faults},
            **self.extra,
        }
