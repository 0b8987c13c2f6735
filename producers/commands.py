"""The ``wanq`` subcommands over the producer API: each returns the process's exit code.

Results go to ``out`` (stdout), everything meant for a person (refused lines, progress,
summaries of side effects) to ``err`` (stderr), so that ``wanq results BATCH > file`` and
pipes stay clean.
"""

from __future__ import annotations

import json
import sys
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TextIO

from config import Settings
from producers.api import WanQueue
from producers.constants import EXIT_OK, EXIT_REFUSED, EXIT_TIMEOUT, EXIT_UNSENT
from producers.download import download
from producers.manifest import read_manifest
from producers.outcomes import CancelStatus, SubmitReport
from producers.progress import ProgressDisplay, describe
from producers.s3 import S3Objects

STDIO = "-"


@dataclass(frozen=True)
class Console:
    """Where a command writes.

    Attributes:
        out: Results (stdout).
        err: Messages for a person (stderr).
    """

    out: TextIO
    err: TextIO


@dataclass(frozen=True)
class SubmitOptions:
    """``wanq submit``'s batch, and the tenant and priority of lines that name none."""

    batch: str | None = None
    tenant: str | None = None
    priority: str | None = None


def submit(
    queue: WanQueue,
    console: Console,
    manifest: str,
    options: SubmitOptions,
    wait: bool,
    timeout_s: float,
) -> int:
    """``wanq submit MANIFEST``: every valid line goes in; the others are reported."""
    with _open_lines(manifest) as lines:
        report = queue.submit_manifest(
            read_manifest(lines),
            batch=options.batch,
            tenant=options.tenant,
            priority=options.priority,
        )
    for problem in report.refused:
        print(problem, file=console.err)
    _print_report(report, console)
    code = EXIT_OK
    if report.refused:
        code = EXIT_REFUSED
    if report.unsent:
        code = EXIT_UNSENT
    if not wait or not report.job_ids or report.unsent:
        return code  # unsent jobs would not end: nothing to wait for until a redrive
    display = ProgressDisplay(console.err, len(set(report.job_ids)))
    try:
        records = queue.wait(report.job_ids, timeout_s, on_progress=display.update)
    finally:
        display.finish()
    counts = Counter(record.state for record in {r.job_id: r for r in records}.values())
    print(f"batch {report.batch}: {describe(counts)}", file=console.out)
    if any(not record.is_terminal for record in records):
        print(f"wanq: not every job ended within {timeout_s:g} s", file=console.err)
        return EXIT_TIMEOUT
    return code


def _print_report(report: SubmitReport, console: Console) -> None:
    refused = f", {len(report.refused)} line(s) refused" if report.refused else ""
    print(
        f"batch {report.batch}: {report.created} job(s) enqueued, "
        f"{report.existing} already submitted{refused}",
        file=console.err,
    )
    if report.unsent:
        print(
            f"wanq: {len(report.unsent)} job(s) are recorded but the broker did not take their "
            "messages; run `wanq redrive` (or submit the manifest again) once it is back",
            file=console.err,
        )


def status(queue: WanQueue, console: Console, batch: str | None) -> int:
    """``wanq status [BATCH]``: counts by state of a batch, or of every batch."""
    batches = [batch] if batch is not None else queue.batches()
    if batch is None and not batches:
        print("no batches", file=console.err)
    for name in batches:
        counts = queue.batch_progress(name)
        total = sum(counts.values())
        print(f"{name}\t{total} job(s)\t{describe(counts) or '-'}", file=console.out)
    unsent = len(queue.outbox)
    if unsent:
        print(f"{unsent} job(s) recorded but not yet sent (`wanq redrive`)", file=console.err)
    return EXIT_OK


def results(queue: WanQueue, console: Console, batch: str, output: str) -> int:
    """``wanq results BATCH -o FILE``: one JSON line per job."""
    count = 0
    with _open_output(output, console) as stream:
        for line in queue.results(batch):
            stream.write(json.dumps(line, ensure_ascii=False) + "\n")
            count += 1
    if output != STDIO:
        print(f"{count} result line(s) written to {output}", file=console.err)
    return EXIT_OK


def cancel(queue: WanQueue, console: Console, job_ids: list[str], batch: str | None) -> int:
    """``wanq cancel JOB_ID... | --batch B``: cancel what the upstream has not started."""
    outcomes = [queue.cancel(job_id) for job_id in job_ids]
    if batch is not None:
        outcomes += queue.cancel_batch(batch)
    for outcome in outcomes:
        print(outcome, file=console.out)
    if any(outcome.status is CancelStatus.REFUSED for outcome in outcomes):
        return EXIT_REFUSED
    return EXIT_OK


def download_batch(
    queue: WanQueue, console: Console, settings: Settings, batch: str, directory: Path
) -> int:
    """``wanq download BATCH DIR``: every stored result to ``DIR/{custom_id|job_id}/{i}.png``."""
    objects = S3Objects.from_settings(settings.s3)
    try:
        report = download(queue.records(batch), objects, directory)
    finally:
        objects.close()
    print(
        f"{report.written} file(s) written, {report.skipped} already present, for "
        f"{report.jobs} succeeded job(s) under {directory}; {report.not_succeeded} job(s) "
        "had nothing to download",
        file=console.err,
    )
    for key in report.mismatched:
        print(
            f"wanq: {key}: checksum does not match the job's record; not written", file=console.err
        )
    return EXIT_REFUSED if report.mismatched else EXIT_OK


def redrive(queue: WanQueue, console: Console, min_age_s: float) -> int:
    """``wanq redrive``: send the messages of jobs recorded but never sent."""
    sent = queue.redrive(min_age_s=min_age_s)
    print(f"{sent} job(s) sent again", file=console.err)
    return EXIT_OK


def retry(queue: WanQueue, console: Console, batch: str, codes: list[str] | None) -> int:
    """``wanq retry``: submit a batch's failed jobs again (see ``WanQueue.retry_failed``)."""
    report = queue.retry_failed(batch, codes=codes)
    for problem in report.refused:
        print(problem, file=console.err)
    _print_report(report, console)
    return EXIT_UNSENT if report.unsent else EXIT_REFUSED if report.refused else EXIT_OK


@contextmanager
def _open_lines(path: str) -> Iterator[Iterator[bytes]]:
    if path == STDIO:
        yield iter(sys.stdin.buffer)
        return
    with open(path, "rb") as file:
        yield iter(file)


@contextmanager
def _open_output(path: str, console: Console) -> Iterator[TextIO]:
    if path == STDIO:
        yield console.out
        return
    with open(path, "w", encoding="utf-8") as file:
        yield file
