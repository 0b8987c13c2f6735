"""Helpers for pipeline tests: settings for a real stack, a producer's Celery app, checks.

The stack is real: the emulator (a subprocess), moto's S3 server (a subprocess, started by
``devstack.s3``), Redis (database 15, keys under the test's prefix, broker queues included)
and ``celery -A workers.app worker`` subprocesses (``devstack.workers``). Jobs are enqueued the
way producers do it: create the records in the job store, then ``send_task`` by name.
"""

from __future__ import annotations

import hashlib
import time
import uuid
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit

import redis
from celery import Celery
from pydantic import SecretStr

from config import (
    InputsSettings,
    LimiterSettings,
    PipelineSettings,
    ResultsSettings,
    S3Settings,
    Settings,
    UpstreamSettings,
)
from config.celery import celery_config
from devstack.s3 import S3Handle
from tests.integration.emulator_harness import RunningEmulator, StartEmulator
from workers.contract import EditRequest, JobRecord, JobState, JobStore
from workers.contract.names import TASK_QUEUES, TASK_SUBMIT
from workers.contract.states import TERMINAL_STATES

MODELS = ("wan2.7-image-pro", "wan2.7-image", "wan2.6-image", "wan2.5-i2i-preview")
MAX_IN_FLIGHT = 8


def emulator_config(api_key: str, **extra: Any) -> dict[str, Any]:
    """An emulator with fast tasks and the account's limits on (matching the pipeline's)."""
    config: dict[str, Any] = {
        "accounts": [
            {
                "name": "default",
                "api_keys": [api_key],
                "query_qps": 300,
                "limits": {
                    "*": {
                        "submit_rps": 40,
                        "burst": MAX_IN_FLIGHT,
                        "max_concurrent": MAX_IN_FLIGHT,
                        "on_concurrency": "reject",
                    }
                },
            }
        ],
        "models": {
            "*": {
                "pending": {"kind": "fixed", "median_s": 0.05},
                "running": {"kind": "uniform", "min_s": 0.1, "max_s": 0.4},
                "failure_rate": 0.05,
            }
        },
    }
    config.update(extra)
    return config


def stack_settings(
    *,
    redis_url: str,
    prefix: str,
    upstream_url: str,
    api_key: str,
    s3_endpoint: str,
    s3_secret: str,
    bucket: str,
) -> Settings:
    """Settings for workers and producers of one test: short timeouts, a 15 s visibility
    timeout (so a killed worker's messages come back within the test), fast polls."""
    return Settings(
        upstream=UpstreamSettings(
            base_url=upstream_url,
            api_key=SecretStr(api_key),
            connect_timeout_s=1.0,
            read_timeout_s=5.0,
            write_timeout_s=1.0,
            pool_timeout_s=1.0,
        ),
        redis_url=SecretStr(redis_url),
        key_prefix=prefix,
        s3=S3Settings(
            endpoint_url=s3_endpoint,
            bucket=bucket,
            access_key_id=SecretStr("wanq-test-key-id"),
            secret_access_key=SecretStr(s3_secret),
        ),
        results=ResultsSettings(allowed_hosts=("127.0.0.1",)),
        inputs=InputsSettings(s3_mode="presign"),
        limiter=LimiterSettings(
            max_in_flight=MAX_IN_FLIGHT,
            submit_rps=30.0,
            submit_burst=float(MAX_IN_FLIGHT),
            query_rps=300.0,
            throttle_pause_s=0.2,
            reap_interval_s=2.0,
            admitted_timeout_s=10.0,
        ),
        pipeline=PipelineSettings(
            first_poll_delay_s=0.3,
            poll_interval_s=0.25,
            max_poll_interval_s=1.0,
            max_retries=6,
            retry_backoff_max_s=2.0,
            lease_ttl_s=30.0,
            reconcile_margin_s=1.0,
            visibility_timeout_s=15,
            soft_shutdown_timeout_s=0.0,
        ),
    )


@dataclass(frozen=True)
class Upstreams:
    """An emulator and a new bucket for one test, and the settings that reach them.

    Attributes:
        settings: :func:`stack_settings` for them (a fresh API key and S3 secret).
        emulator: The emulator, started with the test's configuration.
        s3: A boto3 client of moto's server (the bucket is ``settings.s3.bucket``).
    """

    settings: Settings
    emulator: RunningEmulator
    s3: Any


def start_upstreams(
    start_emulator: StartEmulator,
    s3_server: S3Handle,
    *,
    redis_url: str,
    prefix: str,
    label: str,
    **emulator_extra: Any,
) -> Upstreams:
    """Start an emulator for a new API key (``sk-{label}-...``; ``emulator_extra`` goes into
    its configuration), create a bucket named after the test's ``prefix``, and build the
    settings of workers and producers against them."""
    api_key = unique(f"sk-{label}")
    emulator = start_emulator(emulator_config(api_key, **emulator_extra))
    bucket = f"wanq-{prefix.split(':')[1]}"
    s3 = s3_server.client()
    s3.create_bucket(Bucket=bucket)
    settings = stack_settings(
        redis_url=redis_url,
        prefix=prefix,
        upstream_url=emulator.base_url,
        api_key=api_key,
        s3_endpoint=str(s3_server.endpoint_url),
        s3_secret=unique("s3-secret"),
        bucket=bucket,
    )
    return Upstreams(settings, emulator, s3)


def producer_app(settings: Settings) -> Celery:
    """A Celery app configured as a producer configures it (no worker modules imported)."""
    app = Celery("wanq-test-producer", set_as_current=False)
    app.conf.update(celery_config(settings, TASK_QUEUES))
    return app


def make_jobs(
    count: int, image_urls: Sequence[str], batch: str, models: Sequence[str] = MODELS
) -> list[JobRecord]:
    """``count`` jobs over ``models``, inputs from ``image_urls`` (both cycled)."""
    jobs: list[JobRecord] = []
    for index in range(count):
        model = models[index % len(models)]
        source = image_urls[index % len(image_urls)]
        fields: dict[str, Any] = {
            "model": model,
            "prompt": f"Put product {index} on a white background",
            "images": [source],
            "n": 1,
            "seed": index,
        }
        if model == "wan2.5-i2i-preview":
            fields["size"] = "1024*1024"
        jobs.append(
            JobRecord(
                request=EditRequest.model_validate(fields),
                custom_id=f"{batch}-{index}",
                batch=batch,
            )
        )
    return jobs


def enqueue(store: JobStore, app: Celery, jobs: Iterable[JobRecord]) -> list[str]:
    """Create the records (pipelined), then send one submit message per created job."""
    created = store.create_many(jobs)
    ids = [job_id for job_id, _ in created]
    with app.producer_or_acquire() as producer:
        for job_id, is_new in created:
            if is_new:
                app.send_task(TASK_SUBMIT, args=[job_id], producer=producer)
    return ids


def wait_terminal(store: JobStore, ids: Sequence[str], timeout_s: float) -> list[JobRecord]:
    """Wait until every job is terminal; the records. Raises AssertionError with the states
    of the stragglers past the deadline."""
    deadline = time.monotonic() + timeout_s
    while True:
        records = store.get_many(ids)
        pending = [r for r in records if r is None or r.state not in TERMINAL_STATES]
        if not pending:
            return [r for r in records if r is not None]
        if time.monotonic() > deadline:
            states = Counter(r.state.value if r else "MISSING" for r in pending)
            raise AssertionError(f"{len(pending)} jobs not terminal after {timeout_s} s: {states}")
        time.sleep(0.2)


def submits_accepted(stats: dict[str, Any], account: str = "default") -> int:
    """Total accepted submits of an account over every model, from ``/admin/stats``."""
    models: dict[str, Any] = stats["accounts"][account]["models"]
    return sum(int(entry.get("submits_accepted", 0)) for entry in models.values())


def check_stored(records: Sequence[JobRecord], s3: Any, bucket: str) -> None:
    """Every SUCCEEDED job's objects exist with the recorded sha256 (body and metadata)."""
    for record in records:
        if record.state is not JobState.SUCCEEDED:
            continue
        assert record.object_keys, record
        assert len(record.object_keys) == len(record.checksums)
        assert record.result_urls == ()
        for key, checksum in zip(record.object_keys, record.checksums, strict=True):
            assert key.startswith(f"results/{record.job_id}/")
            answer = s3.get_object(Bucket=bucket, Key=key)
            body = answer["Body"].read()
            assert hashlib.sha256(body).hexdigest() == checksum, key
            assert answer["ContentType"] == "image/png"
            assert answer["Metadata"]["sha256"] == checksum
            assert answer["Metadata"]["job-id"] == record.job_id
            assert answer["Metadata"]["task-id"] == record.task_id


def unique(label: str) -> str:
    """A unique, recognisable secret for one test run."""
    return f"{label}-{uuid.uuid4().hex}"


def secrets_of(settings: Settings) -> list[str]:
    """Every secret ``settings`` hold: API keys, the S3 secret key, Redis's password (from the
    URL, as given and decoded) and Flower's password."""
    accounts = settings.upstream_accounts()
    found = [key.get_secret_value() for account in accounts for key in account.api_keys]
    if settings.s3.secret_access_key is not None:
        found.append(settings.s3.secret_access_key.get_secret_value())
    password = urlsplit(settings.redis_url.get_secret_value()).password
    if password:
        found += [password, unquote(password)]
    if settings.flower.password is not None:
        found.append(settings.flower.password.get_secret_value())
    return [secret for secret in dict.fromkeys(found) if secret]


def assert_no_secret_in_redis(client: redis.Redis, secrets: Sequence[str]) -> list[bytes]:
    """Every key of the client's database, after checking that no key name or value (job
    records, limiter keys, kombu's queues, unacknowledged and scheduled messages) holds one
    of ``secrets``."""
    wanted = [secret.encode() for secret in secrets]
    keys = list(client.scan_iter(count=1000))
    for key in keys:
        for blob in _redis_values(client, key):
            for secret in wanted:
                assert secret not in blob, key
    return keys


def _redis_values(client: redis.Redis, key: bytes) -> list[bytes]:
    """Every byte string stored under a key (its name included), whatever its type."""
    kind = client.type(key)
    kind = kind.decode() if isinstance(kind, bytes) else kind
    out = [key]
    if kind == "string":
        out.append(client.get(key) or b"")
    elif kind == "hash":
        for field, value in client.hgetall(key).items():
            out += [field, value]
    elif kind == "list":
        out += client.lrange(key, 0, -1)
    elif kind == "set":
        out += list(client.smembers(key))
    elif kind == "zset":
        out += [member for member, _ in client.zrange(key, 0, -1, withscores=True)]
    return [item if isinstance(item, bytes) else str(item).encode() for item in out]


def assert_no_secret_in_files(paths: Iterable[Path], secrets: Sequence[str]) -> int:
    """Check that no file of ``paths`` (worker and Flower logs) holds one of ``secrets``;
    their total size in bytes (a check of empty logs would prove nothing)."""
    total = 0
    for path in paths:
        text = path.read_bytes()
        total += len(text)
        for secret in secrets:
            assert secret.encode() not in text, f"{path.name} holds a secret"
    return total
