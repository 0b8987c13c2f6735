"""Constants of the producer side: key names, timings, limits, exit codes.

Every duration's name carries its unit. Settings that an operator tunes live in
:mod:`config.settings`; these are the producer's fixed choices.
"""

from __future__ import annotations

from types import MappingProxyType
from typing import Final

from workers.contract import JobState

PRODUCER_APP_NAME: Final = "wanq-producer"
"""Name of the Celery app producers build to send messages (it runs no tasks)."""
CELERY_APP: Final = "workers.app"
"""The workers' app, for Flower and the local stack (a module path on a command line, never
imported here)."""
FLOWER_AUTH_ENV: Final = "FLOWER_BASIC_AUTH"
"""Flower reads its ``user:password`` from this environment variable."""
S3_MAX_ATTEMPTS: Final = 3
"""Attempts per S3 call of a producer (workers make one: Celery retries them)."""

CHUNK: Final = 1000
"""Jobs validated, recorded and sent together by ``submit_many``."""
FIRST_CHUNK: Final = 50
"""``submit_many`` sends its first jobs after this many (then doubles up to ``CHUNK``), so
workers start while the rest are still being validated."""
SEND_BATCH: Final = 500
"""Messages buffered in one Redis pipeline by the sender before it is flushed."""

UNSENT_KEY: Final = "producer:unsent"
"""Suffix (after ``Settings.key_prefix``) of the outbox: jobs whose submit message is unsent."""
CUSTOM_KEY: Final = "custom:"
"""Suffix of the job store's ``{prefix}custom:{custom_id}`` keys (read-only here)."""
REDRIVE_MIN_AGE_S: Final = 60.0
"""An unsent job younger than this may still be in its producer's hands; redrive leaves it."""

WAIT_POLL_INTERVAL_S: Final = 0.25
"""Shortest pause between two reads of the jobs being waited for."""
WAIT_POLL_INTERVAL_MAX_S: Final = 2.0
"""Longest pause between two reads (many jobs: each read costs more, so read less often)."""
WAIT_READ_COST_FACTOR: Final = 5.0
"""The pause is at least this many times as long as the last read took."""

PROGRESS_PLAIN_INTERVAL_S: Final = 5.0
"""How often ``--wait`` prints a progress line when stderr is not a terminal."""
PROGRESS_BAR_WIDTH: Final = 30

CANCELED_BY_REQUEST: Final = "canceled on request"
"""``error_message`` of a job canceled before the upstream saw it (as the worker writes it)."""

STATE_ORDER: Final = tuple(JobState)
"""States in the order reports list them: the life of a job, then its ends."""

IMAGE_EXTENSIONS: Final = MappingProxyType(
    {
        "JPEG": "jpg",
        "MPO": "jpg",
        "PNG": "png",
        "BMP": "bmp",
        "WEBP": "webp",
        "image/jpeg": "jpg",
        "image/png": "png",
        "image/bmp": "bmp",
        "image/webp": "webp",
    }
)
"""File extension of a staged input, by Pillow format or data URI MIME type."""
CONTENT_TYPES: Final = MappingProxyType(
    {"jpg": "image/jpeg", "png": "image/png", "bmp": "image/bmp", "webp": "image/webp"}
)
"""Content type of a staged input, by extension."""
STAGED_KEYS_REMEMBERED: Final = 10_000
"""Staged keys a producer remembers as present in the bucket (skips their HEAD request)."""

RESULT_SUFFIX: Final = ".png"
"""Downloaded results are named ``{index}.png`` (the results' own format)."""
SAFE_DIR_NAME: Final = r"^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$"
"""A custom id matching this names its download folder; any other uses the job id."""

DEFAULT_WAIT_TIMEOUT_S: Final = 3600.0
"""How long ``wanq submit --wait`` waits by default."""

EXIT_OK: Final = 0
EXIT_REFUSED: Final = 1
"""Some lines were refused (the rest went in), some cancels were refused, or not found."""
EXIT_USAGE: Final = 2
EXIT_TIMEOUT: Final = 3
"""``--wait`` ran out of time before every job ended."""
EXIT_UNSENT: Final = 4
"""Jobs were recorded but the broker did not take their messages (``wanq redrive``)."""
