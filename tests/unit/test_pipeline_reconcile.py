"""workers.pipeline.reconcile: adopting the task of an interrupted submit, or giving up."""

from __future__ import annotations

import pytest
import redis

from tests.unit.pipeline_fakes import admit, make_runtime, new_job, page, summary, unit_settings
from workers.contract import JobRecord, JobState
from workers.contract.names import TASK_SUBMIT
from workers.errors import UpstreamUnavailable
from workers.pipeline.reconcile import _wall_clock, reconcile
from workers.runtime import Runtime
from workers.upstream import TaskPage, TaskSummary


@pytest.fixture
def rt(redis_client: redis.Redis, redis_prefix: str) -> Runtime:
    return make_runtime(redis_client, redis_prefix)


def interrupted(rt: Runtime) -> JobRecord:
    """A job whose submit intent is recorded and whose outcome has settled."""
    job = new_job(rt)
    assert rt.store.begin_submit(job.job_id, admit(rt, job))
    stored = rt.store.get(job.job_id)
    assert stored is not None and stored.intent_at is not None
    rt.clock.now = stored.intent_at + 10
    return stored


def test_adopts_the_one_unclaimed_task(rt: Runtime) -> None:
    job = interrupted(rt)
    assert job.intent_at is not None
    rt.store.claim_task("t-other", "f" * 32)  # another job's task, in the same window
    rt.upstreams["default"].pages.append(
        page(
            summary("t-other", job.intent_at),
            summary("t-mine", job.intent_at + 0.5),
            summary("t-old", job.intent_at - 60),  # outside the window
            summary("t-model", job.intent_at, model="wan2.6-image"),  # another model
        )
    )
    assert reconcile(rt, job) == ("t-mine", "req-t-mine")
    assert rt.store.task_owner("t-mine") == job.job_id
    [(_, kwargs)] = rt.upstreams["default"].calls
    assert kwargs["model"] == "wan2.7-image" and kwargs["page_size"] == 100
    assert kwargs["start_time"] == _wall_clock(job.intent_at - 1 - 1, None)


def test_a_task_already_linked_to_the_job_is_adopted(rt: Runtime) -> None:
    job = interrupted(rt)
    assert job.intent_at is not None
    rt.store.claim_task("t-mine", job.job_id)  # linked, then the worker died
    rt.upstreams["default"].pages.append(
        page(summary("t-mine", job.intent_at), summary("t-x", job.intent_at))
    )
    assert reconcile(rt, job) == ("t-mine", "req-t-mine")


@pytest.mark.parametrize("unclaimed", [0, 2])
def test_gives_up_unless_exactly_one_task_is_unclaimed(rt: Runtime, unclaimed: int) -> None:
    job = interrupted(rt)
    assert job.intent_at is not None
    tasks = [summary(f"t{i}", job.intent_at) for i in range(unclaimed)]
    rt.upstreams["default"].pages.append(page(*tasks))
    assert reconcile(rt, job) is None
    ended = rt.store.get(job.job_id)
    assert ended is not None and ended.state is JobState.FAILED
    assert ended.error_code == "SubmitOutcomeUnknown"
    assert rt.store.stat("orphan_suspects") == 1
    assert rt.limits.leases.in_flight("default", "wan2.7-image") == 0
    assert rt.upstreams["default"].count("submit") == 0


def test_reads_every_page(rt: Runtime) -> None:
    job = interrupted(rt)
    assert job.intent_at is not None
    first = TaskPage(
        total=2, total_page=2, page_no=1, page_size=1, tasks=(summary("t1", job.intent_at),)
    )
    second = TaskPage(
        total=2, total_page=2, page_no=2, page_size=1, tasks=(summary("t2", job.intent_at),)
    )
    rt.store.claim_task("t1", "e" * 32)
    rt.upstreams["default"].pages += [first, second]
    assert reconcile(rt, job) == ("t2", "req-t2")


def test_list_failures_are_retryable(rt: Runtime) -> None:
    job = interrupted(rt)
    rt.upstreams["default"].pages.append(UpstreamUnavailable("ConnectError", "down"))
    with pytest.raises(UpstreamUnavailable):
        reconcile(rt, job)
    stored = rt.store.get(job.job_id)
    assert stored is not None and stored.state is JobState.SUBMITTING


def test_wall_clock_at_an_offset() -> None:
    assert _wall_clock(0, 8 * 3600).isoformat() == "1970-01-01T08:00:00"


def test_unit_settings_settle_time() -> None:
    from config.celery import submit_settle_s

    assert submit_settle_s(unit_settings()) == 5.0


def test_lists_only_once_concurrent_submits_had_time_to_link(rt: Runtime) -> None:
    job = interrupted(rt)
    assert job.intent_at is not None
    rt.clock.now = job.intent_at + 5.5  # settled (5 s), but not one read timeout (1 s) more
    assert reconcile(rt, job) is None
    assert rt.upstreams["default"].calls == []
    [(args, countdown)] = rt.scheduler.of(TASK_SUBMIT)
    assert args == (job.job_id,) and countdown == pytest.approx(0.5)


def test_another_open_intent_in_the_window_blocks_adoption(rt: Runtime) -> None:
    rival = new_job(rt)
    rt.intents.open("default", "wan2.7-image", rival.job_id)  # its submit is in progress
    job = interrupted(rt)
    assert job.intent_at is not None
    rt.upstreams["default"].pages.append(page(summary("t-whose", job.intent_at + 0.5)))
    assert reconcile(rt, job) is None
    ended = rt.store.get(job.job_id)
    assert ended is not None and ended.error_code == "SubmitOutcomeUnknown"
    assert rival.job_id in (ended.error_message or "")
    assert rt.store.task_owner("t-whose") is None  # left for its owner
    assert rt.store.stat("orphan_suspects") == 1


def test_a_closed_intent_does_not_block_adoption(rt: Runtime) -> None:
    rival = new_job(rt)
    rt.intents.open("default", "wan2.7-image", rival.job_id)
    rt.intents.close("default", "wan2.7-image", rival.job_id)  # its task was linked
    rt.intents.open("default", "wan2.6-image", rival.job_id)  # another model: no rival
    job = interrupted(rt)
    assert job.intent_at is not None
    rt.upstreams["default"].pages.append(page(summary("t-mine", job.intent_at + 0.5)))
    assert reconcile(rt, job) == ("t-mine", "req-t-mine")


def test_a_task_without_a_creation_time_is_never_adopted_by_elimination(rt: Runtime) -> None:
    job = interrupted(rt)
    undated = TaskSummary.model_validate(
        {"task_id": "t-undated", "status": "PENDING", "model_name": "wan2.7-image"}
    )
    assert undated.gmt_create is None
    rt.upstreams["default"].pages.append(page(undated))
    assert reconcile(rt, job) is None
    ended = rt.store.get(job.job_id)
    assert ended is not None and ended.error_code == "SubmitOutcomeUnknown"
    assert rt.store.task_owner("t-undated") is None
