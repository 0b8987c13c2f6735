"""The cluster-wide limiter: every rule lives in Redis, in atomic Lua on the Redis clock.

::

    submit message ─▶ park ─▶ waiting room (per model: lane ▸ tenant ▸ FIFO)
                                   │  admission (any worker's dispatcher, atomically):
                                   │  interactive before bulk, tenants by weight; an account
                                   │  that serves the model, is not paused, has a free slot
                                   │  (leases) and a submit token (adaptive rate)
                                   ▼
                     submit(job, account) ─▶ POST ─▶ 429? ─▶ throttle: pause the account and
                                   │                         model fleet-wide, cut rate or
                                   │                         slots, recover additively
                                   ▼
    poll ─▶ query budget (the account's 20/s, reserved) ─▶ GET ─▶ renew lease / release
            scheduled from the model's observed latency (latency)

One module per rule: :mod:`~workers.limits.admission` (waiting room, lanes, tenant fairness,
account choice), :mod:`~workers.limits.leases` (tasks in flight, the reaper),
:mod:`~workers.limits.throttle` (429 feedback: pause, cut, discovery),
:mod:`~workers.limits.queries` (the shared query budget), :mod:`~workers.limits.latency`
(poll scheduling) and :mod:`~workers.limits.dispatcher` (the thread that admits jobs in each
worker process). Lua shared between scripts is in :mod:`~workers.limits.lua`.
"""

from workers.limits.admission import Admission, Admitted, Lane
from workers.limits.bundle import Limits
from workers.limits.latency import LatencyModel
from workers.limits.leases import Leases
from workers.limits.queries import QueryBudget
from workers.limits.throttle import Throttle, ThrottleKind

__all__ = [
    "Admission",
    "Admitted",
    "Lane",
    "LatencyModel",
    "Leases",
    "Limits",
    "QueryBudget",
    "Throttle",
    "ThrottleKind",
]
