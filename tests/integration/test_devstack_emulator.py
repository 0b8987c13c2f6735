"""devstack.emulator: the emulator subprocess, its key kept off the command line, no leaks."""

from __future__ import annotations

import os
from pathlib import Path

import httpx
import pytest

from devstack.emulator import EmulatorProcess
from emulator.constants import DEFAULT_API_KEY

pytestmark = pytest.mark.integration


def _open_fds() -> int:
    return len(os.listdir("/proc/self/fd"))


@pytest.mark.skipif(not Path("/proc/self/fd").is_dir(), reason="needs /proc")
def test_the_key_goes_through_the_config_file_and_nothing_leaks(tmp_path: Path) -> None:
    log = tmp_path / "emulator.log"
    before = _open_fds()
    with EmulatorProcess(log_path=log) as emulator:
        assert emulator._proc is not None
        argv = [str(arg) for arg in emulator._proc.args]
        assert DEFAULT_API_KEY not in argv and "--api-key" not in argv
        assert "--config" in argv
        ok = httpx.get(
            f"{emulator.base_url}/tasks/none",
            headers={"Authorization": f"Bearer {DEFAULT_API_KEY}"},
            timeout=5.0,
        )
        assert ok.status_code != 401  # the account from the config file knows the key
        bad = httpx.get(
            f"{emulator.base_url}/tasks/none",
            headers={"Authorization": "Bearer sk-wrong"},
            timeout=5.0,
        )
        assert bad.status_code == 401
        config_dir = Path(argv[argv.index("--config") + 1]).parent
    assert not config_dir.exists()  # the temporary config is removed on stop
    assert _open_fds() <= before  # the log handle and the admin client are closed
    assert log.exists()
