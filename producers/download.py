"""Downloading a batch's stored results: ``DIR/{custom_id or job_id}/{index}.png``.

A job's folder is its custom id when that is a safe file name
(:data:`~producers.constants.SAFE_DIR_NAME`), else its job id, so that a custom id can never
write outside ``DIR``. Each file is checked against the sha256 recorded for it, written
under a temporary name and renamed, and skipped when a file with that checksum is already
there: a download can be interrupted and run again.
"""

from __future__ import annotations

import hashlib
import os
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Final, Protocol

from producers.constants import RESULT_SUFFIX, SAFE_DIR_NAME
from workers.contract import JobRecord, JobState

_SAFE: Final = re.compile(SAFE_DIR_NAME)
_PARTIAL_SUFFIX: Final = ".part"


class ObjectReader(Protocol):
    """Reads objects of the results bucket (:class:`producers.s3.S3Objects`)."""

    def read(self, key: str) -> bytes:
        """An object's bytes."""


@dataclass
class DownloadReport:
    """What a download did.

    Attributes:
        written: Files written.
        skipped: Files already present with the right checksum.
        jobs: SUCCEEDED jobs whose results were downloaded (or already present).
        not_succeeded: Jobs with nothing to download (not SUCCEEDED).
        mismatched: Keys whose bytes did not match their recorded checksum (not written).
    """

    written: int = 0
    skipped: int = 0
    jobs: int = 0
    not_succeeded: int = 0
    mismatched: list[str] = field(default_factory=list)


def folder_name(record: JobRecord) -> str:
    """The folder of a job's results: its custom id if that is a safe name, else its id."""
    if record.custom_id is not None and _SAFE.fullmatch(record.custom_id):
        return record.custom_id
    return record.job_id


def download(
    records: Iterable[JobRecord], objects: ObjectReader, directory: Path
) -> DownloadReport:
    """Download every stored result of these jobs under ``directory``.

    Raises:
        StorageUnavailable, StorageRejected: An object could not be read.
        OSError: A file could not be written.
    """
    report = DownloadReport()
    for record in records:
        if record.state is not JobState.SUCCEEDED:
            report.not_succeeded += 1
            continue
        report.jobs += 1
        folder = directory / folder_name(record)
        folder.mkdir(parents=True, exist_ok=True)
        for index, (key, checksum) in enumerate(
            zip(record.object_keys, record.checksums, strict=True)
        ):
            target = folder / f"{index}{RESULT_SUFFIX}"
            if _has_checksum(target, checksum):
                report.skipped += 1
                continue
            body = objects.read(key)
            if hashlib.sha256(body).hexdigest() != checksum:
                report.mismatched.append(key)
                continue
            partial = target.with_name(target.name + _PARTIAL_SUFFIX)
            partial.write_bytes(body)
            os.replace(partial, target)
            report.written += 1
    return report


def _has_checksum(path: Path, checksum: str) -> bool:
    try:
        return hashlib.sha256(path.read_bytes()).hexdigest() == checksum
    except FileNotFoundError:
        return False
