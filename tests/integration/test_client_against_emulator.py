"""The project's DashScope client over real HTTP against a running emulator process.

The unit tests pin the client's wire format with a mock transport; these show that the same
client and the emulator understand each other, including limits, failures and the ambiguous
submit (the task was created and billed, the answer was lost).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from pydantic import SecretStr

from tests.integration.conftest import StartEmulator
from tests.integration.emulator_harness import RunningEmulator, png_size, wait_for
from workers.contract import EditRequest, ModelName, validate_request
from workers.errors import (
    SubmitAmbiguous,
    UpstreamAuthFailed,
    UpstreamRejected,
    UpstreamThrottled,
    UpstreamUnavailable,
)
from workers.upstream import DashScopeClient, TaskResult, TaskStatus

pytestmark = pytest.mark.integration


def client_for(emulator: RunningEmulator, key: str | None = None) -> DashScopeClient:
    return DashScopeClient(emulator.base_url, SecretStr(key or emulator.api_key))


@pytest.fixture
def client(emulator: RunningEmulator) -> Iterator[DashScopeClient]:
    with client_for(emulator) as c:
        yield c


def submits_accepted(emulator: RunningEmulator, model: str) -> int:
    """Tasks the emulator created (and would bill) for the default account and `model`."""
    models = emulator.stats()["accounts"].get("default", {}).get("models", {})
    return int(models.get(model, {}).get("submits_accepted", 0))


def wait_terminal(client: DashScopeClient, task_id: str) -> TaskResult:
    def done() -> TaskResult | None:
        result = client.fetch(task_id)
        return result if result.status.is_terminal else None

    return wait_for(done, what=f"task {task_id} to end")


def edit(model: str, images: list[str], **extra: Any) -> EditRequest:
    return validate_request(
        {"model": model, "prompt": "put it on white", "images": images, **extra}
    )


def test_wan27_pro_two_images_end_to_end(
    client: DashScopeClient, image_urls: dict[str, str]
) -> None:
    request = edit(
        "wan2.7-image-pro",
        [image_urls["car"], image_urls["paint"]],
        size="1K",
        n=2,
        bbox_list=[[[10, 10, 300, 200]], []],
    )
    submitted = client.submit(request)
    assert submitted.task_status is TaskStatus.PENDING

    result = wait_terminal(client, submitted.task_id)

    assert result.status is TaskStatus.SUCCEEDED
    assert len(result.image_urls) == 2
    assert result.usage is not None and result.usage.image_count == 2
    width, height = png_size(httpx.get(result.image_urls[0]).raise_for_status().content)
    assert 0.9 < (width * height) / 1024**2 < 1.1  # the 1K tier
    assert abs(width / height - 400 / 600) < 0.05  # the aspect of the last input image


def test_wan25_end_to_end(client: DashScopeClient, image_urls: dict[str, str]) -> None:
    request = edit(ModelName.WAN25, [image_urls["square"]], size="1024*1024", n=1)

    result = wait_terminal(client, client.submit(request).task_id)

    assert result.status is TaskStatus.SUCCEEDED
    assert len(result.image_urls) == 1
    content = httpx.get(result.image_urls[0]).raise_for_status().content
    assert png_size(content) == (1024, 1024)


def test_sync_generate(client: DashScopeClient, image_urls: dict[str, str]) -> None:
    result = client.generate(edit("wan2.7-image", [image_urls["square"]], size="1K", n=1))

    assert len(result.image_urls) == 1
    assert result.usage is not None and result.usage.image_count == 1


def test_failed_task_reports_code(emulator: RunningEmulator, client: DashScopeClient) -> None:
    emulator.patch_config({"models": {"*": {"failure_rate": 1.0}}})
    task_id = client.submit(edit("wan2.7-image", [], size="1K", n=1)).task_id

    result = wait_terminal(client, task_id)

    assert result.status is TaskStatus.FAILED
    assert result.code in {"InternalError.Algo", "DataInspectionFailed"}
    assert result.message


def test_cancel_pending_then_finished(
    start_emulator: StartEmulator, image_urls: dict[str, str]
) -> None:
    emulator = start_emulator(
        {
            "accounts": [
                {
                    "name": "default",
                    "api_keys": ["sk-emulator"],
                    "limits": {"*": {"max_concurrent": 1, "on_concurrency": "queue"}},
                }
            ],
            "models": {"*": {"running": {"kind": "fixed", "median_s": 1.0}}},
        }
    )
    with client_for(emulator) as client:
        first = client.submit(edit("wan2.6-image", [image_urls["square"]], n=1)).task_id
        queued = client.submit(edit("wan2.6-image", [image_urls["square"]], n=1)).task_id

        client.cancel(queued)
        assert client.fetch(queued).status is TaskStatus.CANCELED

        assert wait_terminal(client, first).status is TaskStatus.SUCCEEDED
        with pytest.raises(UpstreamRejected) as caught:
            client.cancel(first)
    assert caught.value.code == "UnsupportedOperation"
    assert caught.value.status_code == 400


def test_list_finds_tasks_by_model_and_status(
    client: DashScopeClient, image_urls: dict[str, str]
) -> None:
    ids = {client.submit(edit("wan2.6-image", [image_urls["square"]], n=1)).task_id for _ in "ab"}
    other = client.submit(edit("wan2.7-image", [], size="1K", n=1)).task_id
    for task_id in [*ids, other]:
        wait_terminal(client, task_id)

    page = client.list_tasks(model="wan2.6-image", status=TaskStatus.SUCCEEDED, page_size=50)

    assert {t.task_id for t in page.tasks} == ids
    assert page.total == 2


def test_unknown_task_and_bad_key(emulator: RunningEmulator, client: DashScopeClient) -> None:
    assert client.fetch("no-such-task").status is TaskStatus.UNKNOWN

    with client_for(emulator, key="sk-wrong") as bad, pytest.raises(UpstreamAuthFailed) as caught:
        bad.fetch("no-such-task")
    assert caught.value.code == "InvalidApiKey"
    assert caught.value.status_code == 401
    assert "sk-wrong" not in str(caught.value) and "sk-wrong" not in repr(caught.value.args)


def test_submit_rate_limit_is_throttled_with_retry_after(
    start_emulator: StartEmulator,
) -> None:
    emulator = start_emulator(
        {
            "accounts": [
                {
                    "name": "default",
                    "api_keys": ["sk-emulator"],
                    "limits": {"*": {"submit_rps": 1, "burst": 1}},
                }
            ],
            "retry_after": {"mode": "fixed", "seconds": 2},
        }
    )
    with client_for(emulator) as client:
        client.submit(edit("wan2.7-image", [], size="1K", n=1))
        with pytest.raises(UpstreamThrottled) as caught:
            client.submit(edit("wan2.7-image", [], size="1K", n=1))
    assert caught.value.code == "Throttling.RateQuota"
    assert caught.value.retry_after_s == 2


@pytest.mark.parametrize(
    ("fault", "created"),
    [("drop_after_rate", 1), ("malformed_rate", 1), ("error_after_rate", 1), ("drop_rate", 0)],
)
def test_lost_submit_answer_is_ambiguous(
    emulator: RunningEmulator, client: DashScopeClient, fault: str, created: int
) -> None:
    """When the answer is lost the client cannot know whether a task exists: it must say so."""
    emulator.patch_config({"faults": {"submit": {fault: 1.0}}})

    with pytest.raises(SubmitAmbiguous):
        client.submit(edit("wan2.7-image", [], size="1K", n=1))

    assert submits_accepted(emulator, "wan2.7-image") == created
    assert client.list_tasks(model="wan2.7-image").total == created


def test_refused_submit_is_retryable_not_ambiguous(
    emulator: RunningEmulator, client: DashScopeClient
) -> None:
    emulator.patch_config({"faults": {"submit": {"error_503_rate": 1.0}}})

    with pytest.raises(UpstreamUnavailable) as caught:
        client.submit(edit("wan2.7-image", [], size="1K", n=1))

    assert caught.value.code == "ServiceUnavailable"
    assert submits_accepted(emulator, "wan2.7-image") == 0


def test_query_faults_are_retryable(emulator: RunningEmulator, client: DashScopeClient) -> None:
    task_id = client.submit(edit("wan2.7-image", [], size="1K", n=1)).task_id
    for fault in ["drop_rate", "malformed_rate", "error_500_rate"]:
        emulator.patch_config({"faults": {"query": {fault: 1.0}}})
        with pytest.raises(UpstreamUnavailable):
            client.fetch(task_id)
        emulator.patch_config({"faults": {"query": {fault: 0.0}}})
    assert client.fetch(task_id).task_id == task_id
