"""The ``wanq`` CLI end to end: a manifest in, images out, through the real pipeline.

Real parts: the emulator (a subprocess), moto's S3 server (a subprocess), Redis (database 15,
keys under the test's prefix) and two ``celery -A workers.app worker`` subprocesses. The CLI
runs as the installed ``wanq`` console script with the test's settings in its environment:

* ``wanq submit manifest.jsonl --wait`` (URLs, a local file and a large data URI staged to S3,
  one invalid line refused with its number, the rest followed to their end);
* ``wanq results BATCH -o results.jsonl`` and ``wanq download BATCH DIR`` (every image checked
  against its recorded sha256);
* a job enqueued the way README tells a non-Python service to (a hand-written record hash
  and a hand-written Celery protocol-2 message) goes through the same workers;
* ``wanq flower`` serves its API behind basic auth, the password off its command line.
"""

from __future__ import annotations

import base64
import hashlib
import io
import json
import os
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import redis
from PIL import Image
from pydantic import SecretStr

from config import FlowerSettings, Settings
from devstack.env import child_env
from devstack.procs import free_port
from devstack.s3 import S3Handle
from devstack.workers import WorkerPool, WorkerSpec
from tests.integration.emulator_harness import StartEmulator, wait_for
from tests.integration.pipeline_harness import (
    start_upstreams,
    unique,
    wait_terminal,
)
from workers.contract import JobState, JobStore

pytestmark = pytest.mark.integration

CLI_TIMEOUT_S = 180
WAIT_S = 120


@pytest.fixture
def stack(
    start_emulator: StartEmulator,
    s3_server: S3Handle,
    redis_url: str,
    redis_prefix: str,
    tmp_path: Path,
) -> Iterator[Settings]:
    """Emulator, bucket and two workers; the settings producers use."""
    settings = start_upstreams(
        start_emulator, s3_server, redis_url=redis_url, prefix=redis_prefix, label="producers"
    ).settings
    specs = [WorkerSpec(f"p{i}", concurrency=4) for i in (1, 2)]
    with WorkerPool(settings, specs, tmp_path / "workers", cwd=Path.cwd()):
        yield settings


def wanq(settings: Settings, *args: str) -> subprocess.CompletedProcess[str]:
    """Run the installed ``wanq`` script with the settings in its environment."""
    script = Path(sys.executable).with_name("wanq")
    argv = [str(script)] if script.exists() else [sys.executable, "-m", "producers.cli"]
    env = child_env(settings)
    return subprocess.run(
        [*argv, *args],
        env=env,
        cwd=Path.cwd(),
        capture_output=True,
        text=True,
        timeout=CLI_TIMEOUT_S,
        check=False,
    )


def _png(width: int, height: int, noisy: bool = False) -> bytes:
    if noisy:
        image = Image.frombytes("RGB", (width, height), os.urandom(width * height * 3))
    else:
        image = Image.new("RGB", (width, height), (30, 140, 90))
    out = io.BytesIO()
    image.save(out, format="PNG")
    return out.getvalue()


def _manifest(path: Path, image_urls: dict[str, str], local: Path) -> tuple[Path, int]:
    big_uri = "data:image/png;base64," + base64.b64encode(_png(300, 300, noisy=True)).decode()
    jobs: list[dict[str, Any]] = [
        {"model": "wan2.7-image-pro", "prompt": "White background", "images": [image_urls["car"]]},
        {"model": "wan2.7-image", "prompt": "Recolour in blue", "images": [image_urls["paint"]],
         "n": 2},
        {"model": "wan2.6-image", "prompt": "Studio light", "images": [image_urls["square"]]},
        {"model": "wan2.5-i2i-preview", "prompt": "Marble table", "images": [image_urls["car"]],
         "size": "1024*1024"},
        {"model": "wan2.7-image", "prompt": "A local file", "images": [str(local)]},
        {"model": "wan2.6-image", "prompt": "A large data URI", "images": [big_uri]},
    ]  # fmt: skip
    lines = [json.dumps({"custom_id": f"sku-{i}", **job}) for i, job in enumerate(jobs)]
    invalid = {"custom_id": "sku-bad", "model": "wan2.5-i2i-preview", "prompt": "Too many",
               "images": [image_urls["car"]] * 4}  # fmt: skip
    lines.insert(3, json.dumps(invalid))
    path.write_text("\n".join(lines) + "\n")
    return path, len(jobs)


def test_submit_wait_results_and_download(
    stack: Settings, image_urls: dict[str, str], redis_client: redis.Redis, tmp_path: Path
) -> None:
    local = tmp_path / "local.png"
    local.write_bytes(_png(640, 480))
    manifest, valid = _manifest(tmp_path / "catalogue.jsonl", image_urls, local)

    started = time.monotonic()
    run = wanq(stack, "submit", str(manifest), "--batch", "e2e", "--wait", "--timeout", str(WAIT_S))
    assert run.returncode == 1, run.stderr  # one line refused, the rest went in
    assert (
        "line 4: images: wan2.5-i2i-preview accepts 1 to 3 input images (got 4 images)"
        in run.stderr
    )
    assert f"batch e2e: {valid} job(s) enqueued, 0 already submitted, 1 line(s) refused" in (
        run.stderr
    )
    assert run.stdout.startswith("batch e2e: SUCCEEDED"), run.stdout + run.stderr

    results = tmp_path / "results.jsonl"
    run = wanq(stack, "results", "e2e", "-o", str(results))
    assert run.returncode == 0, run.stderr
    lines = {line["custom_id"]: line for line in map(json.loads, results.read_text().splitlines())}
    assert sorted(lines) == [f"sku-{i}" for i in range(valid)]
    for line in lines.values():
        assert line["state"] in ("SUCCEEDED", "FAILED"), line
        if line["state"] == "FAILED":
            assert line["error_code"], line
        else:
            assert len(line["object_keys"]) == len(line["checksums"]) >= 1
            assert line["usage"]["image_count"] == len(line["object_keys"])
    assert sum(line["state"] == "SUCCEEDED" for line in lines.values()) >= valid - 2
    if lines["sku-1"]["state"] == "SUCCEEDED":
        assert len(lines["sku-1"]["object_keys"]) == 2  # n=2

    store = JobStore(redis_client, stack.key_prefix)
    staged = [store.get(lines[cid]["job_id"]) for cid in ("sku-4", "sku-5")]
    for record in staged:
        assert record is not None
        assert record.request.images[0].startswith(f"s3://{stack.s3.bucket}/inputs/")

    target = tmp_path / "images"
    run = wanq(stack, "download", "e2e", str(target))
    assert run.returncode == 0, run.stderr
    for custom_id, line in lines.items():
        for index, checksum in enumerate(line["checksums"]):
            body = (target / custom_id / f"{index}.png").read_bytes()
            assert hashlib.sha256(body).hexdigest() == checksum

    run = wanq(stack, "status", "e2e")
    assert run.returncode == 0 and run.stdout.startswith(f"e2e\t{valid} job(s)\t"), run.stdout
    secrets = [stack.upstream.api_key, stack.s3.secret_access_key]
    for key in redis_client.scan_iter(match=f"{stack.key_prefix}*"):
        dump = json.dumps(_value(redis_client, key))
        for secret in secrets:
            assert secret is not None and secret.get_secret_value() not in dump, key
    print(f"{valid} jobs through the CLI in {time.monotonic() - started:.1f} s")


def _value(client: redis.Redis, key: str) -> Any:
    kind = client.type(key)
    if kind == "hash":
        return client.hgetall(key)
    if kind == "string":
        return client.get(key)
    if kind == "list":
        return client.lrange(key, 0, -1)
    if kind in ("set", "zset"):
        return sorted(client.zrange(key, 0, -1) if kind == "zset" else client.smembers(key))
    return None


def test_a_non_python_service_enqueues_with_plain_redis_commands(
    stack: Settings, image_urls: dict[str, str], redis_client: redis.Redis
) -> None:
    """What README's "non-Python services" section prescribes, byte for byte."""
    prefix, job_id, now = stack.key_prefix, uuid.uuid4().hex, f"{time.time():.6f}"
    request = {"model": "wan2.7-image", "prompt": "White background", "images": [image_urls["car"]]}
    pipe = redis_client.pipeline(transaction=True)
    pipe.hset(
        f"{prefix}job:{job_id}",
        mapping={
            "job_id": job_id,
            "batch": "foreign",
            "tenant": "foreign-shop",
            "priority": "bulk",
            "request": json.dumps(request),
            "state": "QUEUED",
            "created_at": now,
            "updated_at": now,
            "ts:QUEUED": now,
        },
    )
    pipe.zadd(f"{prefix}batch:foreign", {job_id: float(now)})
    pipe.zadd(f"{prefix}batches", {"foreign": float(now)})
    task_id = str(uuid.uuid4())
    body = [[job_id], {}, {"callbacks": None, "errbacks": None, "chain": None, "chord": None}]
    message = {
        "body": base64.b64encode(json.dumps(body).encode()).decode(),
        "content-encoding": "utf-8",
        "content-type": "application/json",
        "headers": {
            "lang": "py",
            "task": "wanq.submit",
            "id": task_id,
            "root_id": task_id,
            "parent_id": None,
            "group": None,
            "retries": 0,
            "eta": None,
            "expires": None,
            "timelimit": [None, None],
            "argsrepr": json.dumps([job_id]),
            "kwargsrepr": "{}",
            "origin": "shop-intake@host",
        },
        "properties": {
            "correlation_id": task_id,
            "reply_to": "",
            "delivery_mode": 2,
            "delivery_info": {"exchange": "", "routing_key": "submit"},
            "priority": 0,
            "body_encoding": "base64",
            "delivery_tag": str(uuid.uuid4()),
        },
    }
    pipe.lpush(f"{prefix}submit", json.dumps(message))
    pipe.execute()

    [record] = wait_terminal(JobStore(redis_client, prefix), [job_id], timeout_s=WAIT_S)
    assert record.state in (JobState.SUCCEEDED, JobState.FAILED), record
    assert record.tenant == "foreign-shop" and record.account == "default"  # admitted there
    if record.state is JobState.SUCCEEDED:
        assert record.object_keys and record.checksums
    run = wanq(stack, "results", "foreign")
    assert json.loads(run.stdout)["job_id"] == job_id


def test_wanq_flower_serves_behind_basic_auth(
    redis_url: str, redis_prefix: str, tmp_path: Path
) -> None:
    password = unique("flower-pw")
    port = free_port()
    settings = Settings(
        redis_url=SecretStr(redis_url),
        key_prefix=redis_prefix,
        flower=FlowerSettings(password=SecretStr(password), port=port),
    )
    script = Path(sys.executable).with_name("wanq")
    log = (tmp_path / "flower.log").open("wb")
    proc = subprocess.Popen(
        [str(script), "flower"], env=child_env(settings), stdout=log, stderr=subprocess.STDOUT
    )
    try:
        url = f"http://127.0.0.1:{port}/api/workers"

        def answers() -> bool:
            try:
                return httpx.get(url, auth=("wanq", password), timeout=1).status_code == 200
            except httpx.HTTPError:
                return False

        wait_for(answers, timeout_s=60, what="wanq flower")
        assert httpx.get(url, timeout=5).status_code == 401
        assert password not in " ".join(Path(f"/proc/{proc.pid}/cmdline").read_text().split("\0"))
    finally:
        proc.terminate()
        proc.wait(timeout=15)
        log.close()
