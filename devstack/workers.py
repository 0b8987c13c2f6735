"""Celery worker processes for the demo and the tests: real ``celery worker`` subprocesses.

Each worker is started as::

    python -m celery -A workers.app worker -Q submit,poll,store --pool threads -c K \\
        -n NAME@%h --without-gossip --without-mingle -E

with an environment built from a :class:`config.Settings` instance (never this process's
own), logging to ``RUN_DIR/NAME.log``. A worker is ready when its log says so. ``stop()``
is a warm shutdown (SIGTERM: tasks in hand finish), then a kill past the deadline;
``kill(i)`` is a SIGKILL (a crash, for tests); ``restart(i)`` starts a worker again.
"""

from __future__ import annotations

import re
import signal
import subprocess
import sys
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from config import Settings
from devstack.constants import (
    PROBE_INTERVAL_S,
    WORKER_CONCURRENCY,
    WORKER_LOG_LEVEL,
    WORKER_START_TIMEOUT_S,
    WORKER_STOP_TIMEOUT_S,
)
from devstack.env import child_env
from devstack.procs import Startable, StartupError, stop_process, wait_until
from producers.constants import CELERY_APP
from workers.contract.names import QUEUES


@dataclass(frozen=True)
class WorkerSpec:
    """One worker process to run.

    Attributes:
        name: Node name (before ``@host``); unique within a pool.
        queues: Queues it consumes.
        concurrency: Threads of its pool.
    """

    name: str
    queues: tuple[str, ...] = QUEUES
    concurrency: int = WORKER_CONCURRENCY


def worker_argv(spec: WorkerSpec, app: str = CELERY_APP) -> list[str]:
    """The command line of one worker."""
    return [
        sys.executable, "-m", "celery", "-A", app, "worker",
        "-Q", ",".join(spec.queues),
        "--pool", "threads", "-c", str(spec.concurrency),
        "-n", f"{spec.name}@%h",
        "--without-gossip", "--without-mingle", "-E",
        "--loglevel", WORKER_LOG_LEVEL,
    ]  # fmt: skip


class WorkerProcess:
    """One ``celery worker`` subprocess.

    Attributes:
        spec: What it runs.
        log_path: Its log (every start appends).
    """

    def __init__(
        self, spec: WorkerSpec, argv: list[str], env: Mapping[str, str], log_path: Path, cwd: Path
    ) -> None:
        self.spec = spec
        self.log_path = log_path
        self._argv = argv
        self._env = dict(env)
        self._cwd = cwd
        self._proc: subprocess.Popen[bytes] | None = None
        self._log_offset = 0
        self._ready = re.compile(rf"{re.escape(spec.name)}@\S+ ready\.".encode())

    @property
    def pid(self) -> int | None:
        """The process id while it runs."""
        return self._proc.pid if self._proc is not None else None

    @property
    def returncode(self) -> int | None:
        """The exit code once it has exited (negative: the signal that ended it)."""
        return self._proc.poll() if self._proc is not None else None

    def alive(self) -> bool:
        """Whether the process runs."""
        return self._proc is not None and self._proc.poll() is None

    def launch(self) -> None:
        """Start the process (without waiting for it to be ready)."""
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        with self.log_path.open("ab") as log:
            self._log_offset = log.tell()
            self._proc = subprocess.Popen(
                self._argv,
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                env=self._env,
                cwd=self._cwd,
            )

    def is_ready(self) -> bool:
        """Whether the worker has logged ``NAME@host ready.`` since its last start."""
        with self.log_path.open("rb") as log:
            log.seek(self._log_offset)
            return self._ready.search(log.read()) is not None

    def wait_ready(self, timeout_s: float = WORKER_START_TIMEOUT_S) -> None:
        """Wait until the worker consumes its queues.

        Raises:
            StartupError: It exited or did not get ready in time.
        """
        wait_until(
            self.is_ready,
            what=f"celery worker {self.spec.name}",
            timeout_s=timeout_s,
            proc=self._proc,
            log_path=self.log_path,
        )

    def terminate(self) -> None:
        """Ask for a warm shutdown (SIGTERM) without waiting."""
        if self.alive():
            assert self._proc is not None
            self._proc.send_signal(signal.SIGTERM)

    def stop(self, timeout_s: float = WORKER_STOP_TIMEOUT_S) -> int | None:
        """Warm shutdown, then SIGKILL past ``timeout_s``; returns the exit code."""
        if self._proc is None:
            return None
        return stop_process(self._proc, timeout_s)

    def kill(self) -> int | None:
        """SIGKILL, as a crash would; returns the exit code."""
        if self._proc is None:
            return None
        if self._proc.poll() is None:
            self._proc.kill()
        return self._proc.wait()


class WorkerPool(Startable):
    """Several worker processes, started together and stopped together.

    Use as a context manager: entering starts every worker and waits until each is ready;
    leaving stops them all.

    Args:
        settings: The settings every worker sees (through its environment).
        specs: The workers to run.
        run_dir: Where their logs go.
        app: The Celery app (``-A``).
        cwd: Working directory of the workers (the project root for a source checkout).
        extra_env: Further environment variables for the workers.
    """

    def __init__(
        self,
        settings: Settings,
        specs: Sequence[WorkerSpec],
        run_dir: Path,
        *,
        app: str = CELERY_APP,
        cwd: Path | None = None,
        extra_env: Mapping[str, str] | None = None,
    ) -> None:
        names = [spec.name for spec in specs]
        if len(set(names)) != len(names):
            raise ValueError(f"worker names must be unique: {names}")
        env = child_env(settings, extra_env)
        workdir = cwd or Path.cwd()
        self.workers = [
            WorkerProcess(spec, worker_argv(spec, app), env, run_dir / f"{spec.name}.log", workdir)
            for spec in specs
        ]

    def __len__(self) -> int:
        return len(self.workers)

    def __getitem__(self, index: int) -> WorkerProcess:
        return self.workers[index]

    def launch(self) -> None:
        """Start every worker without waiting (see :meth:`wait_ready`)."""
        for worker in self.workers:
            worker.launch()

    def wait_ready(self) -> None:
        """Wait until every worker is ready; on failure stop them all.

        Raises:
            StartupError: A worker exited or did not get ready in time.
        """
        try:
            for worker in self.workers:
                worker.wait_ready()
        except StartupError:
            self.stop()
            raise

    def start(self) -> WorkerPool:
        """Start every worker at once, then wait until each is ready."""
        self.launch()
        self.wait_ready()
        return self

    def stop(self, timeout_s: float = WORKER_STOP_TIMEOUT_S) -> None:
        """Warm shutdown of every worker at once; those still running at the deadline are
        killed."""
        for worker in self.workers:
            worker.terminate()
        deadline = time.monotonic() + timeout_s
        while any(w.alive() for w in self.workers) and time.monotonic() < deadline:
            time.sleep(PROBE_INTERVAL_S)
        for worker in self.workers:
            worker.kill()

    def kill(self, index: int) -> int | None:
        """SIGKILL worker ``index``; returns its exit code."""
        return self.workers[index].kill()

    def restart(self, index: int) -> None:
        """Stop worker ``index`` if it runs, start it again and wait until it is ready."""
        worker = self.workers[index]
        worker.stop()
        worker.launch()
        worker.wait_ready()
