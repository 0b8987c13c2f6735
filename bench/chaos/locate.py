"""Where a job that is not terminal stands: what, if anything, will still move it.

A job that is not terminal at the end of a run is *explained* when something in Redis will
still act on it:

* ``waiting_room``: it waits to be admitted (``{p}wait:parked``);
* ``admitted``: it was admitted and its submit message is due (``{p}admitted``);
* ``queued:<task>``: a message for it waits in a broker queue;
* ``unacked:<task>``: a worker holds a message for it (a scheduled poll, a running task),
  or held one and died: the broker delivers it again after the visibility timeout.

A job found nowhere is *lost*: only a sweeper of stuck jobs could still move it.

Broker messages are read as kombu's Redis transport stores them (queues are lists named
``{p}{queue}``, delivered messages the hash ``{p}unacked``; the task's arguments are in the
base64 JSON body, the job id first).
"""

from __future__ import annotations

import base64
import binascii
import json
from collections import defaultdict
from collections.abc import Iterable
from typing import Any, Final

import redis

NOWHERE: Final = "nowhere"
WAITING_ROOM: Final = "waiting_room"
ADMITTED: Final = "admitted"
UNACKED_KEY: Final = "unacked"
SCAN_COUNT: Final = 500


def message_job(raw: str | bytes) -> tuple[str, str] | None:
    """``(task name, job id)`` of a kombu message as stored in Redis (a queue's entry, or an
    unacked entry ``[message, exchange, routing key]``); None if it is not a task message."""
    try:
        payload: Any = json.loads(raw)
        if isinstance(payload, list):
            payload = json.loads(payload[0]) if isinstance(payload[0], str) else payload[0]
        headers = payload.get("headers") or {}
        body = base64.b64decode(payload["body"])
        args = json.loads(body)[0]
    except (ValueError, KeyError, IndexError, TypeError, AttributeError, binascii.Error):
        return None
    task = headers.get("task")
    if not task or not args:
        return None
    return str(task), str(args[0])


def locate(client: redis.Redis, prefix: str, job_ids: Iterable[str]) -> dict[str, list[str]]:
    """Where each of ``job_ids`` stands (see the module's doc); ``[NOWHERE]`` if nowhere."""
    wanted = set(job_ids)
    found: defaultdict[str, list[str]] = defaultdict(list)
    if not wanted:
        return {}
    for job_id in wanted:
        if client.sismember(f"{prefix}wait:parked", job_id):
            found[job_id].append(WAITING_ROOM)
        if client.zscore(f"{prefix}admitted", job_id) is not None:
            found[job_id].append(ADMITTED)
    for raw in client.hvals(f"{prefix}{UNACKED_KEY}"):
        hit = message_job(raw)
        if hit is not None and hit[1] in wanted:
            found[hit[1]].append(f"unacked:{hit[0]}")
    for key in client.scan_iter(match=f"{prefix}*", count=SCAN_COUNT, _type="list"):
        for raw in client.lrange(key, 0, -1):
            hit = message_job(raw)
            if hit is not None and hit[1] in wanted:
                found[hit[1]].append(f"queued:{hit[0]}")
    return {job_id: found.get(job_id) or [NOWHERE] for job_id in sorted(wanted)}
