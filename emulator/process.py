"""Run the emulator as a real subprocess: for tests, benchmarks and the demo.

The emulator is always exercised over real HTTP from another process, so that what is measured
and tested is what a worker would see.
"""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from types import TracebackType
from typing import Any

import httpx

from emulator.constants import (
    DEFAULT_API_KEY,
    DEFAULT_HOST,
    PROCESS_HEALTH_POLL_S,
    PROCESS_START_TIMEOUT_S,
    PROCESS_STOP_TIMEOUT_S,
)


def free_port(host: str = DEFAULT_HOST) -> int:
    """Ask the kernel for a free TCP port on ``host``."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


class EmulatorProcess:
    """A ``python -m emulator`` subprocess on a free loopback port.

    Use as a context manager; the process is stopped on exit.

    Attributes:
        host: The bound address.
        port: The bound port.
        api_key: The default account's key (when no config file declares accounts).
        root_url: ``http://host:port``.
        base_url: ``http://host:port/api/v1``, what a DashScope client is pointed at.
    """

    def __init__(
        self,
        config: dict[str, Any] | None = None,
        *,
        api_key: str = DEFAULT_API_KEY,
        host: str = DEFAULT_HOST,
        port: int | None = None,
        log_path: Path | None = None,
    ) -> None:
        self.host = host
        self.port = port or free_port(host)
        self.api_key = api_key
        self.root_url = f"http://{host}:{self.port}"
        self.base_url = f"{self.root_url}/api/v1"
        self._config = config
        self._log_path = log_path
        self._proc: subprocess.Popen[bytes] | None = None
        self._tmp: tempfile.TemporaryDirectory[str] | None = None
        self.admin = httpx.Client(base_url=self.root_url, timeout=10.0)

    def start(self) -> EmulatorProcess:
        """Start the process and wait until ``/health`` answers."""
        argv = [
            sys.executable,
            "-m",
            "emulator",
            "--host",
            self.host,
            "--port",
            str(self.port),
            "--api-key",
            self.api_key,
        ]
        if self._config is not None:
            self._tmp = tempfile.TemporaryDirectory(prefix="wanq-emulator-")
            path = Path(self._tmp.name) / "emulator.json"
            path.write_text(json.dumps(self._config))
            argv += ["--config", str(path)]
        out = self._log_path.open("ab") if self._log_path else subprocess.DEVNULL
        self._proc = subprocess.Popen(argv, stdout=out, stderr=subprocess.STDOUT)
        self._wait_healthy()
        return self

    def _wait_healthy(self) -> None:
        deadline = time.monotonic() + PROCESS_START_TIMEOUT_S
        while time.monotonic() < deadline:
            assert self._proc is not None
            if self._proc.poll() is not None:
                raise RuntimeError(f"emulator exited early with code {self._proc.returncode}")
            try:
                if self.admin.get("/health").status_code == 200:
                    return
            except httpx.TransportError:
                pass
            time.sleep(PROCESS_HEALTH_POLL_S)
        self.stop()
        raise RuntimeError(f"emulator did not become healthy within {PROCESS_START_TIMEOUT_S} s")

    def stats(self) -> dict[str, Any]:
        """The emulator's ``GET /admin/stats``."""
        response = self.admin.get("/admin/stats")
        response.raise_for_status()
        result: dict[str, Any] = response.json()
        return result

    def reset(self) -> None:
        """``POST /admin/reset``: forget every task, upload and counter."""
        self.admin.post("/admin/reset").raise_for_status()

    def stop(self) -> None:
        """Terminate the process (kill it if it does not stop in time)."""
        self.admin.close()
        if self._proc is not None and self._proc.poll() is None:
            self._proc.terminate()
            try:
                self._proc.wait(PROCESS_STOP_TIMEOUT_S)
            except subprocess.TimeoutExpired:
                self._proc.kill()
                self._proc.wait()
        if self._tmp is not None:
            self._tmp.cleanup()

    def __enter__(self) -> EmulatorProcess:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()
