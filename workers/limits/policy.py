"""The limiter's parameters as its Lua scripts read them (one JSON argument per call)."""

from __future__ import annotations

import json
from typing import Any, Final

from config.accounts import AccountSettings, LimiterSettings

MAX_RPS: Final = 1000.0
"""Ceiling of a discovered submit rate (an unknown limit never grows past it)."""


def params(limiter: LimiterSettings) -> dict[str, Any]:
    """How unknown limits start and how cut limits recover (``effective`` in lua.py)."""
    return {
        "start_rps": limiter.discovery_start_rps,
        "doubling_ms": limiter.discovery_doubling_s * 1000,
        "recovery_per_s": limiter.rate_recovery_per_s,
        "max_rps": MAX_RPS,
        "probe_ms": limiter.in_flight_probe_s * 1000,
        "max_in_flight": limiter.discovery_max_in_flight,
    }


def model_limits(account: AccountSettings, model: str) -> dict[str, float]:
    """``{rate, conc}``: the account's configured limits for ``model`` (0: unknown)."""
    limits = account.limits_for(model)
    return {"rate": limits.submit_rps, "conc": limits.max_in_flight}


def encode(value: Any) -> str:
    """JSON for a script argument."""
    return json.dumps(value, separators=(",", ":"))
