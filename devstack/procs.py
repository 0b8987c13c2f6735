"""What every launcher needs: a free port, waiting for a child to answer, stopping it.

Each service of the local stack runs as a real subprocess that this process owns; these
helpers keep the start and stop discipline the same for all of them.
"""

from __future__ import annotations

import signal
import socket
import subprocess
import time
from collections.abc import Callable
from pathlib import Path
from types import TracebackType
from typing import Self

from devstack.constants import LOOPBACK, PROBE_INTERVAL_S

LOG_TAIL_LINES = 20


class StartupError(RuntimeError):
    """A service of the local stack could not be found, started or reached."""


def free_port(host: str = LOOPBACK) -> int:
    """Ask the kernel for a free TCP port on ``host``."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


def port_open(host: str, port: int, timeout_s: float = 0.2) -> bool:
    """Whether something accepts TCP connections on ``host:port``."""
    try:
        with socket.create_connection((host, port), timeout=timeout_s):
            return True
    except OSError:
        return False


def log_tail(path: Path | None, lines: int = LOG_TAIL_LINES) -> str:
    """The last lines of a log file ('' when there is none), for error messages."""
    if path is None or not path.exists():
        return ""
    text = path.read_text(errors="replace").splitlines()
    return "\n".join(text[-lines:])


def wait_until(
    condition: Callable[[], bool],
    *,
    what: str,
    timeout_s: float,
    proc: subprocess.Popen[bytes] | None = None,
    log_path: Path | None = None,
) -> None:
    """Poll ``condition`` until it holds.

    Args:
        condition: Probe; returns True once the service answers.
        what: Name of the service, for the error message.
        timeout_s: Deadline.
        proc: The child being waited for; its early exit ends the wait at once.
        log_path: The child's log, whose tail goes into the error message.

    Raises:
        StartupError: The child exited, or the deadline passed.
    """
    deadline = time.monotonic() + timeout_s
    while True:
        if proc is not None and proc.poll() is not None:
            raise StartupError(
                f"{what} exited with code {proc.returncode} while starting\n{log_tail(log_path)}"
            )
        if condition():
            return
        if time.monotonic() >= deadline:
            raise StartupError(
                f"{what} did not answer within {timeout_s:g} s\n{log_tail(log_path)}"
            )
        time.sleep(PROBE_INTERVAL_S)


def stop_process(proc: subprocess.Popen[bytes], timeout_s: float) -> int:
    """Ask a child to stop (SIGTERM), kill it if it has not within ``timeout_s``.

    Returns:
        The child's exit code (negative: the signal that ended it).
    """
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout_s)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
    return proc.returncode


class Stoppable:
    """What devstack starts is stopped when its ``with`` block ends (subclasses define stop)."""

    def stop(self) -> None:
        """Stop what this object started; idempotent."""
        raise NotImplementedError

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()


class Startable(Stoppable):
    """A :class:`Stoppable` that a ``with`` block also starts."""

    def start(self) -> Self:
        """Start it and wait until it is ready."""
        raise NotImplementedError

    def __enter__(self) -> Self:
        return self.start()
