"""The emulator app in-process with a fake clock: exact lifecycle timing, no waiting."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest

from emulator.config.root import build_config
from emulator.http.app import build_app
from emulator.http.faults import ConnectionDropped

KEY = "sk-test"
AUTH = {"Authorization": f"Bearer {KEY}"}
ASYNC = {**AUTH, "X-DashScope-Async": "enable"}
SUBMIT = "/api/v1/services/aigc/image-generation/generation"
FIXED = {"*": {"pending": {"median_s": 1.0}, "running": {"median_s": 2.0}}}


class FakeClock:
    """A settable clock."""

    def __init__(self, now: float = 1_800_000_000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def _body(n: int = 1) -> dict[str, Any]:
    content = [{"text": "make it red"}]
    return {
        "model": "wan2.7-image",
        "input": {"messages": [{"role": "user", "content": content}]},
        "parameters": {"n": n, "size": "1K"},
    }


pytestmark = pytest.mark.anyio


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


def _client(clock: FakeClock, **raw: Any) -> httpx.AsyncClient:
    config = build_config({"models": FIXED, **raw}, KEY)
    app = build_app(config, public_url="http://testserver", default_api_key=KEY, clock=clock)
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://testserver")


@pytest.fixture
async def client(clock: FakeClock) -> AsyncIterator[httpx.AsyncClient]:
    async with _client(clock) as test_client:
        yield test_client


async def _submit(client: httpx.AsyncClient) -> str:
    response = await client.post(SUBMIT, json=_body(), headers=ASYNC)
    assert response.status_code == 200, response.text
    task_id: str = response.json()["output"]["task_id"]
    return task_id


async def _status(client: httpx.AsyncClient, task_id: str) -> str:
    response = await client.get(f"/api/v1/tasks/{task_id}", headers=AUTH)
    status: str = response.json()["output"]["task_status"]
    return status


async def test_lifecycle_follows_the_clock(client: httpx.AsyncClient, clock: FakeClock) -> None:
    task_id = await _submit(client)
    seen = []
    for step_s in (0.5, 0.6, 1.0, 1.0):
        seen.append(await _status(client, task_id))
        clock.now += step_s
    seen.append(await _status(client, task_id))
    assert seen == ["PENDING", "PENDING", "RUNNING", "RUNNING", "SUCCEEDED"]
    body = (await client.get(f"/api/v1/tasks/{task_id}", headers=AUTH)).json()
    assert body["output"]["end_time"].endswith(".000")
    image = body["output"]["choices"][0]["message"]["content"][0]["image"]
    png = await client.get(image)
    assert png.status_code == 200
    assert png.content.startswith(b"\x89PNG")
    clock.now += 86_400 + 10
    assert (await client.get(image)).status_code == 403
    assert await _status(client, task_id) == "UNKNOWN", "the task id expired after a day"


async def test_queue_starts_the_clock_when_the_slot_frees(clock: FakeClock) -> None:
    limits = {"*": {"max_concurrent": 1, "on_concurrency": "queue"}}
    accounts = [{"name": "a", "api_keys": [KEY], "query_qps": 0, "limits": limits}]
    async with _client(clock, accounts=accounts) as client:
        first, second = await _submit(client), await _submit(client)
        clock.now += 2.9
        assert (await _status(client, first), await _status(client, second)) == (
            "RUNNING",
            "PENDING",
        )
        clock.now += 3.1  # first ended at 3.0; second got the slot then and ends at 6.0
        assert (await _status(client, first), await _status(client, second)) == (
            "SUCCEEDED",
            "SUCCEEDED",
        )
        stats = (await client.get("/admin/stats")).json()["accounts"]["a"]["models"]["wan2.7-image"]
        assert (stats["max_in_flight"], stats["max_queued"]) == (1, 1)


async def test_cancel_only_while_pending(client: httpx.AsyncClient, clock: FakeClock) -> None:
    task_id = await _submit(client)
    assert (await client.post(f"/api/v1/tasks/{task_id}/cancel", headers=AUTH)).status_code == 200
    assert await _status(client, task_id) == "CANCELED"
    running = await _submit(client)
    clock.now += 1.5
    refused = await client.post(f"/api/v1/tasks/{running}/cancel", headers=AUTH)
    assert refused.status_code == 400
    assert refused.json()["code"] == "UnsupportedOperation"


async def test_list_time_filter(client: httpx.AsyncClient, clock: FakeClock) -> None:
    await _submit(client)
    clock.now += 3600
    recent = await _submit(client)
    since = time.strftime("%Y%m%d%H%M%S", time.localtime(clock.now - 60))
    listed = (await client.get("/api/v1/tasks", params={"start_time": since}, headers=AUTH)).json()
    assert [d["task_id"] for d in listed["data"]] == [recent]
    bad = await client.get("/api/v1/tasks", params={"start_time": "yesterday"}, headers=AUTH)
    assert bad.status_code == 400


async def test_drop_without_a_server_transport_raises(clock: FakeClock) -> None:
    async with _client(clock, faults={"query": {"drop_rate": 1.0}}) as client:
        with pytest.raises(ConnectionDropped):
            await client.get("/api/v1/tasks/x", headers=AUTH)
