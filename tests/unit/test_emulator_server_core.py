"""Unit tests of the emulator server's building blocks (no HTTP)."""

from __future__ import annotations

import random
from pathlib import Path
from typing import Any
from urllib.parse import unquote

import pytest
from pydantic import ValidationError

from emulator.config.faults import FaultRates
from emulator.config.root import EmulatorConfig, build_config, load_config, merge_patch
from emulator.config.sections import Distribution
from emulator.limits.gcra import Gcra
from emulator.limits.lanes import Lane
from emulator.storage.bytecache import ByteCache
from emulator.storage.multipart import parse_form
from emulator.storage.results import ResultSigner
from emulator.tasks.planning import Failure, Planner, TaskPlan
from emulator.tasks.task import CANCELED, FAILED, PENDING, RUNNING, SUCCEEDED, Task


def _task(
    task_id: str = "t1",
    *,
    pending_s: float = 1.0,
    running_s: float = 2.0,
    failure: Failure | None = None,
) -> Task:
    plan = TaskPlan(pending_s, running_s, failure, frozenset(), None)
    return Task(
        task_id=task_id,
        account="a",
        api_key_id="1",
        request_id="r",
        model="m",
        protocol="messages",
        endpoint="image_generation",
        hidden=False,
        submit_at=100.0,
        plan=plan,
        prompt="p",
        n=1,
        seed=1,
        width=64,
        height=64,
        input_tokens=1,
        prompt_extend=None,
        interleave=False,
        source_key=None,
    )


def test_task_status_is_a_function_of_time() -> None:
    task = _task()
    assert task.status_at(100.0) == PENDING, "no slot yet"
    task.slot_at = 100.0
    assert [task.status_at(t) for t in (100.5, 101.0, 102.9, 103.0)] == [
        PENDING,
        RUNNING,
        RUNNING,
        SUCCEEDED,
    ]
    failing = _task(failure=Failure("InternalError.Algo", "boom", 500))
    failing.slot_at = 100.0
    assert failing.status_at(200.0) == FAILED
    task.canceled_at = 100.2
    assert task.status_at(500.0) == CANCELED
    assert task.end_at == 100.2


def test_lane_queue_hands_slots_over_when_they_free() -> None:
    lane = Lane()
    first, second, third = (_task(f"t{i}", pending_s=0.0, running_s=1.0) for i in range(3))
    assert lane.admit(first, 0.0, 1, queue=True)
    assert lane.admit(second, 0.1, 1, queue=True)
    assert lane.admit(third, 0.2, 1, queue=True)
    assert (first.slot_at, second.slot_at, third.slot_at) == (0.0, None, None)
    lane.advance(5.0, 1)  # looked at late: the hand-overs happened at the finish times
    assert (second.slot_at, third.slot_at) == (1.0, 2.0)
    assert (lane.max_in_flight, lane.max_queued, lane.in_flight) == (1, 2, 0)


def test_lane_reject_mode_and_cancel() -> None:
    lane = Lane()
    first, second = _task("a", running_s=10.0), _task("b")
    assert lane.admit(first, 0.0, 1, queue=False)
    assert not lane.admit(second, 0.0, 1, queue=False)
    first.canceled_at = 0.5
    lane.release(first, 0.5, 1)
    assert lane.admit(second, 0.6, 1, queue=False)


def test_lane_cancel_of_a_queued_task_frees_its_place() -> None:
    lane = Lane()
    first, second, third = (_task(f"t{i}", pending_s=0.0, running_s=1.0) for i in range(3))
    for task in (first, second, third):
        lane.admit(task, 0.0, 1, queue=True)
    lane.release(second, 0.5, 1)
    lane.advance(1.0, 1)
    assert third.slot_at == 1.0
    assert second.slot_at is None


def test_gcra_allows_the_burst_then_the_rate() -> None:
    gcra = Gcra()
    assert [gcra.acquire("k", 0.0, 2.0, 2) for _ in range(2)] == [0.0, 0.0]
    assert gcra.acquire("k", 0.0, 2.0, 2) == pytest.approx(0.5)
    assert gcra.acquire("k", 0.5, 2.0, 2) == 0.0
    assert gcra.acquire("other", 0.5, 2.0, 2) == 0.0


@pytest.mark.parametrize(
    "dist",
    [
        Distribution(kind="fixed", median_s=2.0),
        Distribution(kind="uniform", min_s=1.0, max_s=3.0),
        Distribution(kind="lognormal", median_s=2.0, sigma=1.0, min_s=0.5, max_s=4.0),
    ],
)
def test_durations_stay_within_bounds(dist: Distribution) -> None:
    planner = Planner(random.Random(3))
    draws = [planner.duration(dist) for _ in range(500)]
    assert all(dist.min_s <= d <= (dist.max_s or d) for d in draws)


def test_partial_failures_keep_at_least_one_image() -> None:
    config = build_config({"models": {"*": {"partial_failure_rate": 1.0}}}, "k")
    planner = Planner(random.Random(5))
    for _ in range(100):
        plan = planner.plan(config, "wan2.5-i2i-preview", 4)
        assert 1 <= len(plan.failed_slots) <= 3
        assert plan.slot_failure is not None


def test_moderation_terms_fail_the_task_like_the_content_filter() -> None:
    config = build_config({"moderation_terms": ["Forbidden Logo"]}, "k")
    planner = Planner(random.Random(1))

    flagged = planner.plan(config, "wan2.6-image", 1, "add the FORBIDDEN LOGO to the mug")
    clean = planner.plan(config, "wan2.6-image", 1, "add a small logo to the mug")

    assert flagged.failure is not None
    assert flagged.failure.code == "DataInspectionFailed"
    assert flagged.failure.http_status == 400
    assert clean.failure is None


def test_config_validation() -> None:
    with pytest.raises(ValidationError):
        FaultRates(drop_rate=0.7, error_500_rate=0.7)
    with pytest.raises(ValidationError):
        build_config(
            {"accounts": [{"name": "a", "api_keys": ["k"]}, {"name": "b", "api_keys": ["k"]}]}, "x"
        )
    with pytest.raises(ValidationError):
        build_config({"unknown": 1}, "k")
    config = build_config({}, "sk-x")
    assert config.accounts[0].api_keys == ("sk-x",)
    assert config.accounts[0].query_qps == 0, "limits are off without a configuration"
    declared = build_config({"accounts": [{"name": "a", "api_keys": ["k"]}]}, "x")
    assert declared.accounts[0].query_qps == 20


def test_load_yaml_config(tmp_path: Path) -> None:
    path = tmp_path / "emulator.yaml"
    path.write_text(
        "accounts:\n"
        "  - name: main\n"
        "    api_keys: [sk-a]\n"
        "    limits:\n"
        "      '*': {submit_rps: 2, max_concurrent: 3, on_concurrency: queue}\n"
        "models:\n"
        "  '*':\n"
        "    running: {kind: lognormal, median_s: 8, sigma: 0.4, max_s: 60}\n"
    )
    config: EmulatorConfig = load_config(path, "unused")
    limits = config.accounts[0].limits_for("wan2.7-image")
    assert limits is not None and limits.on_concurrency == "queue"
    assert config.behaviour_for("wan2.6-image").running.median_s == 8


def test_merge_patch() -> None:
    base: dict[str, Any] = {"a": {"b": 1, "c": 2}, "d": [1]}
    assert merge_patch(base, {"a": {"b": 5, "c": None}, "d": [2]}) == {"a": {"b": 5}, "d": [2]}


def test_multipart_form() -> None:
    body = (
        b'--XyZ\r\nContent-Disposition: form-data; name="key"\r\n\r\ndir/a.png\r\n'
        b'--XyZ\r\nContent-Disposition: form-data; name="file"; filename="a.png"\r\n'
        b"Content-Type: image/png\r\n\r\n\x89PNG\r\n\x00data\r\n--XyZ--\r\n"
    )
    form = parse_form("multipart/form-data; boundary=XyZ", body)
    assert form.fields == {"key": "dir/a.png"}
    assert form.files["file"] == ("a.png", b"\x89PNG\r\n\x00data")
    with pytest.raises(ValueError):
        parse_form("application/json", body)


def test_byte_cache_evicts_least_recently_used() -> None:
    cache = ByteCache(10)
    cache.put("a", b"12345")
    cache.put("b", b"12345")
    assert cache.get("a") == b"12345"
    cache.put("c", b"12345")
    assert ("a" in cache, "b" in cache, "c" in cache) == (True, False, True)
    cache.put("huge", b"x" * 11)
    assert "huge" not in cache


def test_result_signatures() -> None:
    signer = ResultSigner(b"secret", "http://127.0.0.1:9")
    task = _task()
    task.slot_at = 100.0
    url = signer.url(task, 0, 10.0)
    query = dict(part.split("=", 1) for part in url.split("?")[1].split("&"))
    signature = unquote(query["Signature"])
    assert signer.check("t1", 0, query["Expires"], signature, 105.0) is None
    assert signer.check("t1", 1, query["Expires"], signature, 105.0) is not None
    expired = signer.check("t1", 0, query["Expires"], signature, 200.0)
    assert expired is not None and expired.message == "Request has expired."


def test_the_example_configuration_is_valid() -> None:
    path = Path(__file__).parents[2] / "emulator" / "config.example.yaml"
    config = load_config(path, "unused")
    assert [a.name for a in config.accounts] == ["shop-sg", "shop-bj"]
    assert config.faults.submit.drop_after_rate > 0
