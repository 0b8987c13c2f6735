"""``wanq submit`` as a real process on hostile manifests: one readable line per refused line,
exit code 1, never a traceback; the good lines are queued in a real Redis.

The unit tests (tests/unit/test_fuzz_manifest.py) fuzz the same command in-process; this one
checks what only a process shows: the exit status and that nothing reaches stderr unhandled.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
import redis
from pydantic import SecretStr

from config import Settings
from devstack.env import child_env
from tests.unit.fuzz_inputs import BAD_JOB_FIELDS, BAD_SOURCES, MALFORMED_LINES, queued, url

pytestmark = pytest.mark.integration

CLI_TIMEOUT_S = 60


def wanq(settings: Settings, *args: str, stdin: bytes = b"") -> subprocess.CompletedProcess[bytes]:
    """Run the installed ``wanq`` script with the settings in its environment."""
    script = Path(sys.executable).with_name("wanq")
    argv = [str(script)] if script.exists() else [sys.executable, "-m", "producers.cli"]
    return subprocess.run(
        [*argv, *args],
        env=child_env(settings),
        input=stdin,
        capture_output=True,
        timeout=CLI_TIMEOUT_S,
        check=False,
    )


@pytest.fixture
def settings(redis_url: str, redis_prefix: str) -> Settings:
    return Settings(redis_url=SecretStr(redis_url), key_prefix=redis_prefix)


def good(number: int) -> bytes:
    job = {"model": "wan2.7-image", "prompt": "white", "images": [url(number)]}
    return json.dumps({**job, "custom_id": f"sku-{number}"}).encode()


def test_a_hostile_manifest_is_reported_line_by_line(
    settings: Settings, redis_client: redis.Redis, redis_prefix: str, tmp_path: Path
) -> None:
    lines: list[bytes] = []
    expected: list[tuple[int, str, str]] = []
    good_ids: list[str] = []

    def add(line: bytes, field: str | None = None, phrase: str = "") -> None:
        lines.append(line)
        if field is None:
            good_ids.append(f"sku-{len(lines)}")
        else:
            expected.append((len(lines), field, phrase))

    for line, phrase in MALFORMED_LINES:
        add(good(len(lines) + 1))
        add(line, "json", phrase)
    base = {"model": "wan2.6-image", "prompt": "white"}
    for source, phrase in BAD_SOURCES:
        add(json.dumps({**base, "images": [url(0), source]}).encode(), "images[1]", phrase)
    for fields, field, phrase in BAD_JOB_FIELDS:
        add(json.dumps({**base, "images": [url(0)], **fields}).encode(), field, phrase)
    add(good(len(lines) + 1))
    manifest = tmp_path / "hostile.jsonl"
    manifest.write_bytes(b"\n".join(lines) + b"\n")

    done = wanq(settings, "submit", str(manifest), "--batch", "hostile")
    err = done.stderr.decode("utf-8")
    assert done.returncode == 1, err
    assert "Traceback" not in err and "internal error" not in err
    reported = [line for line in err.splitlines() if line.startswith("line ")]
    assert len(reported) == len(expected)
    for text, (number, field, phrase) in zip(reported, expected, strict=True):
        assert text.startswith(f"line {number}: {field}: ") and phrase in text, text
        assert len(text) <= 520
    assert f"{len(good_ids)} job(s) enqueued, 0 already submitted" in err
    state = queued(redis_client, redis_prefix)
    assert set(state.custom_ids) == state.custom_keys == set(good_ids)
    assert state.parked == set(state.custom_ids.values())


def test_unreadable_input_is_one_line_and_exit_1(
    settings: Settings, redis_client: redis.Redis, redis_prefix: str, tmp_path: Path
) -> None:
    for target in (str(tmp_path / "missing.jsonl"), str(tmp_path)):
        done = wanq(settings, "submit", target)
        err = done.stderr.decode()
        assert done.returncode == 1 and err.startswith("wanq: ") and err.count("\n") == 1, err
    done = wanq(settings, "submit", "-", stdin=b"\x89PNG\r\n\x1a\n\x00\xff" * 100)
    err = done.stderr.decode()
    assert done.returncode == 1 and "line 1: json:" in err and "Traceback" not in err, err
    done = wanq(settings, "submit", "-", "--batch", "two words", stdin=good(1) + b"\n")
    err = done.stderr.decode()
    assert done.returncode == 1 and err.startswith("wanq: batch: ") and "Traceback" not in err
    assert list(redis_client.scan_iter(match=f"{redis_prefix}*")) == []
