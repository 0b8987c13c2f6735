"""A Runtime for the pipeline's unit tests: the real job store and limiter on the test's Redis
prefix, fakes for the upstream, the object store, the fetcher and the scheduler."""

from __future__ import annotations

import hashlib
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from enum import Enum
from typing import IO, Any

import redis
from pydantic import SecretStr

from config import LimiterSettings, PipelineSettings, S3Settings, Settings, UpstreamSettings
from workers.contract import EditRequest, JobRecord, JobStore
from workers.intents import RedisIntents
from workers.limits import Admitted, Limits
from workers.runtime import Runtime
from workers.upstream import SubmitResult, TaskPage, TaskResult, TaskStatus, TaskSummary

Answer = Callable[[], Any]


@dataclass
class FakeUpstream:
    """Scripted DashScope: each call pops the next answer of its kind (an object to return,
    an exception to raise, or a callable producing either)."""

    submits: list[Any] = field(default_factory=list)
    fetches: list[Any] = field(default_factory=list)
    cancels: list[Any] = field(default_factory=list)
    pages: list[Any] = field(default_factory=list)
    calls: list[tuple[str, Any]] = field(default_factory=list)

    @staticmethod
    def _next(answers: list[Any], what: str) -> Any:
        if not answers:
            raise AssertionError(f"unexpected {what}")
        answer = answers.pop(0)
        if callable(answer) and not isinstance(answer, type):
            answer = answer()
        if isinstance(answer, BaseException):
            raise answer
        return answer

    def submit_body(self, model: str, protocol: str | Enum, body: Any) -> SubmitResult:
        self.calls.append(("submit", body))
        result: SubmitResult = self._next(self.submits, "submit")
        return result

    def fetch(self, task_id: str) -> TaskResult:
        self.calls.append(("fetch", task_id))
        result: TaskResult = self._next(self.fetches, "fetch")
        return result

    def cancel(self, task_id: str) -> None:
        self.calls.append(("cancel", task_id))
        self._next(self.cancels, "cancel")

    def list_tasks(self, **kwargs: Any) -> TaskPage:
        self.calls.append(("list", kwargs))
        result: TaskPage = self._next(self.pages, "list")
        return result

    def count(self, kind: str) -> int:
        return sum(1 for name, _ in self.calls if name == kind)


@dataclass
class FakeObjects:
    """An in-memory object store."""

    objects: dict[str, tuple[bytes, dict[str, str]]] = field(default_factory=dict)
    puts: int = 0
    failures: list[BaseException] = field(default_factory=list)
    blobs: dict[tuple[str, str], bytes] = field(default_factory=dict)

    @property
    def bucket(self) -> str:
        return "results-bucket"

    def stored_sha256(self, key: str) -> str | None:
        if key not in self.objects:
            return None
        return self.objects[key][1].get("sha256", "")

    def put(
        self,
        key: str,
        body: IO[bytes],
        *,
        size: int,
        sha256_hex: str,
        content_type: str,
        metadata: Mapping[str, str],
    ) -> None:
        if self.failures:
            raise self.failures.pop(0)
        data = body.read()
        assert len(data) == size and hashlib.sha256(data).hexdigest() == sha256_hex
        self.objects[key] = (data, {**metadata, "sha256": sha256_hex, "type": content_type})
        self.puts += 1

    def presign_get(self, bucket: str, key: str, ttl_s: int) -> str:
        return f"https://s3.example/{bucket}/{key}?X-Amz-Expires={ttl_s}"

    def read(self, bucket: str, key: str, max_bytes: int) -> bytes:
        return self.blobs[(bucket, key)]


@dataclass
class FakeFetcher:
    """Serves result bytes by URL (or raises what is scripted for a URL)."""

    files: dict[str, Any] = field(default_factory=dict)
    fetched: list[str] = field(default_factory=list)

    def fetch(self, index: int, url: str, sink: Any) -> tuple[int, str]:
        self.fetched.append(url)
        data = self.files[url]
        if isinstance(data, BaseException):
            raise data
        sink.write(data)
        return len(data), hashlib.sha256(data).hexdigest()


@dataclass
class RecordingScheduler:
    """Records what would be sent: ``(task, args, countdown_s)``."""

    sent: list[tuple[str, tuple[str, ...], float]] = field(default_factory=list)

    def later(self, task: str, *args: str, countdown_s: float = 0.0) -> None:
        self.sent.append((task, args, countdown_s))

    def of(self, task: str) -> list[tuple[tuple[str, ...], float]]:
        return [(args, countdown) for name, args, countdown in self.sent if name == task]


def unit_settings(**fields: Any) -> Settings:
    """Settings with small upstream timeouts (submit_settle_s = 4 + 1 = 5 s); ``fields``
    of the pipeline or the limiter section."""
    defaults: dict[str, Any] = {
        "reconcile_margin_s": 1.0,
        "first_poll_delay_s": 2.0,
        "submit_rps": 1000.0,
        "submit_burst": 100.0,
    }
    merged = {**defaults, **fields}
    limiter = {k: v for k, v in merged.items() if k in LimiterSettings.model_fields}
    pipeline = {k: v for k, v in merged.items() if k not in limiter}
    return Settings(
        upstream=UpstreamSettings(
            base_url="http://upstream.test/api/v1",
            api_key=SecretStr("sk-unit"),
            connect_timeout_s=1,
            read_timeout_s=1,
            write_timeout_s=1,
            pool_timeout_s=1,
        ),
        s3=S3Settings(bucket="results-bucket"),
        pipeline=PipelineSettings(**pipeline),
        limiter=LimiterSettings(**limiter),
    )


@dataclass
class Clock:
    """A settable clock."""

    now: float = field(default_factory=time.time)

    def __call__(self) -> float:
        return self.now


def make_runtime(client: redis.Redis, prefix: str, settings: Settings | None = None) -> Runtime:
    """A Runtime on the test's Redis prefix (the real job store and limiter), with fakes
    around it; ``rt.clock.now`` is settable (the limiter keeps the Redis clock)."""
    # The limiter takes its prefix from the settings: keep its keys under the test's prefix.
    settings = (settings or unit_settings()).model_copy(update={"key_prefix": prefix})
    clock = Clock()
    return Runtime(
        settings=settings,
        store=JobStore(client, prefix, job_ttl_s=settings.pipeline.job_ttl_s),
        limits=Limits.build(client, settings),
        upstreams={"default": FakeUpstream()},
        objects=FakeObjects(),
        fetcher=FakeFetcher(),
        scheduler=RecordingScheduler(),
        intents=RedisIntents(client, prefix),
        clock=clock,
    )


def new_job(
    rt: Runtime, model: str = "wan2.7-image", images: tuple[str, ...] = ("https://in/a.png",)
) -> JobRecord:
    """Create a QUEUED job in the runtime's store."""
    request = EditRequest.model_validate({"model": model, "prompt": "white bg", "images": images})
    record, created = rt.store.create(JobRecord(request=request, batch="unit"))
    assert created
    return record


def admit(rt: Runtime, job: JobRecord) -> str:
    """Park a job and admit it (its slot leased, its submit token taken), as a submit message
    without an account and then a dispatcher would; returns the account it was admitted to."""
    model = job.request.model.value
    assert rt.limits.admission.park(job.job_id, model, job.priority, job.tenant)
    admitted = rt.limits.admission.admit(model)
    assert isinstance(admitted, Admitted) and admitted.job_id == job.job_id, admitted
    return admitted.account


def task_result(status: TaskStatus, task_id: str = "task-1", **fields: Any) -> TaskResult:
    """A TaskResult with a status."""
    return TaskResult(task_id=task_id, status=status, **fields)


def summary(task_id: str, created_s: float, model: str = "wan2.7-image") -> TaskSummary:
    """A task-list entry created at ``created_s`` (epoch seconds)."""
    return TaskSummary.model_validate(
        {
            "task_id": task_id,
            "status": "PENDING",
            "model_name": model,
            "request_id": f"req-{task_id}",
            "gmt_create": int(created_s * 1000),
        }
    )


def page(*tasks: TaskSummary) -> TaskPage:
    """One page holding ``tasks``."""
    return TaskPage(total=len(tasks), total_page=1, page_no=1, page_size=100, tasks=tasks)
