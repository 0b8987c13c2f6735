"""The whole local stack in one object: Redis, S3, the emulator, workers and Flower.

Each part is optional and started in dependency order; every later part sees the settings
the earlier ones produced (the Redis URL actually in use, the S3 endpoint and its
credentials, the emulator's URL and key, the emulator's host among the allowed result hosts).
Everything started is stopped in reverse order when the stack stops.

Example::

    with LocalStack(load_settings(), run_dir=Path("demo-output/run")) as stack:
        submit_jobs(stack.settings)   # producers see the stack's Redis, S3 and emulator
        print(stack.flower.url)
"""

from __future__ import annotations

import contextlib
import secrets
import tempfile
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from pydantic import SecretStr

from config import Settings
from devstack.constants import EMULATOR_API_KEY
from devstack.emulator import EmulatorProcess
from devstack.flower import FlowerProcess
from devstack.procs import Startable, free_port
from devstack.redis import RedisHandle, ensure_redis
from devstack.s3 import S3Handle, ensure_s3
from devstack.workers import WorkerPool, WorkerSpec
from producers.constants import CELERY_APP

DEFAULT_WORKERS = (WorkerSpec("wanq"),)


def _update(settings: Settings, section: str, **values: Any) -> Settings:
    """``settings`` with some values of one nested section replaced."""
    part = getattr(settings, section).model_copy(update=values)
    return settings.model_copy(update={section: part})


class LocalStack(Startable):
    """Starts what the demo and the integration tests need, each part optional.

    Args:
        settings: The starting configuration; :attr:`settings` is what the parts produce.
        run_dir: Logs of every part (a temporary directory if None, removed on stop).
        redis: Find or start Redis (else ``settings.redis_url`` is used as is).
        s3: Find or start S3 (else ``settings.s3`` is used as is).
        emulator: Start the emulator; a dict is its configuration.
        emulator_api_key: The key the emulator accepts (matching its configuration).
        workers: Celery workers to run (none: an empty sequence).
        flower: Start Flower on a free port (a password is generated if none is set).
        app: The Celery app of workers and Flower.
        cwd: Working directory of workers and Flower.
        allow_install: Let Redis be installed on demand (see ``devstack.redis``).

    Attributes:
        settings: The effective settings, for producers and checks in this process.
        redis, s3, emulator, workers, flower: The parts started (None if not asked for).
    """

    def __init__(
        self,
        settings: Settings,
        *,
        run_dir: Path | None = None,
        redis: bool = True,
        s3: bool = True,
        emulator: bool | Mapping[str, Any] = True,
        emulator_api_key: str = EMULATOR_API_KEY,
        workers: Sequence[WorkerSpec] = DEFAULT_WORKERS,
        flower: bool = True,
        app: str = CELERY_APP,
        cwd: Path | None = None,
        allow_install: bool = False,
    ) -> None:
        self.settings = settings
        self.redis: RedisHandle | None = None
        self.s3: S3Handle | None = None
        self.emulator: EmulatorProcess | None = None
        self.workers: WorkerPool | None = None
        self.flower: FlowerProcess | None = None
        self._want_redis, self._want_s3, self._want_flower = redis, s3, flower
        self._emulator = emulator
        self._emulator_api_key = emulator_api_key
        self._worker_specs = tuple(workers)
        self._app = app
        self._cwd = cwd
        self._allow_install = allow_install
        self._run_dir = run_dir
        self._stack = contextlib.ExitStack()

    @property
    def run_dir(self) -> Path:
        """Where the parts log."""
        assert self._run_dir is not None, "the stack has not started"
        return self._run_dir

    def start(self) -> LocalStack:
        """Start every part asked for, in dependency order; on failure stop what started."""
        try:
            self._start()
        except BaseException:
            self.stop()
            raise
        return self

    def _start(self) -> None:
        if self._run_dir is None:
            tmp = self._stack.enter_context(tempfile.TemporaryDirectory(prefix="wanq-stack-"))
            self._run_dir = Path(tmp)
        self._run_dir.mkdir(parents=True, exist_ok=True)
        if self._want_redis:
            url = self.settings.redis_url.get_secret_value()
            self.redis = self._stack.enter_context(
                ensure_redis(url, allow_install=self._allow_install)
            )
            self.settings = self.settings.model_copy(
                update={"redis_url": SecretStr(self.redis.url)}
            )
        if self._want_s3:
            self.s3 = self._stack.enter_context(
                ensure_s3(self.settings, log_path=self.run_dir / "s3.log")
            )
            self.settings = self.s3.apply(self.settings)
        if self._emulator is not False:
            self._start_emulator()
        if self._want_flower:
            self._with_flower_password()
        if self._worker_specs:
            pool = WorkerPool(
                self.settings, self._worker_specs, self.run_dir, app=self._app, cwd=self._cwd
            )
            self.workers = self._stack.enter_context(pool)
        if self._want_flower:
            # After the workers: Flower asks the workers it can see when it starts, so they
            # are in its API at once (later ones appear on a refresh or in the dashboard).
            self._start_flower()

    def _start_emulator(self) -> None:
        config = dict(self._emulator) if isinstance(self._emulator, Mapping) else None
        emulator = EmulatorProcess(
            config, api_key=self._emulator_api_key, log_path=self.run_dir / "emulator.log"
        )
        self.emulator = self._stack.enter_context(emulator)
        host = urlsplit(emulator.root_url).hostname or ""
        hosts = self.settings.results.allowed_hosts
        self.settings = _update(
            self.settings,
            "upstream",
            base_url=emulator.base_url,
            api_key=SecretStr(self._emulator_api_key),
        )
        if host not in hosts:
            self.settings = _update(self.settings, "results", allowed_hosts=(*hosts, host))

    def _with_flower_password(self) -> None:
        """Generate Flower's password if none is set (before the workers see the settings)."""
        if self.settings.flower.password is None:
            password = SecretStr(secrets.token_urlsafe(16))
            self.settings = _update(self.settings, "flower", password=password)

    def _start_flower(self) -> None:
        flower = FlowerProcess(
            self.settings,
            self.run_dir / "flower.log",
            app=self._app,
            port=free_port(),
            cwd=self._cwd,
        )
        self.flower = self._stack.enter_context(flower)

    def stop(self) -> None:
        """Stop everything started, in reverse order; idempotent."""
        self._stack.close()
