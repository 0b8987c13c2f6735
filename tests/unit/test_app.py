"""workers.app and workers.tasks: configuration, registration, signals, the thin tasks."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

import kombu.exceptions
import pytest
import redis
from celery import Task

from tests.unit.pipeline_fakes import admit, make_runtime, new_job
from workers import app as app_module
from workers import runtime, tasks
from workers.app import CeleryScheduler, app
from workers.contract import JobState
from workers.contract.names import TASK_CANCEL, TASK_POLL, TASK_QUEUES, TASK_STORE, TASK_SUBMIT
from workers.errors import RedisUnavailable, RetryableError
from workers.limits import Admitted
from workers.upstream import SubmitResult


def test_app_is_configured_for_the_workload() -> None:
    assert app.main == "wanqueue"
    assert app.conf.task_acks_late and app.conf.worker_prefetch_multiplier == 1
    assert app.conf.accept_content == ["json"]
    for name in (TASK_SUBMIT, TASK_POLL, TASK_STORE, TASK_CANCEL):
        assert name in app.tasks
        assert app.amqp.router.route({}, name)["queue"].name == TASK_QUEUES[name]


def test_the_retry_policy_is_declared_once_on_the_base_task() -> None:
    for task in (tasks.submit_task, tasks.poll_task, tasks.store_task):
        assert isinstance(task, tasks.PipelineTask)
        assert task.autoretry_for == (RetryableError,)
        assert task.retry_backoff and not task.retry_jitter  # equal jitter: PipelineTask.retry
        assert task.max_retries == app_module.settings.pipeline.max_retries
        assert task.fails_job
    assert not tasks.cancel_task.fails_job


class Recorder:
    def __init__(self) -> None:
        self.sent: list[tuple[str, list[str], float | None]] = []

    def send_task(self, name: str, args: list[str], countdown: float | None) -> None:
        self.sent.append((name, args, countdown))


def test_scheduler_clamps_countdowns_below_the_visibility_timeout() -> None:
    recorder = Recorder()
    scheduler = CeleryScheduler(recorder, max_countdown_s=30.0)  # type: ignore[arg-type]
    scheduler.later(TASK_POLL, "j", "t", countdown_s=5.0)
    scheduler.later(TASK_SUBMIT, "j", countdown_s=1e9)
    scheduler.later(TASK_STORE, "j")
    assert recorder.sent == [
        (TASK_POLL, ["j", "t"], 5.0),
        (TASK_SUBMIT, ["j"], 30.0),
        (TASK_STORE, ["j"], None),
    ]


@pytest.mark.parametrize(("pool", "starts"), [("threads", True), ("prefork", False)])
def test_threads_pool_starts_the_runtime_at_worker_init(
    monkeypatch: pytest.MonkeyPatch, pool: str, starts: bool
) -> None:
    started: list[Any] = []
    dispatchers: list[bool] = []

    def start(settings: Any, scheduler: Any) -> Any:
        started.append(scheduler)
        return SimpleNamespace(start_dispatcher=lambda: dispatchers.append(True))

    monkeypatch.setattr(runtime, "start", start)
    app_module._on_worker_init(sender=SimpleNamespace(pool_cls=pool))
    assert bool(started) is starts
    app_module._on_process_init()
    assert len(started) == int(starts) + 1
    assert len(dispatchers) == len(started)  # each runtime started runs its dispatcher


@pytest.fixture
def installed(redis_client: redis.Redis, redis_prefix: str) -> Any:
    rt = make_runtime(redis_client, redis_prefix)
    runtime.install(rt)
    yield rt
    runtime.stop()


def test_tasks_hand_the_job_to_the_pipeline(installed: Any) -> None:
    job = new_job(installed)
    tasks.submit_task.apply(args=[job.job_id])  # no account: parked
    assert installed.limits.admission.waiting() == {job.request.model.value: 1}
    admitted = installed.limits.admission.admit(job.request.model.value)
    assert isinstance(admitted, Admitted)
    installed.upstreams["default"].submits.append(SubmitResult(task_id="t-1"))
    tasks.submit_task.apply(args=[job.job_id, admitted.account])
    stored = installed.store.get(job.job_id)
    assert stored is not None and stored.state is JobState.PENDING
    assert tasks.cancel_task.apply(args=["0" * 32]).get()["reason"] == "no such job"


def test_an_unexpected_error_ends_the_job(installed: Any) -> None:
    job = new_job(installed)
    installed.upstreams["default"].submits.append(KeyError("bug"))
    result = tasks.submit_task.apply(args=[job.job_id, admit(installed, job)])
    assert result.failed()
    stored = installed.store.get(job.job_id)
    assert stored is not None and stored.state is JobState.FAILED
    assert stored.error_code == "SubmitOutcomeUnknown"  # it died with a submit in flight


def test_current_without_a_runtime_is_an_error() -> None:
    runtime.stop()
    with pytest.raises(RuntimeError, match="no worker runtime"):
        runtime.current()


class DeadBroker:
    def send_task(self, name: str, args: list[str], countdown: float | None) -> None:
        raise kombu.exceptions.OperationalError("Error 111 connecting to 127.0.0.1:6379")


def test_a_broker_that_does_not_answer_is_retryable() -> None:
    scheduler = CeleryScheduler(DeadBroker(), max_countdown_s=30.0)  # type: ignore[arg-type]
    with pytest.raises(RedisUnavailable) as info:
        scheduler.later(TASK_POLL, "j", "t", countdown_s=5.0)
    assert isinstance(info.value, RetryableError)
    assert isinstance(info.value.__cause__, kombu.exceptions.OperationalError)


def test_redis_down_inside_a_task_is_retried_not_failed(
    installed: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    job = new_job(installed)
    down = iter([redis.exceptions.ConnectionError("refused")])

    def flaky_get(job_id: str) -> Any:
        error = next(down, None)
        if error is not None:
            raise error
        return real_get(job_id)

    real_get = installed.store.get
    monkeypatch.setattr(installed.store, "get", flaky_get)
    account = admit(installed, job)
    installed.upstreams["default"].submits.append(SubmitResult(task_id="t-1"))
    result = tasks.submit_task.apply(args=[job.job_id, account])
    assert result.successful()  # retried once, then submitted
    stored = real_get(job.job_id)
    assert stored is not None and stored.state is JobState.PENDING


def test_a_job_that_cannot_be_failed_is_reported_loudly(
    installed: Any, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    job = new_job(installed)

    def redis_down(*args: Any, **kwargs: Any) -> None:
        raise RedisUnavailable("get", "ConnectionError: refused")

    monkeypatch.setattr(tasks, "fail", redis_down)
    installed.upstreams["default"].submits.append(KeyError("bug"))
    result = tasks.submit_task.apply(args=[job.job_id, admit(installed, job)])
    assert result.failed()
    [record] = [r for r in caplog.records if r.levelname == "CRITICAL"]
    assert job.job_id in record.getMessage() and "non-terminal" in record.getMessage()


def test_the_base_task_leaves_acks_to_the_configuration() -> None:
    assert "acks_late" not in vars(tasks.PipelineTask)
    assert "reject_on_worker_lost" not in vars(tasks.PipelineTask)
    assert tasks.submit_task.acks_late and tasks.submit_task.reject_on_worker_lost
    assert not hasattr(app_module, "_log")


def test_signed_urls_stay_out_of_worker_logs() -> None:
    """httpx's INFO lines carry request URLs (signed result and input URLs): held at WARNING."""
    import logging

    from workers import app as app_module

    for name in app_module.QUIET_LOGGERS:
        logging.getLogger(name).setLevel(logging.NOTSET)
    app_module._on_setup_logging()
    assert all(
        logging.getLogger(name).getEffectiveLevel() == logging.WARNING
        for name in app_module.QUIET_LOGGERS
    )


def test_the_worker_app_connects_through_the_restart_safe_redis_transport() -> None:
    import adapters.broker
    from workers.app import app

    with app.connection_for_write() as connection:
        assert type(connection.transport) is adapters.broker.Transport
        assert connection.as_uri().startswith("redis://")  # what Flower reads stays a URL


def test_a_retry_waits_at_least_half_its_backoff(monkeypatch: pytest.MonkeyPatch) -> None:
    """Celery's full jitter may retry at once (an outage hammered); the base task's may not."""
    asked: list[float | None] = []

    def celery_retry(
        self: object, *args: object, countdown: float | None = None, **_: object
    ) -> None:
        asked.append(countdown)

    monkeypatch.setattr(Task, "retry", celery_retry)
    for _ in range(200):
        tasks.store_task.retry(countdown=4)
    assert all(c is not None and 2.0 <= c <= 4.0 for c in asked)
    assert max(c for c in asked if c is not None) - min(c for c in asked if c is not None) > 1.0
