"""How new jobs reach the workers: parked straight into the waiting room, or by message.

:class:`RoomParker` (what :meth:`producers.api.WanQueue.from_settings` uses) parks each chunk
of new jobs in the workers' waiting room with one Redis pipeline (the job contract's park
script, :mod:`workers.contract.waiting`): no broker message is held per job and no worker hop
is spent before a job can be admitted. :class:`MessageParker` sends a ``wanq.submit`` message
per job instead, as a producer that only speaks Celery does; a worker then parks the job.
Either way a failure leaves as :class:`~producers.errors.BrokerUnavailable` naming the jobs
not known to be parked (the outbox keeps them for a retry or ``redrive``).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

from config.accounts import LimiterSettings
from producers.errors import BrokerUnavailable
from producers.sender import TaskSender
from workers.contract import JobRecord
from workers.contract.names import TASK_SUBMIT
from workers.contract.waiting import Parking, WaitingRoom
from workers.errors import RedisRejected, RedisUnavailable


class Parker(Protocol):
    """Hands new jobs to the workers."""

    def park(self, records: Sequence[JobRecord]) -> None:
        """Hand these jobs over, in order.

        Raises:
            BrokerUnavailable: Some were not (known to be) handed over; ``job_ids`` lists them.
        """


class RoomParker:
    """:class:`Parker` into the waiting room.

    Args:
        room: The waiting room on the job store's Redis.
        limiter: The limiter's settings (tenant weights).
    """

    def __init__(self, room: WaitingRoom, limiter: LimiterSettings) -> None:
        self._room = room
        self._limiter = limiter

    def park(self, records: Sequence[JobRecord]) -> None:
        """See :meth:`Parker.park`."""
        jobs = [
            Parking(
                r.job_id,
                r.request.model.value,
                r.priority.value,
                r.tenant,
                self._limiter.weight(r.tenant),
            )
            for r in records
        ]
        try:
            self._room.park_many(jobs)
        except (RedisUnavailable, RedisRejected) as exc:
            raise BrokerUnavailable([r.job_id for r in records], str(exc)) from exc


class MessageParker:
    """:class:`Parker` by ``wanq.submit`` messages (a worker parks each job)."""

    def __init__(self, sender: TaskSender) -> None:
        self._sender = sender

    def park(self, records: Sequence[JobRecord]) -> None:
        """See :meth:`Parker.park`."""
        self._sender.send(TASK_SUBMIT, [r.job_id for r in records])
