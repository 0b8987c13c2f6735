"""Fixtures for integration tests: real ``python -m emulator`` subprocesses.

* ``start_emulator(config)``: start a dedicated emulator with `config` (a dict in the
  emulator's configuration schema); stopped when the test ends.
* ``emulator``: a shared emulator (started once per session) with fast task latency, reset and
  restored to `FAST_CONFIG` before each test. Tests that change its configuration through the
  admin API need not undo it.
* ``image_urls``: small PNG/JPEG inputs served over loopback HTTP, which the emulator fetches.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from config import S3Settings, Settings
from devstack.s3 import S3Handle, ensure_s3
from tests.integration.emulator_harness import (
    FAST_CONFIG,
    RunningEmulator,
    StartEmulator,
    image_server,
    jpeg_bytes,
    png_bytes,
    start_process,
)

INPUT_FILES: dict[str, bytes] = {
    "/car.png": png_bytes(600, 400),
    "/paint.jpg": jpeg_bytes(400, 600),
    "/square.png": png_bytes(512, 512, (30, 160, 60)),
}


@pytest.fixture
def start_emulator(tmp_path: Path) -> Iterator[StartEmulator]:
    """Factory: start a dedicated emulator subprocess with a given configuration."""
    started: list[RunningEmulator] = []

    def start(config: dict[str, Any] | None = None) -> RunningEmulator:
        log_path = tmp_path / f"emulator-{len(started)}.log"
        emulator = start_process(config, log_path)
        started.append(emulator)
        return emulator

    yield start
    for emulator in started:
        emulator.stop()


@pytest.fixture(scope="session")
def shared_emulator(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningEmulator]:
    """One emulator subprocess for the whole session."""
    log_path = tmp_path_factory.mktemp("emulator") / "shared.log"
    emulator = start_process(FAST_CONFIG, log_path)
    yield emulator
    emulator.stop()


@pytest.fixture
def emulator(shared_emulator: RunningEmulator) -> RunningEmulator:
    """The shared emulator, reset, with the fast default configuration."""
    shared_emulator.set_config(FAST_CONFIG)
    shared_emulator.reset()
    return shared_emulator


@pytest.fixture(scope="session")
def image_base_url() -> Iterator[str]:
    """Base URL of a loopback HTTP server holding `INPUT_FILES`."""
    with image_server(INPUT_FILES) as base_url:
        yield base_url


@pytest.fixture
def image_urls(image_base_url: str) -> dict[str, str]:
    """URLs of the loopback input images by short name: car (600x400 PNG), paint (400x600
    JPEG), square (512x512 PNG)."""
    return {
        "car": f"{image_base_url}/car.png",
        "paint": f"{image_base_url}/paint.jpg",
        "square": f"{image_base_url}/square.png",
    }


@pytest.fixture(scope="module")
def s3_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[S3Handle]:
    """moto's S3 server, a subprocess, for one test module (its tests make their buckets)."""
    log = tmp_path_factory.mktemp("moto") / "moto.log"
    with ensure_s3(Settings(s3=S3Settings(bucket="wanq-tests")), log_path=log) as handle:
        yield handle
