"""The stack every scenario runs on, and running one design against it."""

from __future__ import annotations

import contextlib
import tempfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import SecretStr

from bench.sampler import StatsSampler
from bench.truth import task_end_times
from config import PipelineSettings, Settings
from devstack.emulator import EmulatorProcess
from devstack.stack import LocalStack

PRIVATE_REDIS = "redis://127.0.0.1:1/0"
"""Points at nothing, so that LocalStack starts a private Redis for the run."""


@contextlib.contextmanager
def bench_stack(
    emulator_config: dict[str, Any],
    run_dir: Path | None = None,
    *,
    redis_url: str = PRIVATE_REDIS,
) -> Iterator[Bench]:
    """A private Redis (or the one answering at ``redis_url``), moto's S3 and the emulator
    (no workers, no Flower)."""
    with contextlib.ExitStack() as stack:
        if run_dir is None:
            run_dir = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="wanqb-")))
        base = Settings(
            redis_url=SecretStr(redis_url),
            pipeline=PipelineSettings(soft_shutdown_timeout_s=0.0),
        )
        local = stack.enter_context(
            LocalStack(
                base,
                run_dir=run_dir,
                emulator=emulator_config,
                workers=(),
                flower=False,
                allow_install=True,
            )
        )
        assert local.emulator is not None
        yield Bench(local.settings, local.emulator, emulator_config, run_dir)


@dataclass
class Bench:
    """A running stack: its settings (Redis, S3, the emulator as upstream) and emulator."""

    settings: Settings
    emulator: EmulatorProcess
    config: dict[str, Any]
    run_dir: Path

    @property
    def redis_url(self) -> str:
        return self.settings.redis_url.get_secret_value()

    def fresh(self) -> None:
        """The scenario's configuration again, and no task, upload or counter."""
        self.emulator.admin.put("/admin/config", json=self.config).raise_for_status()
        self.emulator.reset()

    def measured(
        self, run: Callable[[StatsSampler], Any], keys: list[str]
    ) -> tuple[Any, list[dict[str, Any]], dict[str, Any], dict[str, float]]:
        """Run one design on a fresh emulator while sampling it.

        ``run`` gets the (not yet started) sampler and starts it when its clients begin.

        Returns:
            What ``run`` returned, the sampled timeline, the emulator's stats at the end, and
            the end time of every finished task of the accounts of ``keys``.
        """
        self.fresh()
        sampler = StatsSampler(self.emulator.root_url)
        try:
            outcome = run(sampler)
        finally:
            sampler.stop()
        stats = self.emulator.stats()
        ends: dict[str, float] = {}
        for key in keys:
            ends.update(task_end_times(self.emulator.root_url, key))
        return outcome, sampler.timeline(), stats, ends
