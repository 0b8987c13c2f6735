"""Fuzzing manifests: read, submitted with the Python API and with ``wanq submit``.

Whatever a manifest holds, its good lines are queued (records in a real Redis, jobs in the
waiting room) and every other line is reported with its number, the field and the rule; none
of a bad line is recorded, and neither the reader nor the CLI raises (the CLI exits 1 with one
readable line per refused line, never a traceback).
"""

from __future__ import annotations

import contextlib
import io
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pydantic import SecretStr

from config import Settings
from producers import WanQueue
from producers.cli import main
from producers.constants import EXIT_OK, EXIT_REFUSED
from producers.manifest import read_manifest
from tests.unit.fuzz_inputs import (
    BOM,
    MALFORMED_LINES,
    Manifest,
    assert_printable,
    clear,
    good_jobs,
    manifests,
    queued,
)

WITH_REDIS = settings(
    max_examples=60,
    deadline=None,
    # The Redis fixtures are the test's, shared by its examples: each example starts by
    # deleting every key under the test's prefix, so no example sees another's jobs.
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)


@pytest.fixture
def settings_(redis_url: str, redis_prefix: str) -> Settings:
    return Settings(redis_url=SecretStr(redis_url), key_prefix=redis_prefix)


@pytest.fixture
def queue(settings_: Settings) -> Iterator[WanQueue]:
    with WanQueue.from_settings(settings_) as wan_queue:
        yield wan_queue


# --- reading ----------------------------------------------------------------------------

RAW_LINES = st.one_of(
    st.binary(max_size=40),
    st.text(max_size=40).map(str.encode),
    st.sampled_from([line for line, _ in MALFORMED_LINES]),
    good_jobs().map(lambda job: repr(job).encode()),  # Python's repr: JSON's near miss
)


@settings(max_examples=150, deadline=None)
@given(st.lists(RAW_LINES | st.text(max_size=20), max_size=8))
def test_reading_never_raises_and_numbers_every_line(lines: list[bytes | str]) -> None:
    entries = list(read_manifest(lines))
    expected = []
    for number, raw in enumerate(lines, start=1):
        try:
            text = raw.decode("utf-8") if isinstance(raw, bytes) else raw
        except UnicodeDecodeError:
            expected.append(number)
            continue
        if (text.removeprefix("\ufeff") if number == 1 else text).strip():
            expected.append(number)
    assert [entry.line for entry in entries] == expected
    for entry in entries:
        assert (entry.data is None) != (entry.problem is None)
        if entry.problem is not None:
            assert entry.problem.field == "json"
            assert_printable(entry.problem)
        else:
            assert isinstance(entry.data, dict)


@pytest.mark.parametrize(("line", "phrase"), MALFORMED_LINES)
def test_each_malformed_line_is_reported_on_its_own_number(line: bytes, phrase: str) -> None:
    good = b'{"model": "wan2.7-image", "prompt": "white background"}\n'
    entries = list(read_manifest([good, line + b"\n", b"\n", good]))
    assert [entry.line for entry in entries] == [1, 2, 4]
    problem = entries[1].problem
    assert problem is not None and problem.field == "json" and phrase in problem.rule
    assert_printable(problem)
    assert entries[0].data is not None and entries[2].data is not None


# --- submitting ---------------------------------------------------------------------------


def check_queued(manifest: Manifest, client: redis.Redis, prefix: str, job_ids: list[str]) -> None:
    """Exactly the good lines' jobs are recorded and waiting; nothing of a bad line is."""
    state = queued(client, prefix)
    assert set(state.custom_ids) == set(manifest.good)
    assert state.custom_keys == set(manifest.good)
    assert state.parked == set(state.custom_ids.values()) == set(job_ids)
    assert state.messages == 0  # the waiting room, not the broker, holds new jobs


@WITH_REDIS
@given(manifest=manifests())
def test_submit_manifest_queues_the_good_lines_and_reports_the_others(
    queue: WanQueue, redis_client: redis.Redis, redis_prefix: str, manifest: Manifest
) -> None:
    clear(redis_client, redis_prefix)
    report = queue.submit_manifest(read_manifest(manifest.lines), batch="fuzz")
    assert [(e.line, e.error.field) for e in report.refused] == [
        (line, field) for line, field, _ in manifest.refused
    ], [str(e) for e in report.refused]
    for refusal, (_, _, phrase) in zip(report.refused, manifest.refused, strict=True):
        assert phrase in refusal.error.rule, str(refusal)
        assert_printable(refusal.error)
    assert report.created == len(manifest.good) and report.existing == 0 and not report.unsent
    check_queued(manifest, redis_client, redis_prefix, report.job_ids)


# --- wanq submit ------------------------------------------------------------------------


def wanq(settings_: Settings, *argv: str) -> tuple[int, str, str]:
    """Run ``wanq`` in-process; its exit code, stdout and stderr."""
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = main(list(argv), settings=settings_)
    return code, out.getvalue(), err.getvalue()


@WITH_REDIS
@given(manifest=manifests())
def test_wanq_submit_reports_each_refused_line_and_exits_1(
    settings_: Settings, redis_client: redis.Redis, redis_prefix: str, manifest: Manifest
) -> None:
    clear(redis_client, redis_prefix)
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "manifest.jsonl"
        path.write_bytes(manifest.text())
        code, _, err = wanq(settings_, "submit", str(path), "--batch", "fuzz")
    assert code == (EXIT_REFUSED if manifest.refused else EXIT_OK), err
    reported = [line for line in err.splitlines() if line.startswith("line ")]
    assert len(reported) == len(manifest.refused), err
    for text, (number, field, phrase) in zip(reported, manifest.refused, strict=True):
        assert text.startswith(f"line {number}: {field}: ") and phrase in text, text
        assert len(text) <= 520, text
    refused = f", {len(manifest.refused)} line(s) refused" if manifest.refused else ""
    summary = f"batch fuzz: {len(manifest.good)} job(s) enqueued, 0 already submitted{refused}"
    assert summary in err and "Traceback" not in err and "internal error" not in err
    job_ids = list(queued(redis_client, redis_prefix).custom_ids.values())
    check_queued(manifest, redis_client, redis_prefix, job_ids)


def test_wanq_submit_refuses_a_file_it_cannot_read_with_one_line(
    settings_: Settings, redis_client: redis.Redis, redis_prefix: str, tmp_path: Path
) -> None:
    for target in (tmp_path / "missing.jsonl", tmp_path):
        code, out, err = wanq(settings_, "submit", str(target))
        assert code == EXIT_REFUSED and out == ""
        assert err.startswith("wanq: ") and err.count("\n") == 1 and str(target) in err, err
    empty = tmp_path / "empty.jsonl"
    empty.write_bytes(BOM + b"\n  \n")
    assert wanq(settings_, "submit", str(empty))[0] == EXIT_OK
    binary = tmp_path / "image.png"
    binary.write_bytes(os.urandom(4096).replace(b"\n", b"") + b"\n" + b"\x89PNG\r\n\x1a\n")
    code, _, err = wanq(settings_, "submit", str(binary))
    assert code == EXIT_REFUSED and "line 1: json:" in err and "Traceback" not in err
    assert list(redis_client.scan_iter(match=f"{redis_prefix}job:*")) == []


@pytest.mark.parametrize(
    ("option", "value", "message"),
    [
        ("--batch", "two words", "wanq: batch: must be a string of 1 to 256 printable"),
        ("--batch", "x" * 300, "wanq: batch: must be a string of 1 to 256 printable"),
        ("--tenant", "tab\there", "wanq: tenant: must be a string of 1 to 256 printable"),
    ],
)
def test_wanq_submit_refuses_bad_options_before_reading(
    settings_: Settings,
    redis_client: redis.Redis,
    redis_prefix: str,
    tmp_path: Path,
    option: str,
    value: str,
    message: str,
) -> None:
    manifest = tmp_path / "m.jsonl"
    manifest.write_text('{"model": "wan2.7-image", "prompt": "white background"}\n')
    code, _, err = wanq(settings_, "submit", str(manifest), option, value)
    assert code == EXIT_REFUSED and err.startswith(message) and err.count("\n") == 1, err
    assert len(err) < 300
    assert list(redis_client.scan_iter(match=f"{redis_prefix}*")) == []


def test_an_unknown_priority_is_a_usage_error(
    settings_: Settings, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as caught:
        main(["submit", str(tmp_path / "m.jsonl"), "--priority", "urgent"], settings=settings_)
    assert caught.value.code == 2
    assert "invalid choice: 'urgent'" in capsys.readouterr().err
