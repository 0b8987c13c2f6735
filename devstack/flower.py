"""Flower as a real subprocess, with basic auth from the settings.

Started as ``python -m celery -A workers.app flower --address=A --port=P``, with the command
line, the password check and the environment variable of the one launcher,
:mod:`producers.flower` (``wanq flower``). The basic-auth
pair goes to Flower through its ``FLOWER_BASIC_AUTH`` environment variable rather than
``--basic-auth``: a command line is readable by every local user (``ps``), an environment is
not. With a Redis broker Flower reads queue lengths from the broker itself (``--broker-api``
is RabbitMQ's management API, not needed here). Ready when ``/api/workers`` answers 200 with
the credentials.
"""

from __future__ import annotations

import functools
import subprocess
from collections.abc import Mapping
from pathlib import Path

import httpx

from config import Settings
from devstack.constants import (
    FLOWER_START_TIMEOUT_S,
    FLOWER_STOP_TIMEOUT_S,
    LOOPBACK,
    PROBE_TIMEOUT_S,
)
from devstack.env import child_env
from devstack.procs import Startable, StartupError, stop_process, wait_until
from producers.errors import FlowerRefused
from producers.flower import CELERY_APP, FLOWER_AUTH_ENV, basic_auth, flower_argv

__all__ = ["FLOWER_AUTH_ENV", "FlowerProcess", "flower_argv"]


def _answers(url: str, auth: httpx.BasicAuth) -> bool:
    try:
        return httpx.get(f"{url}/api/workers", auth=auth, timeout=PROBE_TIMEOUT_S).is_success
    except httpx.HTTPError:
        return False


class FlowerProcess(Startable):
    """A Flower subprocess. Use as a context manager; it is stopped on exit.

    Args:
        settings: Broker and app configuration, and ``settings.flower`` (address, port,
            user, password: the password is required).
        log_path: Flower's log.
        app: The Celery app (``-A``).
        port: Overrides ``settings.flower.port`` (tests and the demo use a free port).
        cwd: Working directory (the project root for a source checkout).
        extra_env: Further environment variables.

    Attributes:
        url: ``http://address:port`` (a wildcard address is reached on loopback).
        auth: The basic-auth credentials, for clients of its HTTP API.
    """

    def __init__(
        self,
        settings: Settings,
        log_path: Path,
        *,
        app: str = CELERY_APP,
        port: int | None = None,
        cwd: Path | None = None,
        extra_env: Mapping[str, str] | None = None,
    ) -> None:
        flower = settings.flower
        try:
            auth = basic_auth(settings)
        except FlowerRefused as exc:
            raise StartupError(str(exc)) from exc
        self.port = port or flower.port
        host = LOOPBACK if flower.address in ("", "0.0.0.0", "::") else flower.address
        self.url = f"http://{host}:{self.port}"
        self.auth = httpx.BasicAuth(*auth.split(":", 1))
        self.log_path = log_path
        self._argv = flower_argv(flower.address, self.port, app)
        auth_env = {FLOWER_AUTH_ENV: auth}
        self._env = child_env(settings, {**(extra_env or {}), **auth_env})
        self._cwd = cwd or Path.cwd()
        self._proc: subprocess.Popen[bytes] | None = None

    @property
    def pid(self) -> int | None:
        """The process id while it runs."""
        return self._proc.pid if self._proc is not None else None

    def start(self) -> FlowerProcess:
        """Start Flower and wait until its API answers with the credentials.

        Raises:
            StartupError: It exited or did not answer in time.
        """
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        with self.log_path.open("ab") as log:
            self._proc = subprocess.Popen(
                self._argv,
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                env=self._env,
                cwd=self._cwd,
            )
        try:
            wait_until(
                functools.partial(_answers, self.url, self.auth),
                what="flower",
                timeout_s=FLOWER_START_TIMEOUT_S,
                proc=self._proc,
                log_path=self.log_path,
            )
        except StartupError:
            self.stop()
            raise
        return self

    def stop(self) -> None:
        """Stop Flower; idempotent."""
        if self._proc is not None:
            stop_process(self._proc, FLOWER_STOP_TIMEOUT_S)
            self._proc = None
