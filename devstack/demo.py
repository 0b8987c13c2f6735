"""The demo behind ``make demo``: a product catalogue through the whole pipeline.

Starts (or finds) Redis, an S3 endpoint (moto's server unless one is configured), the DashScope
emulator, two Celery workers and Flower; submits the sample catalogue through the producers'
Python API (the invalid line is refused with its field and rule, the rest go in); shows progress
while the workers submit, poll and store; writes ``demo-output/results.jsonl`` and downloads
every stored image under ``demo-output/``; prints a summary; stops what it started.

``--keep`` leaves the stack up and prints the Flower URL and credentials until Ctrl-C.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import secrets
import shutil
import signal
import sys
from collections import Counter
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from adapters.redis import redis_client
from config import Settings, load_settings
from devstack.catalogue import MODERATION_TERM, sample_catalogue
from devstack.stack import LocalStack
from devstack.workers import WorkerSpec
from producers.api import WanQueue
from producers.download import download
from producers.progress import ProgressDisplay
from producers.s3 import S3Objects
from workers.contract import JobRecord

BATCH = "demo"
WAIT_S = 180.0

# Like the real service but quicker: limits on, a few seconds per task, the content filter
# failing the catalogue's two flagged prompts.
EMULATOR_CONFIG: dict[str, Any] = {
    "accounts": [
        {
            "name": "demo",
            "api_keys": ["sk-emulator"],
            "query_qps": 20,
            "limits": {"*": {"submit_rps": 5, "max_concurrent": 6, "on_concurrency": "reject"}},
        }
    ],
    "models": {
        "*": {
            "pending": {"kind": "fixed", "median_s": 0.3},
            "running": {"kind": "lognormal", "median_s": 2.0, "sigma": 0.3, "max_s": 5},
            "partial_failure_rate": 0.3,
        }
    },
    "moderation_terms": [MODERATION_TERM],
    "random_seed": 7,
}


def _demo_settings(settings: Settings) -> Settings:
    """The demo's pipeline: limits matching the emulator's, quick first polls, and a key
    prefix of its own, so that it never reads or writes a developer's jobs in a shared Redis
    (and a second run does not find the first run's custom ids)."""
    pipeline = settings.pipeline.model_copy(
        update={"first_poll_delay_s": 1.5, "poll_interval_s": 1.0, "max_poll_interval_s": 3.0}
    )
    limiter = settings.limiter.model_copy(update={"max_in_flight": 6, "submit_rps": 5.0})
    prefix = f"{settings.key_prefix}demo-{secrets.token_hex(4)}:"
    return settings.model_copy(
        update={"pipeline": pipeline, "limiter": limiter, "key_prefix": prefix}
    )


def _forget(settings: Settings) -> None:
    """Delete every Redis key of this demo run (its prefix is its own)."""
    redis = redis_client(settings)
    try:
        for key in redis.scan_iter(match=f"{settings.key_prefix}*", count=1000):
            redis.delete(key)
    finally:
        redis.close()


def _summary(records: list[JobRecord], refused: list[str]) -> None:
    print(f"\n{'custom_id':<22} {'model':<20} {'state':<10} {'images':>6}  reason")
    for record in records:
        reason = f"{record.error_code}: {record.error_message}" if record.error_code else ""
        print(
            f"{record.custom_id or record.job_id:<22} {record.request.model.value:<20} "
            f"{record.state.value:<10} {len(record.object_keys):>6}  {reason[:60]}"
        )
    for line in refused:
        print(f"{'(refused)':<22} {'-':<20} {'REFUSED':<10} {0:>6}  {line[:60]}")
    counts = Counter(r.state.value for r in records)
    images = sum(len(r.object_keys) for r in records)
    print(
        "totals: "
        + ", ".join(f"{state} {count}" for state, count in sorted(counts.items()))
        + f", refused {len(refused)}; {images} images stored"
    )


def _hold(stack: LocalStack) -> None:
    flower, auth = stack.flower, stack.settings.flower
    if flower is not None and auth.password is not None:
        # The user asked for a dashboard to log in to; this run's throwaway password (or the
        # one set in WANQ_FLOWER__PASSWORD) is shown on their terminal only.
        password = auth.password.get_secret_value()
        print(f"Flower: {flower.url}  user {auth.user!r}  password {password!r}")
    print("stack kept up; Ctrl-C stops everything.")
    with contextlib.suppress(KeyboardInterrupt):
        signal.pause()


def run(output: Path, *, keep: bool) -> int:
    """Run the demo; returns 0 when every valid job reached a terminal state."""
    shutil.rmtree(output, ignore_errors=True)
    output.mkdir(parents=True)
    settings = _demo_settings(load_settings())
    workers = (WorkerSpec("demo-1"), WorkerSpec("demo-2"))
    with LocalStack(
        settings, run_dir=output / "logs", emulator=EMULATOR_CONFIG, workers=workers
    ) as stack:
        # The run's keys go even when it fails or is interrupted (its prefix is its own).
        try:
            print(
                f"emulator {stack.settings.upstream.base_url}; S3 {stack.settings.s3.endpoint_url}"
            )
            if stack.flower is not None:
                print(f"Flower {stack.flower.url}")
            with WanQueue.from_settings(stack.settings) as queue:
                report = queue.submit_many(sample_catalogue(), batch=BATCH)
                refused = [str(problem) for problem in report.refused]
                for text in refused:
                    print(f"refused {text}")
                print(f"{len(report.job_ids)} jobs queued in batch {BATCH!r}")
                display = ProgressDisplay(sys.stderr, len(report.job_ids))
                records = queue.wait(report.job_ids, WAIT_S, on_progress=display.update)
                with (output / "results.jsonl").open("w") as results:
                    for result in queue.results(BATCH):
                        results.write(json.dumps(result) + "\n")
                    for refused_line in report.refused:  # every manifest line has an outcome
                        refusal = {
                            "line": refused_line.line,
                            "state": "REFUSED",
                            "error_code": "InputInvalid",
                        }
                        results.write(
                            json.dumps({**refusal, "error_message": str(refused_line.error)}) + "\n"
                        )
                objects = S3Objects.from_settings(stack.settings.s3)
                try:
                    written = download(records, objects, output).written
                finally:
                    objects.close()
            _summary(records, refused)
            print(f"{written} images under {output}/, results in {output / 'results.jsonl'}")
            if keep:
                _hold(stack)
        finally:
            _forget(stack.settings)
    return 0 if all(record.is_terminal for record in records) else 1


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m devstack.demo [--output DIR] [--keep]``."""
    parser = argparse.ArgumentParser(description="wanqueue demo: a catalogue through the pipeline")
    parser.add_argument("--output", type=Path, default=Path("demo-output"))
    parser.add_argument("--keep", action="store_true", help="leave the stack up (Ctrl-C stops)")
    args = parser.parse_args(argv)
    return run(args.output, keep=args.keep)


if __name__ == "__main__":
    sys.exit(main())
