"""``wanq flower``: Flower for the workers' app, with basic auth from the settings.

The process becomes ``python -m celery -A workers.app flower --address=A --port=P`` (an
exec: signals and the exit status are Flower's own). The basic-auth pair goes to Flower in
its ``FLOWER_BASIC_AUTH`` environment variable, never on the command line (which every local
user can read). Flower runs the workers' app module, so it reads the same ``WANQ_``
settings from the environment this command was started with.

This module is the one Flower launcher: the local stack (:mod:`devstack.flower`) builds its
subprocess from :func:`flower_argv`, :func:`basic_auth` and :data:`FLOWER_AUTH_ENV` too.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable

from config import Settings
from producers.constants import CELERY_APP, FLOWER_AUTH_ENV
from producers.errors import FlowerRefused

__all__ = ["CELERY_APP", "FLOWER_AUTH_ENV", "FlowerRefused", "basic_auth", "flower_argv"]

Exec = Callable[[str, list[str]], object]


def flower_argv(address: str, port: int, app: str = CELERY_APP) -> list[str]:
    """Flower's command line for the Celery app ``app`` (no secret on it)."""
    return [
        sys.executable, "-m", "celery", "-A", app, "flower",
        f"--address={address}", f"--port={port}",
    ]  # fmt: skip


def basic_auth(settings: Settings) -> str:
    """``user:password`` for Flower.

    Raises:
        FlowerRefused: No password is configured.
    """
    flower = settings.flower
    if flower.password is None or not flower.password.get_secret_value():
        raise FlowerRefused(
            "Flower needs a basic-auth password: set WANQ_FLOWER__PASSWORD (and optionally "
            "WANQ_FLOWER__USER); it will not start open"
        )
    return f"{flower.user}:{flower.password.get_secret_value()}"


def exec_flower(settings: Settings, exec_fn: Exec = os.execv) -> None:
    """Replace this process with Flower (returns only if ``exec_fn`` does).

    Raises:
        FlowerRefused: No password is configured.
    """
    auth = basic_auth(settings)
    argv = flower_argv(settings.flower.address, settings.flower.port)
    # putenv changes what the exec'd process inherits without touching (or reading)
    # os.environ; only config/ reads the environment.
    os.putenv(FLOWER_AUTH_ENV, auth)
    exec_fn(argv[0], argv)
