"""The whole pipeline, for real: emulator, moto's S3 server, Redis and two Celery workers.

* 200 jobs over the four models go from records to objects in S3 (or to the emulator's
  failures), each submitted exactly once (the emulator counts the submits).
* A worker SIGKILLed mid-run (and replaced) loses nothing and duplicates nothing: its
  unacknowledged messages come back after the visibility timeout, even when it dies at the
  worst moment, holding the lock of the broker's redelivery sweep.
* An ambiguous submit (the emulator creates the task, then drops the answer) is reconciled
  through the task list, never resubmitted.
* After a run, no API key or S3 secret is anywhere in Redis, nor on any page or API answer
  of Flower (started for real, behind basic auth), which does list the run's tasks.
* After a run that fails in many ways (a revoked key, an object store that does not answer,
  503s on submit), no secret is in the workers' log files or in Redis either.
"""

from __future__ import annotations

import ast
import io
import re
import time
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
import redis
from kombu.transport.redis import Channel as RedisChannel
from PIL import Image
from pydantic import SecretStr

from config import AccountSettings, FlowerSettings, ModelLimits, Settings
from config.celery import celery_config
from devstack.flower import FlowerProcess
from devstack.procs import free_port
from devstack.s3 import S3Handle
from devstack.workers import WorkerPool, WorkerSpec
from tests.integration.emulator_harness import RunningEmulator, StartEmulator, wait_for
from tests.integration.pipeline_harness import (
    MAX_IN_FLIGHT,
    MODELS,
    assert_no_secret_in_files,
    assert_no_secret_in_redis,
    check_stored,
    enqueue,
    make_jobs,
    producer_app,
    secrets_of,
    start_upstreams,
    submits_accepted,
    unique,
    wait_terminal,
)
from workers.contract import TERMINAL_STATES, JobRecord, JobState, JobStore
from workers.contract.jobstore import ORPHAN_SUSPECTS
from workers.contract.names import TASK_POLL, TASK_POST, TASK_QUEUES, TASK_STORE, TASK_SUBMIT

pytestmark = pytest.mark.integration

WORKER_THREADS = 6
RECOVERY_BOUND_S = 120.0
REVOKED_MODEL = "wan2.6-image"


@dataclass
class Stack:
    """One test's running stack."""

    settings: Settings
    emulator: RunningEmulator
    workers: WorkerPool
    store: JobStore
    s3: Any
    redis: redis.Redis
    api_key: str
    s3_secret: str
    input_urls: list[str]

    def run(self, count: int, batch: str, models: Sequence[str] = MODELS) -> list[str]:
        """Enqueue ``count`` jobs (models cycled) as a producer would; their ids."""
        app = producer_app(self.settings)
        try:
            jobs = make_jobs(count, self.input_urls, batch, models)
            return enqueue(self.store, app, jobs)
        finally:
            app.close()


@pytest.fixture
def start_stack(
    start_emulator: StartEmulator,
    s3_server: S3Handle,
    redis_url: str,
    redis_prefix: str,
    image_urls: dict[str, str],
    tmp_path: Path,
) -> Iterator[Callable[..., Stack]]:
    """Factory: emulator (configurable), bucket, settings and two started workers."""
    pools: list[WorkerPool] = []
    clients: list[redis.Redis] = []

    def start(tune: Callable[[Settings], Settings] | None = None, **emulator_extra: Any) -> Stack:
        """``tune``: changes the workers' settings (the emulator's are ``emulator_extra``)."""
        parts = start_upstreams(
            start_emulator,
            s3_server,
            redis_url=redis_url,
            prefix=redis_prefix,
            label="pipeline",
            **emulator_extra,
        )
        settings, emulator, s3 = parts.settings, parts.emulator, parts.s3
        bucket = settings.s3.bucket
        s3.put_object(Bucket=bucket, Key="inputs/product.png", Body=_png(640, 480))
        if tune is not None:
            settings = tune(settings)
        specs = [WorkerSpec(f"w{i}", concurrency=WORKER_THREADS) for i in (1, 2)]
        pool = WorkerPool(settings, specs, tmp_path / "workers", cwd=Path.cwd())
        pools.append(pool)
        pool.start()
        client = redis.Redis.from_url(redis_url, decode_responses=True)
        clients.append(client)
        inputs = [*image_urls.values(), f"s3://{bucket}/inputs/product.png"]
        return Stack(
            settings,
            emulator,
            pool,
            JobStore(client, redis_prefix),
            s3,
            client,
            parts.settings.upstream.api_key.get_secret_value(),
            parts.settings.s3.secret_access_key.get_secret_value(),
            inputs,
        )

    yield start
    for pool in pools:
        pool.stop()
    for client in clients:
        client.close()


def _png(width: int, height: int) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (width, height), (200, 120, 40)).save(out, format="PNG")
    return out.getvalue()


def _check_fates(stack: Stack, records: list[JobRecord]) -> Counter[str]:
    """Every job SUCCEEDED with its objects, or FAILED with the emulator's reason; every
    upstream task belongs to exactly one job."""
    states = Counter(record.state.value for record in records)
    for record in records:
        if record.state is JobState.FAILED:
            assert record.error_code, record
        else:
            assert record.state is JobState.SUCCEEDED, record
    check_stored(records, stack.s3, stack.settings.s3.bucket)
    task_ids = [record.task_id for record in records if record.task_id]
    assert len(task_ids) == len(set(task_ids))
    orphans = stack.store.stat(ORPHAN_SUSPECTS)
    assert submits_accepted(stack.emulator.stats()) <= len(task_ids) + orphans
    assert submits_accepted(stack.emulator.stats()) >= len(task_ids)
    return states


def test_two_hundred_jobs_end_in_s3_each_submitted_once(start_stack: Callable[..., Stack]) -> None:
    stack = start_stack()
    started = time.monotonic()
    ids = stack.run(200, "b200")
    records = wait_terminal(stack.store, ids, timeout_s=60)
    states = _check_fates(stack, records)
    assert states["SUCCEEDED"] >= 150, states
    assert submits_accepted(stack.emulator.stats()) == sum(1 for r in records if r.task_id)
    assert stack.store.stat(ORPHAN_SUSPECTS) == 0
    # Two worker processes, one limit: the upstream never had to say 429.
    account = stack.emulator.stats()["accounts"]["default"]
    assert account["throttled"] == {}, account["throttled"]
    assert all(not model["throttled"] for model in account["models"].values()), account
    billed = sum(
        r.usage.image_count or 0 for r in records if r.usage and r.state.value == "SUCCEEDED"
    )
    assert stack.store.stat("billed:default") >= billed > 0
    for record in records:
        if record.state is JobState.FAILED:  # the emulator's failure codes, nothing else
            assert record.error_code in ("InternalError.Algo", "DataInspectionFailed"), record
    print(f"200 jobs in {time.monotonic() - started:.1f} s: {dict(states)}")


def test_sigkill_mid_run_loses_and_duplicates_nothing(start_stack: Callable[..., Stack]) -> None:
    stack = start_stack()
    ids = stack.run(120, "bkill")

    def some_done() -> bool:
        counts = stack.store.counts_by_state("bkill")
        return sum(n for state, n in counts.items() if state.value in ("SUCCEEDED", "FAILED")) > 20

    deadline = time.monotonic() + 30
    while not some_done():
        assert time.monotonic() < deadline, "no progress before the kill"
        time.sleep(0.05)
    _crash_mid_sweep(stack, 0)
    counts = stack.store.counts_by_state("bkill")
    unfinished = sum(n for state, n in counts.items() if state not in TERMINAL_STATES)
    assert unfinished > 0, counts  # the kill hit a run in progress
    stack.workers.restart(0)
    # A bound, not a speed target: redelivery waits for the visibility timeout, and jobs that
    # waited for capacity back off; on a loaded 2-core machine 60 s was seen to be too short.
    records = wait_terminal(stack.store, ids, timeout_s=RECOVERY_BOUND_S)
    _check_fates(stack, records)


def _crash_mid_sweep(stack: Stack, index: int) -> None:
    """SIGKILL worker ``index`` as if it died inside kombu's redelivery sweep, the worst
    moment for a crash: the sweep's lock (the Redis transport's ``unacked_mutex``) is left
    held for as long as the workers' configuration lets a dead holder keep it, and no worker
    redelivers anything until it expires."""
    options = celery_config(stack.settings, TASK_QUEUES)["broker_transport_options"]
    expire_s = options.get("unacked_mutex_expire", RedisChannel.unacked_mutex_expire)
    lock = f"{stack.settings.key_prefix}{RedisChannel.unacked_mutex_key}"
    stack.redis.set(lock, "a-dead-holder", ex=expire_s)
    stack.workers.kill(index)


def test_ambiguous_submits_are_reconciled_not_resubmitted(
    start_stack: Callable[..., Stack],
) -> None:
    """Every answer is lost after the task is created. One job per model: each finds exactly
    one unclaimed task of its model around its intent and adopts it. Two more jobs of one
    model, lost at the same time: neither can tell its task from the other's, so both end
    ``SubmitOutcomeUnknown``, counted as orphan suspects, never submitted again."""
    stack = start_stack(faults={"submit": {"drop_after_rate": 1.0}})
    singles = stack.run(4, "bamb")  # one job per model
    records = wait_terminal(stack.store, singles, timeout_s=30)
    assert all(record.task_id for record in records), records
    assert {record.state for record in records} <= {JobState.SUCCEEDED, JobState.FAILED}
    assert all(record.attempts == 1 for record in records)
    assert submits_accepted(stack.emulator.stats()) == 4
    check_stored(records, stack.s3, stack.settings.s3.bucket)

    twins = stack.run(2, "btwins", models=("wan2.7-image",))
    records = wait_terminal(stack.store, twins, timeout_s=30)
    assert [record.error_code for record in records] == ["SubmitOutcomeUnknown"] * 2, records
    assert stack.store.stat(ORPHAN_SUSPECTS) == 2
    assert submits_accepted(stack.emulator.stats()) == 4 + 2
    assert stack.emulator.stats()["faults"]["submit"]["drop_after"] == 4 + 2


def test_no_secret_reaches_redis(start_stack: Callable[..., Stack], redis_url: str) -> None:
    """Scan every key of the database (job records, limiter keys, kombu's queues, unacked
    messages and bindings), mid-run and after it, for the API key and the S3 secret."""
    stack = start_stack()
    secrets = [stack.api_key, stack.s3_secret]
    client = redis.Redis.from_url(redis_url)
    try:
        ids = stack.run(40, "bsecret")
        mid_run = assert_no_secret_in_redis(client, secrets)
        assert any(key.endswith(b"unacked") or key.endswith(b"submit") for key in mid_run)
        wait_terminal(stack.store, ids, timeout_s=40)
        after = assert_no_secret_in_redis(client, secrets)
        assert any(b":job:" in key for key in after)
    finally:
        client.close()


def test_no_secret_reaches_the_logs_of_a_failing_run(start_stack: Callable[..., Stack]) -> None:
    """A run where things go wrong as they do in production: one account's key was revoked
    (401 InvalidApiKey for its model), the object store does not answer (every store is
    retried, then fails with Celery's traceback of the botocore error), and a third of the
    submits meet a 503 and are tried again. The workers' log files, which hold every failure,
    retry and traceback, and every key of Redis hold no secret: neither API key, the S3
    secret key, Redis's password (when the test Redis has one) or Flower's password (which
    the workers' environment carries too)."""
    revoked_key = unique("sk-revoked")
    flower_password = unique("flower")

    def tune(settings: Settings) -> Settings:
        upstream = settings.upstream
        assert upstream.api_key is not None
        limits = {"*": ModelLimits(submit_rps=30.0, max_in_flight=MAX_IN_FLIGHT)}
        shared: dict[str, Any] = {"base_url": upstream.base_url, "query_rps": 300.0}
        accounts = (
            AccountSettings(
                name="default",
                api_keys=(upstream.api_key,),
                models=tuple(model for model in MODELS if model != REVOKED_MODEL),
                limits=limits,
                **shared,
            ),
            AccountSettings(
                name="revoked",
                api_keys=(SecretStr(revoked_key),),
                models=(REVOKED_MODEL,),
                limits=limits,
                **shared,
            ),
        )
        down = settings.s3.model_copy(update={"endpoint_url": f"http://127.0.0.1:{free_port()}"})
        flower = FlowerSettings(password=SecretStr(flower_password))
        return settings.model_copy(update={"accounts": accounts, "s3": down, "flower": flower})

    stack = start_stack(tune, faults={"submit": {"error_503_rate": 0.3}})
    secrets = secrets_of(stack.settings)
    assert {stack.api_key, revoked_key, stack.s3_secret, flower_password} <= set(secrets)
    ids = stack.run(16, "bfailing")
    records = wait_terminal(stack.store, ids, timeout_s=90)
    codes = Counter(record.error_code for record in records)
    assert codes["InvalidApiKey"] >= 1 and codes["StorageUnavailable"] >= 1, codes
    assert stack.emulator.stats()["faults"]["submit"]["error_503"] >= 1
    logs = [worker.log_path for worker in stack.workers.workers]
    text = "\n".join(path.read_text(errors="replace") for path in logs)
    shown = ("InvalidApiKey", "ServiceUnavailable", "EndpointConnectionError", "Retry in")
    for logged in (*shown, "Traceback"):
        assert logged in text, f"the workers' logs do not show {logged}: nothing was scanned"
    assert_no_secret_in_files(logs, secrets)
    assert_no_secret_in_redis(stack.redis, secrets)


# Flower's pages and API answers that are not about one task or one worker.
FLOWER_PAGES = (
    "/",
    "/workers",
    "/tasks",
    "/tasks/datatable?draw=1&start=0&length=1000&search[value]="
    "&order[0][column]=0&order[0][dir]=asc&columns[0][data]=received",
    "/broker",
    "/api/workers",
    "/api/workers?refresh=1",
    "/api/tasks",
    "/api/task/types",
    "/api/queues/length",
    "/metrics",
)
FINAL_TASK_STATES = frozenset({"SUCCESS", "FAILURE"})
POLL_TOKEN = re.compile(r"[0-9a-f]{16}")


def test_no_secret_reaches_flower(
    start_stack: Callable[..., Stack], redis_url: str, tmp_path: Path
) -> None:
    """Flower, started for real behind basic auth, watches a small run in which every first
    result download is refused (503) and the store retried, so that exceptions are on its
    pages too. None of its pages or API answers, nor its log, holds the API key, the S3
    secret, Redis's password or its own, and it does list the run: submits and stores of a
    job id, polls of a job id and token."""
    stack = start_stack(faults={"results": {"error_503_rate": 1.0}})
    auth = FlowerSettings(user="ops", password=SecretStr(unique("flower")))
    settings = stack.settings.model_copy(update={"flower": auth})
    secrets = secrets_of(settings)  # the API key, the S3 secret, Redis's and Flower's passwords
    flower = FlowerProcess(settings, tmp_path / "flower.log", port=free_port(), cwd=Path.cwd())
    with flower, httpx.Client(base_url=flower.url, auth=flower.auth, timeout=10.0) as http:
        # Flower answers before its event receiver listens: a worker's heartbeat in its
        # events state shows that it does, so no event of the run is missed.
        names = [worker.spec.name for worker in stack.workers.workers]
        wait_for(lambda: _alive_in_events(http, names), what="the workers' heartbeats in Flower")
        ids = stack.run(8, "bflower")
        wait_for(lambda: _retried(http), what="a retried store in Flower")
        stack.emulator.patch_config({"faults": {"results": {"error_503_rate": 0.0}}})
        wait_terminal(stack.store, ids, timeout_s=30)
        tasks = _settled_tasks(http, ids, timeout_s=15)
        _check_task_args(tasks, ids)

        workers = list(http.get("/api/workers").json())
        assert sorted(name.split("@")[0] for name in workers) == sorted(names), workers
        paths = [*FLOWER_PAGES, *(f"/worker/{name}" for name in workers)]
        for task_id in tasks:
            paths += [f"/api/task/info/{task_id}", f"/task/{task_id}"]
        for path in paths:
            response = http.get(path)
            assert response.status_code == 200, (path, response.status_code)
            for secret in secrets:
                assert secret not in response.text, path
    assert_no_secret_in_files([flower.log_path], secrets)


def _retried(http: httpx.Client) -> bool:
    """Whether Flower shows a task that failed and was retried (its exception on show)."""
    tasks: dict[str, dict[str, Any]] = http.get("/api/tasks").json()
    return any(task["exception"] for task in tasks.values())


def _alive_in_events(http: httpx.Client, names: Sequence[str]) -> bool:
    """Whether Flower's events state has a live worker of each node name."""
    alive: dict[str, bool] = http.get("/api/workers?status=1").json()
    seen = {node.split("@")[0] for node, up in alive.items() if up}
    return set(names) <= seen


def _settled_tasks(
    http: httpx.Client, ids: Sequence[str], timeout_s: float
) -> dict[str, dict[str, Any]]:
    """Flower's tasks, once it shows a submit of every job, a poll and a store, and every
    task it shows has ended. Raises AssertionError with what is missing past the deadline."""
    deadline = time.monotonic() + timeout_s
    while True:
        tasks: dict[str, dict[str, Any]] = http.get("/api/tasks").json()
        names = {task["name"] for task in tasks.values()}
        submitted = {
            ast.literal_eval(task["args"])[0]
            for task in tasks.values()
            if task["name"] == TASK_SUBMIT and task["args"]
        }
        missing = set(ids) - submitted
        unfinished = Counter(
            f"{task['name']} {task['state']}"
            for task in tasks.values()
            if task["state"] not in FINAL_TASK_STATES
        )
        if not missing and {TASK_POLL, TASK_STORE} <= names and not unfinished:
            return tasks
        if time.monotonic() > deadline:
            raise AssertionError(
                f"Flower after {timeout_s} s: {len(missing)} jobs without a submit, "
                f"task names {sorted(names)}, unfinished {dict(unfinished)}"
            )
        time.sleep(0.2)


def _check_task_args(tasks: dict[str, dict[str, Any]], ids: Sequence[str]) -> None:
    """Every task is a pipeline task of this run whose arguments are its job id (a poll's
    also its token, and maybe the word "reserved"; an admitted submit's also its account's
    name), nothing else."""
    for task_id, task in tasks.items():
        args = ast.literal_eval(task["args"])
        assert task["kwargs"] in ("{}", None), task
        assert args and args[0] in ids, task
        if task["name"] == TASK_POLL:
            assert len(args) in (2, 3) and POLL_TOKEN.fullmatch(args[1]), task
            assert tuple(args[2:]) in ((), ("reserved",)), task
        elif task["name"] in (TASK_SUBMIT, TASK_POST):
            assert tuple(args[1:]) in ((), ("default",)), (task_id, task)
        else:
            assert task["name"] == TASK_STORE, task
            assert len(args) == 1, (task_id, task)
