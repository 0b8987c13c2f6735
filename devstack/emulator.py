"""The DashScope emulator as a real subprocess: for tests, benchmarks and the demo.

The emulator is always exercised over real HTTP from another process, so that what is measured
and tested is what a worker would see. Started as ``python -m emulator --config FILE``; the
account key goes into that file (a temporary directory only this user can read), not on the
command line (which every local user can read), unless the caller's configuration declares
its own accounts. Ready when ``/health`` answers 200.
"""

from __future__ import annotations

import functools
import json
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

import httpx

from devstack.constants import (
    EMULATOR_ADMIN_TIMEOUT_S,
    EMULATOR_START_TIMEOUT_S,
    EMULATOR_STOP_TIMEOUT_S,
    PROBE_TIMEOUT_S,
)
from devstack.env import PYTHON_CHILD_ENV
from devstack.procs import Startable, free_port, stop_process, wait_until
from emulator.config.root import default_account
from emulator.constants import DEFAULT_API_KEY, DEFAULT_HOST

CONFIG_NAME = "emulator.json"


def _healthy(admin: httpx.Client) -> bool:
    try:
        return admin.get("/health", timeout=PROBE_TIMEOUT_S).status_code == 200
    except httpx.HTTPError:
        return False


class EmulatorProcess(Startable):
    """A ``python -m emulator`` subprocess on a free loopback port.

    Use as a context manager; the process is stopped on exit.

    Args:
        config: The emulator's configuration (None: defaults). Without ``accounts``, one
            default account keyed by ``api_key`` is added.
        api_key: The default account's key.
        host: Bind address.
        port: Port (None: a free one).
        log_path: The emulator's log (None: discarded).

    Attributes:
        host: The bound address.
        port: The bound port.
        api_key: The default account's key (when the configuration declares no accounts).
        root_url: ``http://host:port``.
        base_url: ``http://host:port/api/v1``, what a DashScope client is pointed at.
        admin: An httpx client on ``root_url`` for the admin API.
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
        self._config = dict(config or {})
        self._log_path = log_path
        self._proc: subprocess.Popen[bytes] | None = None
        self._tmp: tempfile.TemporaryDirectory[str] | None = None
        self.admin = httpx.Client(base_url=self.root_url, timeout=EMULATOR_ADMIN_TIMEOUT_S)

    def _argv(self, config_path: Path) -> list[str]:
        argv = [sys.executable, "-m", "emulator", "--host", self.host, "--port", str(self.port)]
        argv += ["--config", str(config_path)]
        if self.api_key != DEFAULT_API_KEY:
            # The admin API keys a configuration set at run time without accounts with the
            # server's --api-key: only a non-default key needs it (the emulator reads it from
            # nowhere else yet).
            argv += ["--api-key", self.api_key]
        return argv

    def start(self) -> EmulatorProcess:
        """Start the process and wait until ``/health`` answers.

        Raises:
            StartupError: It exited or did not answer in time.
        """
        config = self._config
        if not config.get("accounts"):
            config = {**config, "accounts": [default_account(self.api_key)]}
        self._tmp = tempfile.TemporaryDirectory(prefix="wanq-emulator-")
        config_path = Path(self._tmp.name) / CONFIG_NAME
        config_path.write_text(json.dumps(config))
        config_path.chmod(0o600)
        argv = self._argv(config_path)
        if self._log_path is not None:
            self._log_path.parent.mkdir(parents=True, exist_ok=True)
            with self._log_path.open("ab") as log:  # the child keeps its own descriptor
                self._proc = self._spawn(argv, log)
        else:
            self._proc = self._spawn(argv, subprocess.DEVNULL)
        try:
            wait_until(
                functools.partial(_healthy, self.admin),
                what="emulator",
                timeout_s=EMULATOR_START_TIMEOUT_S,
                proc=self._proc,
                log_path=self._log_path,
            )
        except BaseException:
            self.stop()
            raise
        return self

    @staticmethod
    def _spawn(argv: list[str], out: Any) -> subprocess.Popen[bytes]:
        return subprocess.Popen(
            argv,
            stdout=out,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            env=dict(PYTHON_CHILD_ENV),
        )

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
        """Stop the process (killed if it does not stop in time); idempotent."""
        self.admin.close()
        if self._proc is not None:
            stop_process(self._proc, EMULATOR_STOP_TIMEOUT_S)
            self._proc = None
        if self._tmp is not None:
            self._tmp.cleanup()
            self._tmp = None
