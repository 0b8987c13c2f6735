"""The ``wanq`` command line, in-process, against a real Redis and moto's S3 server."""

from __future__ import annotations

import hashlib
import io
import json
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from PIL import Image
from pydantic import SecretStr

from config import FlowerSettings, S3Settings, Settings
from devstack.s3 import S3Handle, ensure_s3
from producers import WanQueue
from producers import flower as flower_module
from producers.cli import main
from producers.constants import EXIT_OK, EXIT_REFUSED, EXIT_TIMEOUT, FLOWER_AUTH_ENV
from producers.progress import ProgressDisplay
from workers.contract import JobState

BUCKET = "wanq-cli"
URL = "https://cdn.example.test/sku.png"


@pytest.fixture(scope="module")
def s3_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[S3Handle]:
    log = tmp_path_factory.mktemp("moto") / "moto.log"
    with ensure_s3(Settings(s3=S3Settings(bucket=BUCKET)), log_path=log) as handle:
        yield handle


@pytest.fixture
def settings(redis_url: str, redis_prefix: str, s3_server: S3Handle) -> Settings:
    base = Settings(
        redis_url=SecretStr(redis_url), key_prefix=redis_prefix, s3=S3Settings(bucket=BUCKET)
    )
    return s3_server.apply(base)


@pytest.fixture
def queue(settings: Settings) -> Iterator[WanQueue]:
    with WanQueue.from_settings(settings) as wan_queue:
        yield wan_queue


def write_manifest(path: Path, count: int, *extra: str) -> Path:
    lines = [
        json.dumps(
            {"custom_id": f"sku-{i}", "model": "wan2.7-image", "prompt": "white", "images": [URL]}
        )
        for i in range(count)
    ]
    path.write_text("\n".join([*lines, *extra]) + "\n")
    return path


def test_submit_reports_refused_lines_and_enqueues_the_rest(
    settings: Settings, queue: WanQueue, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    manifest = write_manifest(
        tmp_path / "m.jsonl", 3, "{not json", json.dumps({"model": "wan2.7-image"})
    )
    code = main(["submit", str(manifest), "--batch", "spring"], settings=settings)
    err = capsys.readouterr().err
    assert code == EXIT_REFUSED
    assert "line 4: json: each line must be one JSON object" in err
    assert "line 5: prompt: is required" in err
    assert "batch spring: 3 job(s) enqueued, 0 already submitted, 2 line(s) refused" in err
    assert queue.batch_progress("spring") == {JobState.QUEUED: 3}

    assert main(["submit", str(manifest), "--batch", "spring"], settings=settings) == EXIT_REFUSED
    assert "0 job(s) enqueued, 3 already submitted" in capsys.readouterr().err

    assert main(["status"], settings=settings) == EXIT_OK
    assert capsys.readouterr().out == "spring\t3 job(s)\tQUEUED 3\n"
    assert main(["status", "spring"], settings=settings) == EXIT_OK
    assert "QUEUED 3" in capsys.readouterr().out


def test_submit_sets_the_tenant_and_lane_of_lines_that_name_none(
    settings: Settings, queue: WanQueue, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    own = {
        "model": "wan2.7-image",
        "prompt": "white background",
        "images": ["https://cdn.example.com/own.jpg"],
        "tenant": "own-shop",
        "priority": "bulk",
    }
    manifest = write_manifest(tmp_path / "m.jsonl", 2, json.dumps(own), '{"priority": "urgent"}')
    argv = ["submit", str(manifest), "--batch", "t", "--tenant", "studio"]
    code = main([*argv, "--priority", "interactive"], settings=settings)
    assert code == EXIT_REFUSED
    assert (
        "line 4: priority: must be 'interactive' or 'bulk' (got 'urgent')"
        in capsys.readouterr().err
    )
    records = list(queue.records("t"))
    assert sorted((r.tenant, r.priority.value) for r in records) == [
        ("own-shop", "bulk"),
        ("studio", "interactive"),
        ("studio", "interactive"),
    ]


def test_submit_wait_follows_the_jobs_to_their_end(
    settings: Settings, queue: WanQueue, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    manifest = write_manifest(tmp_path / "m.jsonl", 2)
    stop = threading.Event()

    def worker() -> None:  # stands in for the pipeline: ends every job of the batch
        while not stop.wait(0.05):
            for record in queue.records("w"):
                queue.store.transition(record.job_id, JobState.SUCCEEDED)

    thread = threading.Thread(target=worker)
    thread.start()
    try:
        code = main(["submit", str(manifest), "--batch", "w", "--wait"], settings=settings)
    finally:
        stop.set()
        thread.join()
    captured = capsys.readouterr()
    assert code == EXIT_OK
    assert captured.out == "batch w: SUCCEEDED 2\n"
    assert "2/2 ended  SUCCEEDED 2" in captured.err


def test_submit_wait_times_out(
    settings: Settings, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    manifest = write_manifest(tmp_path / "m.jsonl", 1)
    code = main(["submit", str(manifest), "--wait", "--timeout", "0.3"], settings=settings)
    assert code == EXIT_TIMEOUT
    assert "not every job ended within 0.3 s" in capsys.readouterr().err


def test_results_cancel_and_download(
    settings: Settings,
    queue: WanQueue,
    s3_server: S3Handle,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    request = {"model": "wan2.7-image", "prompt": "a", "images": [URL]}
    done = queue.submit(request, batch="b", custom_id="sku-1")
    odd = queue.submit(request, batch="b", custom_id="../escape")
    waiting = queue.submit(request, batch="b")
    s3 = s3_server.client()
    bodies: dict[str, list[bytes]] = {}
    for record, count in ((done, 2), (odd, 1)):
        keys, sums, bodies[record.job_id] = [], [], []
        for index in range(count):
            out = io.BytesIO()
            Image.new("RGB", (8, 8), (index * 50, 0, 0)).save(out, format="PNG")
            body = out.getvalue()
            key = f"results/{record.job_id}/{index}.png"
            s3.put_object(Bucket=BUCKET, Key=key, Body=body)
            keys.append(key)
            sums.append(hashlib.sha256(body).hexdigest())
            bodies[record.job_id].append(body)
        queue.store.transition(record.job_id, JobState.SUCCEEDED, object_keys=keys, checksums=sums)

    results = tmp_path / "results.jsonl"
    assert main(["results", "b", "-o", str(results)], settings=settings) == EXIT_OK
    lines = [json.loads(text) for text in results.read_text().splitlines()]
    assert [line["state"] for line in lines] == ["SUCCEEDED", "SUCCEEDED", "QUEUED"]
    assert lines[0]["custom_id"] == "sku-1" and len(lines[0]["object_keys"]) == 2

    target = tmp_path / "images"
    assert main(["download", "b", str(target)], settings=settings) == EXIT_OK
    assert (target / "sku-1" / "0.png").read_bytes() == bodies[done.job_id][0]
    assert (target / "sku-1" / "1.png").read_bytes() == bodies[done.job_id][1]
    assert (target / odd.job_id / "0.png").read_bytes() == bodies[odd.job_id][0]
    assert sorted(p.name for p in target.iterdir()) == sorted(["sku-1", odd.job_id])
    assert "3 file(s) written" in capsys.readouterr().err
    assert main(["download", "b", str(target)], settings=settings) == EXIT_OK
    assert "0 file(s) written, 3 already present" in capsys.readouterr().err

    assert main(["cancel", "--batch", "b"], settings=settings) == EXIT_OK
    assert capsys.readouterr().out == f"{waiting.job_id}: canceled\n"
    assert main(["cancel", done.job_id], settings=settings) == EXIT_REFUSED
    assert "already ended" in capsys.readouterr().out


def test_flower_needs_a_password_and_keeps_it_off_the_command_line(
    settings: Settings, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["flower"], settings=settings) == EXIT_REFUSED
    assert "WANQ_FLOWER__PASSWORD" in capsys.readouterr().err

    secured = settings.model_copy(
        update={"flower": FlowerSettings(password=SecretStr("pw-123"), port=5999)}
    )
    environment: dict[str, str] = {}
    calls: list[list[str]] = []
    monkeypatch.setattr(flower_module.os, "putenv", environment.__setitem__)
    flower_module.exec_flower(secured, lambda path, argv: calls.append(argv))
    [argv] = calls
    assert argv[1:6] == ["-m", "celery", "-A", "workers.app", "flower"]
    assert argv[6:] == ["--address=127.0.0.1", "--port=5999"]
    assert environment == {FLOWER_AUTH_ENV: "wanq:pw-123"}
    assert not any("pw-123" in part for part in argv)


def test_progress_is_a_bar_on_a_terminal_and_periodic_lines_elsewhere() -> None:
    tty = io.StringIO()
    bar = ProgressDisplay(tty, 4, tty=True)
    bar.update({JobState.QUEUED: 2, JobState.SUCCEEDED: 2})
    bar.finish()
    assert tty.getvalue().startswith("\r[" + "#" * 15 + "-" * 15 + "] 2/4 ended")
    assert tty.getvalue().endswith("\n")

    now = [0.0]
    log = io.StringIO()
    plain = ProgressDisplay(log, 2, tty=False, clock=lambda: now[0])
    plain.update({JobState.QUEUED: 2})
    plain.update({JobState.RUNNING: 2})  # too soon: not printed
    now[0] = 10.0
    plain.update({JobState.RUNNING: 2})
    plain.update({JobState.SUCCEEDED: 2})  # the end is always printed
    assert log.getvalue().splitlines() == [
        "0/2 ended  QUEUED 2",
        "0/2 ended  RUNNING 2",
        "2/2 ended  SUCCEEDED 2",
    ]


def test_usage_errors(settings: Settings) -> None:
    with pytest.raises(SystemExit) as info:
        main(["cancel"], settings=settings)
    assert info.value.code == 2


def test_one_flower_launcher_and_its_refusal_is_in_the_error_tree() -> None:
    import devstack.flower
    from producers.errors import FlowerRefused
    from workers.errors import PermanentError

    assert devstack.flower.flower_argv is flower_module.flower_argv
    assert devstack.flower.FLOWER_AUTH_ENV == flower_module.FLOWER_AUTH_ENV
    assert issubclass(FlowerRefused, PermanentError)
    refused = FlowerRefused("set WANQ_FLOWER__PASSWORD")
    assert type(refused)(*refused.args).message == refused.message  # survives the queue
    with pytest.raises(FlowerRefused, match="WANQ_FLOWER__PASSWORD"):
        flower_module.basic_auth(Settings())


def test_retry_submits_the_failed_jobs_of_a_batch_again(
    settings: Settings, queue: WanQueue, capsys: pytest.CaptureFixture[str]
) -> None:
    request = {"model": "wan2.7-image", "prompt": "a", "images": [URL]}
    failed = queue.submit(request, batch="r", custom_id="sku-1")
    ambiguous = queue.submit(request, batch="r", custom_id="sku-2")
    queue.store.transition(failed.job_id, JobState.FAILED, error_code="StorageUnavailable")
    queue.store.transition(ambiguous.job_id, JobState.FAILED, error_code="SubmitOutcomeUnknown")

    assert main(["retry", "--batch", "r"], settings=settings) == EXIT_OK
    assert "1 job(s) enqueued" in capsys.readouterr().err
    retried = queue.get_by_custom_id(f"retry-{failed.job_id}")
    assert retried is not None and retried.state is JobState.QUEUED
    assert queue.get_by_custom_id(f"retry-{ambiguous.job_id}") is None

    argv = ["retry", "--batch", "r", "--code", "SubmitOutcomeUnknown"]
    assert main(argv, settings=settings) == EXIT_OK
    assert "1 job(s) enqueued, 0 already submitted" in capsys.readouterr().err
    assert main(["retry", "--batch", "r", "--code", "SubmitOutcomeUnknown"], settings=settings) == 0
    assert "0 job(s) enqueued, 1 already submitted" in capsys.readouterr().err
