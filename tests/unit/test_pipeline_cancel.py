"""workers.pipeline.cancel: what may be canceled, and how."""

from __future__ import annotations

import pytest
import redis

from tests.unit.pipeline_fakes import admit, make_runtime, new_job
from workers.contract import JobState
from workers.errors import UpstreamRejected, UpstreamUnavailable
from workers.pipeline.cancel import cancel
from workers.runtime import Runtime


@pytest.fixture
def rt(redis_client: redis.Redis, redis_prefix: str) -> Runtime:
    return make_runtime(redis_client, redis_prefix)


def test_queued_is_canceled_without_an_upstream_call(rt: Runtime) -> None:
    job = new_job(rt)
    outcome = cancel(rt, job.job_id)
    assert outcome.canceled and outcome.state is JobState.CANCELED
    assert outcome.as_dict() == {
        "job_id": job.job_id,
        "canceled": True,
        "state": "CANCELED",
        "reason": "",
    }
    assert rt.upstreams["default"].calls == []
    again = cancel(rt, job.job_id)
    assert not again.canceled and "already ended" in again.reason


def test_a_failed_attempt_without_intent_can_be_canceled(rt: Runtime) -> None:
    job = new_job(rt)
    assert rt.store.begin_submit(job.job_id)
    refused = cancel(rt, job.job_id)
    assert not refused.canceled and "submit is in progress" in refused.reason
    assert rt.store.clear_intent(job.job_id)
    assert cancel(rt, job.job_id).canceled


def pending(rt: Runtime) -> str:
    job = new_job(rt)
    assert rt.store.begin_submit(job.job_id, admit(rt, job))
    assert rt.store.attach_task(job.job_id, "task-9", None)
    return job.job_id


def test_pending_is_canceled_upstream(rt: Runtime) -> None:
    job_id = pending(rt)
    rt.upstreams["default"].cancels.append(None)
    outcome = cancel(rt, job_id)
    assert outcome.canceled and rt.upstreams["default"].calls == [("cancel", "task-9")]
    assert rt.limits.leases.in_flight("default", "wan2.7-image") == 0


def test_pending_that_started_meanwhile_is_refused(rt: Runtime) -> None:
    job_id = pending(rt)
    rt.upstreams["default"].cancels.append(
        UpstreamRejected("UnsupportedOperation", "not PENDING", None, 400)
    )
    outcome = cancel(rt, job_id)
    assert not outcome.canceled and "UnsupportedOperation" in outcome.reason
    stored = rt.store.get(job_id)
    assert stored is not None and stored.state is JobState.PENDING
    assert rt.limits.leases.in_flight("default", "wan2.7-image") == 1  # still running


def test_upstream_unavailable_is_raised_for_a_retry(rt: Runtime) -> None:
    job_id = pending(rt)
    rt.upstreams["default"].cancels.append(UpstreamUnavailable("ConnectError", "down"))
    with pytest.raises(UpstreamUnavailable):
        cancel(rt, job_id)


@pytest.mark.parametrize("state", [JobState.RUNNING, JobState.STORING])
def test_running_is_refused_with_a_reason(rt: Runtime, state: JobState) -> None:
    job_id = pending(rt)
    rt.store.transition(job_id, state)
    outcome = cancel(rt, job_id)
    assert not outcome.canceled and outcome.state is state
    assert "cannot be canceled" in outcome.reason
    assert rt.upstreams["default"].calls == []


def test_no_such_job(rt: Runtime) -> None:
    outcome = cancel(rt, "0" * 32)
    assert not outcome.canceled and outcome.state is None and outcome.reason == "no such job"


def stale_get(rt: Runtime, monkeypatch: pytest.MonkeyPatch, job_id: str) -> None:
    """Make the next ``store.get`` of the job answer what it held now (a cancel that loaded
    the record just before a submit took the gate)."""
    stale = rt.store.get(job_id)
    real_get = rt.store.get
    calls = iter([stale])
    monkeypatch.setattr(rt.store, "get", lambda jid: next(calls, None) or real_get(jid))


@pytest.mark.parametrize("retried", [False, True])
def test_a_cancel_never_overtakes_a_submit_that_took_the_gate(
    rt: Runtime, monkeypatch: pytest.MonkeyPatch, retried: bool
) -> None:
    job = new_job(rt)
    if retried:  # SUBMITTING without intent: a failed attempt awaiting its retry
        assert rt.store.begin_submit(job.job_id) and rt.store.clear_intent(job.job_id)
    stale_get(rt, monkeypatch, job.job_id)
    assert rt.store.begin_submit(job.job_id)  # the submit wins the gate and is posting
    outcome = cancel(rt, job.job_id)
    assert not outcome.canceled and outcome.state is JobState.SUBMITTING
    stored = rt.store.get(job.job_id)
    assert stored is not None and stored.state is JobState.SUBMITTING
    assert rt.store.attach_task(job.job_id, "task-1", None)  # its task is followed


def test_a_canceled_job_holds_the_gate_against_a_late_submit(rt: Runtime) -> None:
    job = new_job(rt)
    assert rt.store.begin_submit(job.job_id) and rt.store.clear_intent(job.job_id)
    assert cancel(rt, job.job_id).canceled
    assert not rt.store.begin_submit(job.job_id)
