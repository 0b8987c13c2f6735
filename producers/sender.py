"""Sending task messages by name: the producer's only contact with Celery.

Producers never import the worker's task modules. They build a Celery app configured by
:func:`config.celery.celery_config` (the same routes, serializer and key prefix as the
workers), use it only to send, and send every message with one producer connection, buffered
in Redis pipelines (kombu's ``Producer.batch``): a few round trips per thousand messages.

The broker's exceptions are seen here only, and leave as
:class:`~producers.errors.BrokerUnavailable` (see :data:`BROKER_ERRORS`).
"""

from __future__ import annotations

from collections.abc import Sequence
from contextlib import AbstractContextManager, nullcontext
from typing import Any, Final, Protocol

import kombu.exceptions
import redis.exceptions
from celery import Celery

from config import Settings
from config.celery import celery_config
from producers.constants import PRODUCER_APP_NAME, SEND_BATCH
from producers.errors import BrokerUnavailable
from workers.contract.names import TASK_QUEUES

BROKER_ERRORS: Final[tuple[type[BaseException], ...]] = (
    kombu.exceptions.OperationalError,
    redis.exceptions.ConnectionError,
    redis.exceptions.TimeoutError,
    OSError,
)
"""What a broker that does not take a message raises (all mean: not known to be sent)."""

# Each message is an LPUSH and, with task-sent events on (for Flower), a PUBLISH.
_COMMANDS_PER_MESSAGE: Final = 2


class TaskSender(Protocol):
    """Sends ``task(job_id)`` messages by task name (routed to the task's queue)."""

    def send(self, task: str, job_ids: Sequence[str]) -> None:
        """Send one message per job id, in order.

        Raises:
            BrokerUnavailable: Some messages were not (known to be) sent; ``job_ids`` lists
                them (a suffix of the ids given).
        """

    def close(self) -> None:
        """Release the connections."""


class CelerySender:
    """:class:`TaskSender` over a Celery app used only for sending.

    Args:
        app: A Celery app configured with :func:`config.celery.celery_config`.
    """

    def __init__(self, app: Any) -> None:
        self._app = app

    @classmethod
    def from_settings(cls, settings: Settings) -> CelerySender:
        """A sender on a fresh app configured for these settings (it connects lazily)."""
        return cls(producer_app(settings))

    @property
    def app(self) -> Any:
        """The Celery app (Celery ships no types)."""
        return self._app

    def send(self, task: str, job_ids: Sequence[str]) -> None:
        """Send ``task(job_id)`` for each id, ``SEND_BATCH`` messages per Redis pipeline.

        Raises:
            BrokerUnavailable: The broker failed; the ids of the part being sent and of
                every later part (earlier parts were flushed and are sent).
        """
        remaining = list(job_ids)
        if not remaining:
            return
        try:
            with self._app.producer_or_acquire() as producer:
                while remaining:
                    part = remaining[:SEND_BATCH]
                    with _batched(producer):
                        for job_id in part:
                            self._app.send_task(task, args=[job_id], producer=producer)
                    remaining = remaining[len(part) :]
        except BROKER_ERRORS as exc:
            raise BrokerUnavailable(remaining, f"{type(exc).__name__}: {exc}") from exc

    def close(self) -> None:
        """Close the app's connection pools."""
        self._app.close()


def _batched(producer: Any) -> AbstractContextManager[Any]:
    """A kombu publish batch (kombu 5.7+), or publishing one message at a time."""
    batch = getattr(producer, "batch", None)
    if batch is None:
        return nullcontext()
    context: AbstractContextManager[Any] = batch(max_size=_COMMANDS_PER_MESSAGE * SEND_BATCH)
    return context


def producer_app(settings: Settings) -> Any:
    """A Celery app configured as the workers' is, for sending only (no task modules)."""
    app = Celery(PRODUCER_APP_NAME, set_as_current=False)
    app.conf.update(celery_config(settings, TASK_QUEUES))
    return app
