"""workers.limits.dispatcher against the real Redis: rounds, chores, and the thread."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

import pytest
import redis

from config.accounts import AccountSettings, LimiterSettings
from tests.unit.limits_fakes import (
    MODEL,
    account,
    admission,
    admit_all,
    limiter,
    park_all,
    redis_now_ms,
)
from workers.contract import EditRequest, JobRecord, JobState, JobStore
from workers.errors import RedisUnavailable
from workers.limits import Leases
from workers.limits.dispatcher import ROUND_MAX, Chore, Dispatcher

DEADLINE_S = 5.0


class Sent:
    """Records ``send(job_id, account)`` calls; lets a test wait for a count of them."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, str]] = []
        self._cond = threading.Condition()

    def __call__(self, job_id: str, account: str) -> None:
        with self._cond:
            self.calls.append((job_id, account))
            self._cond.notify_all()

    def wait_for(self, count: int, timeout_s: float = DEADLINE_S) -> bool:
        with self._cond:
            return self._cond.wait_for(lambda: len(self.calls) >= count, timeout_s)


def never_gone(job_ids: list[str]) -> list[bool]:
    return [False] * len(job_ids)


def dispatcher(
    client: redis.Redis,
    prefix: str,
    send: Callable[[str, str], None],
    *,
    accounts: list[AccountSettings] | None = None,
    settings: LimiterSettings | None = None,
    gone: Callable[[list[str]], list[bool]] = never_gone,
) -> Dispatcher:
    accounts = accounts or [account()]
    settings = settings or limiter()
    return Dispatcher(
        admission(client, prefix, accounts, settings),
        Leases(client, prefix, 3600),
        send,
        gone,
        [(a.name, MODEL) for a in accounts],
        settings,
    )


def test_a_round_admits_and_sends_every_job_it_can(
    redis_client: redis.Redis, redis_prefix: str
) -> None:
    sent = Sent()
    accounts = [account("first", max_in_flight=2), account("second", max_in_flight=1)]
    settings = limiter(dispatch_interval_s=0.25)
    rounds = dispatcher(redis_client, redis_prefix, sent, accounts=accounts, settings=settings)
    gate = admission(redis_client, redis_prefix, accounts, settings)
    park_all(gate, ["j0", "j1", "j2", "j3"])
    park_all(gate, ["k0"], model="wan2.6-image")
    assert rounds.run_round() == pytest.approx(0.25)  # full: look again next round
    assert sorted(sent.calls) == [
        ("j0", "first"),
        ("j1", "first"),
        ("j2", "second"),
        ("k0", "first"),  # each model has its own slots
    ]
    assert gate.waiting() == {MODEL: 1}


def test_a_round_sleeps_until_a_token_may_come(
    redis_client: redis.Redis, redis_prefix: str
) -> None:
    sent = Sent()
    accounts = [account(submit_rps=2.0)]
    settings = limiter(submit_burst=1.0, dispatch_interval_s=5.0)
    rounds = dispatcher(redis_client, redis_prefix, sent, accounts=accounts, settings=settings)
    park_all(admission(redis_client, redis_prefix, accounts, settings), ["j0", "j1"])
    assert 0.3 < rounds.run_round() <= 0.5  # the next token (2 per second)
    assert sent.calls == [("j0", "acct")]
    assert rounds.run_round() <= 0.5  # nothing admitted before the token


def test_a_round_bounds_its_admissions_per_model(
    redis_client: redis.Redis, redis_prefix: str
) -> None:
    sent = Sent()
    rounds = dispatcher(redis_client, redis_prefix, sent)
    park_all(admission(redis_client, redis_prefix), [f"j{i}" for i in range(ROUND_MAX + 10)])
    assert rounds.run_round() == 0.0  # more may wait: the next round at once
    assert len(sent.calls) == ROUND_MAX
    assert rounds.run_round() == limiter().dispatch_interval_s
    assert len(sent.calls) == ROUND_MAX + 10


def test_chores_reap_ended_jobs_and_send_lost_admissions_again(
    redis_client: redis.Redis, redis_prefix: str
) -> None:
    store = JobStore(redis_client, redis_prefix, job_ttl_s=3600)
    request = EditRequest.model_validate(
        {"model": MODEL, "prompt": "white bg", "images": ("https://in/a.png",)}
    )
    ended, _ = store.create(JobRecord(request=request, batch="unit"))
    lost, _ = store.create(JobRecord(request=request, batch="unit"))
    sent = Sent()
    settings = limiter(admitted_timeout_s=5.0)
    chores = dispatcher(redis_client, redis_prefix, sent, settings=settings, gone=store.gone)
    gate = admission(redis_client, redis_prefix, settings=settings)
    leases = Leases(redis_client, redis_prefix, 3600)
    park_all(gate, [ended.job_id, lost.job_id])
    admit_all(gate, 2, redis_now_ms(redis_client) - 10_000)  # their messages were lost
    gate.started(ended.job_id)  # this one's submit ran, then the job ended unreleased
    assert store.transition(ended.job_id, JobState.FAILED)
    chores.run_chores()
    assert leases.holders("acct", MODEL) == [lost.job_id]
    assert sent.calls == [(lost.job_id, "acct")]
    chores.run_chores()
    assert sent.calls == [(lost.job_id, "acct")]  # sent again once, not every round


def test_the_thread_admits_when_woken_and_stops(
    redis_client: redis.Redis, redis_prefix: str
) -> None:
    sent = Sent()
    settings = limiter(dispatch_interval_s=60.0, reap_interval_s=60.0)
    thread = dispatcher(redis_client, redis_prefix, sent, settings=settings)
    gate = admission(redis_client, redis_prefix, settings=settings)
    thread.start()
    try:
        thread.start()  # idempotent
        assert [t.name for t in threading.enumerate()].count("wanq-dispatcher") == 1
        for n in range(1, 4):  # each job parked is admitted well before the 60 s round
            park_all(gate, [f"j{n}"])
            thread.wake()
            assert sent.wait_for(n), f"job {n} not dispatched within {DEADLINE_S} s"
    finally:
        started = time.monotonic()
        thread.stop()
    assert time.monotonic() - started < DEADLINE_S  # woken out of its 60 s sleep
    assert "wanq-dispatcher" not in [t.name for t in threading.enumerate()]
    assert [job for job, _ in sent.calls] == ["j1", "j2", "j3"]


def test_the_thread_survives_a_failing_round(
    redis_client: redis.Redis, redis_prefix: str, caplog: pytest.LogCaptureFixture
) -> None:
    sent = Sent()
    failures = iter([RuntimeError("broker hiccup")])

    def send(job_id: str, account: str) -> None:
        error = next(failures, None)
        if error is not None:
            raise error
        sent(job_id, account)

    settings = limiter(dispatch_interval_s=60.0, admitted_timeout_s=60.0)
    thread = dispatcher(redis_client, redis_prefix, send, settings=settings)
    gate = admission(redis_client, redis_prefix, settings=settings)
    park_all(gate, ["unlucky"])
    thread.start()
    try:
        park_all(gate, ["next"])
        thread.wake()
        assert sent.wait_for(1)
    finally:
        thread.stop()
    assert [job for job, _ in sent.calls] == ["next"]
    assert "dispatcher round failed" in caplog.text
    gate.started("next")  # its submit ran; the unlucky one's never will
    assert gate.stale(0.0) == [("unlucky", "acct")]  # left for the chores to send again


def test_further_chores_run_first_then_at_their_intervals(
    redis_client: redis.Redis, redis_prefix: str, caplog: pytest.LogCaptureFixture
) -> None:
    now = [100.0]
    runs: list[str] = []

    def failing() -> None:
        runs.append("failing")
        raise RedisUnavailable("sweep", "down")

    settings = limiter()
    chores = Dispatcher(
        admission(redis_client, redis_prefix, settings=settings),
        Leases(redis_client, redis_prefix, 3600),
        Sent(),
        never_gone,
        [("acct", MODEL)],
        settings,
        clock=lambda: now[0],
        chores=[Chore("failing", 5.0, failing), Chore("sweep", 10.0, lambda: runs.append("sweep"))],
    )
    chores.run_due_chores()
    assert runs == ["failing", "sweep"]  # one failing does not keep the others from running
    assert "dispatcher chore failing" in caplog.text
    now[0] += 6.0
    chores.run_due_chores()
    chores.run_due_chores()
    assert runs == ["failing", "sweep", "failing"]
    now[0] += 4.0
    chores.run_due_chores()
    assert runs == ["failing", "sweep", "failing", "sweep"]
