"""The bare Celery chain the ceiling scenario compares wanqueue with: the same app
configuration (config.celery), the same worker pool, and as many Celery hops per job as
wanqueue's pipeline (post, poll, store: producers park jobs without a message, and the
dispatcher admits them without one), each hop doing nothing but sending the next.

``celery -A bench.scenarios.chain_app worker -Q chain --pool threads -c N``.
"""

from __future__ import annotations

from typing import Final

from celery import Celery

from adapters.redis import redis_client
from config.celery import celery_config
from config.settings import load_settings

TASK: Final = "bench.hop"
QUEUE: Final = "chain"
HOPS: Final = 3
DONE_KEY: Final = "bench:chain:done"

settings = load_settings()
app = Celery("wanq-bench-chain")
app.conf.update(celery_config(settings, {TASK: QUEUE}))
_redis = redis_client(settings)


def _hop(job: str, remaining: int) -> None:
    """One hop: send the next, or count the job done."""
    if remaining > 1:
        app.send_task(TASK, args=[job, remaining - 1])
    else:
        _redis.incr(f"{settings.key_prefix}{DONE_KEY}")


hop = app.task(name=TASK)(_hop)  # registered without a decorator: Celery's are untyped
