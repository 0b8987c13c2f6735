"""The chaos suite's own pieces: the S3 proxy's switch, the AOF Redis restart, the fault
schedule, the recovery figures, and finding where an unfinished job stands (real sockets,
a real redis-server, real Celery messages in Redis)."""

from __future__ import annotations

import contextlib
import dataclasses
import random
import socket
import threading
import time
import types
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import redis
from celery import Celery
from pydantic import SecretStr

from bench.chaos import faults
from bench.chaos.crew import Crew
from bench.chaos.ledger import by_time
from bench.chaos.locate import ADMITTED, NOWHERE, WAITING_ROOM, locate, message_job
from bench.chaos.probe import Probe, sweep_counts
from bench.chaos.proxy import Mode, TcpProxy
from bench.chaos.recovery import DRAINED, NO_BASELINE, NOT_RECOVERED, RATE, rate, recovery
from bench.chaos.redis_server import AofRedis
from bench.chaos.scenario import PLAN as PLAN_OF_THE_SUITE
from bench.chaos.scenario import FaultStep
from bench.chaos.schedule import Schedule
from config import Settings
from config.celery import celery_config
from devstack.constants import LOOPBACK
from devstack.redis import find_server
from workers.contract.names import QUEUE_POLL, TASK_POLL, TASK_QUEUES, TASK_STORE
from workers.contract.waiting import WaitingRoom

TIMEOUT_S = 2.0


# --------------------------------------------------------------------------- the proxy
@pytest.fixture
def echo_port() -> Iterator[int]:
    """A TCP server on loopback that echoes whatever it gets, one thread per connection."""
    server = socket.create_server((LOOPBACK, 0))
    stop = threading.Event()

    def serve(conn: socket.socket) -> None:
        with conn, contextlib.suppress(OSError):  # the proxy may reset it
            while data := conn.recv(4096):
                conn.sendall(data)

    def accept() -> None:
        server.settimeout(0.05)
        while not stop.is_set():
            try:
                conn, _ = server.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            threading.Thread(target=serve, args=(conn,), daemon=True).start()

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    yield int(server.getsockname()[1])
    stop.set()
    thread.join()
    server.close()


def _connect(port: int) -> socket.socket:
    return socket.create_connection((LOOPBACK, port), timeout=TIMEOUT_S)


def _is_reset_on_connect_or_first_read(port: int) -> bool:
    """The proxy resets an accepted connection at once; the RST may reach the client while its
    connect is still being polled or only on its first read. Both are the reset under test."""
    try:
        with _connect(port) as sock:
            sock.recv(64)
    except ConnectionResetError:
        return True
    return False


def _echoes(sock: socket.socket, data: bytes = b"ping") -> bool:
    sock.sendall(data)
    return sock.recv(64) == data


def test_proxy_forwards_both_ways(echo_port: int) -> None:
    with TcpProxy(LOOPBACK, echo_port) as proxy, _connect(proxy.port) as sock:
        assert _echoes(sock, b"hello") and _echoes(sock, b"again")
        assert proxy.counts.forwarded == 1


def test_proxy_reset_mode_resets_live_and_new_connections(echo_port: int) -> None:
    with TcpProxy(LOOPBACK, echo_port) as proxy:
        live = _connect(proxy.port)
        assert _echoes(live)
        proxy.set_mode(Mode.RESET)
        with live, pytest.raises(ConnectionResetError):
            live.sendall(b"x")
            live.recv(64)
        assert _is_reset_on_connect_or_first_read(proxy.port)
        assert proxy.counts.reset == 2
        assert proxy.live_connections() == 0
        proxy.set_mode(Mode.FORWARD)
        with _connect(proxy.port) as again:
            assert _echoes(again)


def test_proxy_refuse_mode_refuses_then_listens_again_on_the_same_port(echo_port: int) -> None:
    with TcpProxy(LOOPBACK, echo_port) as proxy:
        port = proxy.port
        proxy.set_mode(Mode.REFUSE)
        with pytest.raises(ConnectionRefusedError):
            _connect(port)
        proxy.set_mode(Mode.FORWARD)
        assert proxy.port == port
        with _connect(port) as sock:
            assert _echoes(sock)


SLOW_ANSWER_S = 1.0


def test_proxy_slow_answers_hold_what_the_target_sends_back(echo_port: int) -> None:
    with TcpProxy(LOOPBACK, echo_port) as proxy, _connect(proxy.port) as sock:
        proxy.slow_answers(SLOW_ANSWER_S)
        began = time.monotonic()
        assert _echoes(sock)
        assert time.monotonic() - began >= SLOW_ANSWER_S
        proxy.slow_answers(0.0)
        began = time.monotonic()
        assert _echoes(sock)
        assert time.monotonic() - began < SLOW_ANSWER_S  # (a loaded machine stalls less)


def _unbound(step: FaultStep) -> faults.Fault:
    """The fault of a step, bound to no parts: building one only keeps them."""
    none: Any = None
    return faults.build(step, crew=none, redis=none, admin=none, proxy=none, s3_mode="reset")


def test_every_fault_of_the_plan_is_known() -> None:
    assert [_unbound(step).name for step in PLAN_OF_THE_SUITE] == [
        step.name for step in PLAN_OF_THE_SUITE
    ]
    with pytest.raises(ValueError, match="unknown fault"):
        _unbound(FaultStep("flood", 0.5))


def test_proxy_closes_the_client_when_the_target_is_gone() -> None:
    with socket.create_server((LOOPBACK, 0)) as placeholder:
        dead_port = int(placeholder.getsockname()[1])
    with TcpProxy(LOOPBACK, dead_port) as proxy:
        assert _is_reset_on_connect_or_first_read(proxy.port)
        assert proxy.counts.target_failed == 1


# --------------------------------------------------------------------------- the crew
@dataclasses.dataclass
class _FakeWorker:
    """A worker process as the crew sees it; it exits at once on SIGTERM and is ready as soon
    as :attr:`booted` is set."""

    name: str
    pid: int = 1
    running: bool = True
    booted: bool = True
    returncode: int | None = None
    log_path: Path = Path("/nonexistent.log")

    @property
    def spec(self) -> Any:
        return types.SimpleNamespace(name=self.name)

    def alive(self) -> bool:
        return self.running

    def is_ready(self) -> bool:
        return self.booted

    def kill(self) -> int:
        self.running, self.returncode = False, -9
        return -9

    def terminate(self) -> None:
        self.running, self.returncode = False, 0

    def launch(self) -> None:
        self.pid += 1
        self.running, self.booted, self.returncode = True, False, None


def test_the_sigterms_successor_is_not_killed_before_it_is_ready() -> None:
    """Else the SIGTERM's fault would never end (its successor never reported ready)."""
    workers = [_FakeWorker(f"w{i}") for i in range(2)]
    crew = Crew(pool=workers, rng=random.Random(1))  # type: ignore[arg-type]
    event = crew.terminate_random()
    assert event is not None
    stopped = next(w for w in workers if w.name == event.worker)
    other = next(w for w in workers if w is not stopped)
    crew.tick()  # it exited: started again, not ready yet
    assert stopped.running and not crew.back(event)
    kills = [crew.kill_random() for _ in range(5)]
    assert {k.worker for k in kills if k is not None} == {other.name}
    stopped.booted = True
    crew.tick()
    assert crew.back(event)


# --------------------------------------------------------------------------- Redis with AOF
@pytest.mark.skipif(find_server() is None, reason="needs redis-server or valkey-server")
def test_aof_redis_keeps_its_data_and_port_across_a_restart(tmp_path: Path) -> None:
    with AofRedis(tmp_path / "redis") as server:
        port = server.port
        client = redis.Redis.from_url(server.url, decode_responses=True)
        try:
            client.hset("job:1", mapping={"state": "RUNNING"})
            client.rpush("queue", "m1", "m2")
            stopped_at, back_at = server.restart()
            assert back_at >= stopped_at and server.port == port
            assert client.hget("job:1", "state") == "RUNNING"
            assert client.lrange("queue", 0, -1) == ["m1", "m2"]
        finally:
            client.close()


# --------------------------------------------------------------------------- the schedule
PLAN = (FaultStep("a", 0.1), FaultStep("b", 0.3, 10.0), FaultStep("c", 0.5))


def test_schedule_waits_for_the_share_of_terminal_jobs() -> None:
    schedule = Schedule(PLAN, min_gap_s=5, max_gap_s=20)
    assert schedule.due(0.0, 0.05, recovered=True) is None
    assert schedule.due(0.0, 0.1, recovered=True) == PLAN[0]


def test_schedule_runs_one_fault_at_a_time_in_order() -> None:
    schedule = Schedule(PLAN, min_gap_s=5, max_gap_s=20)
    schedule.started(PLAN[0])
    assert schedule.active == PLAN[0]
    assert schedule.due(100.0, 1.0, recovered=True) is None
    with pytest.raises(ValueError):
        schedule.started(PLAN[2])
    schedule.ended(10.0)
    assert schedule.pending() == list(PLAN[1:])


def test_schedule_gap_min_then_recovery_then_max() -> None:
    schedule = Schedule(PLAN, min_gap_s=5, max_gap_s=20)
    schedule.started(PLAN[0])
    schedule.ended(10.0)
    assert schedule.due(14.9, 1.0, recovered=True) is None  # inside the least gap
    assert schedule.due(15.0, 1.0, recovered=True) == PLAN[1]
    assert schedule.due(29.9, 1.0, recovered=False) is None  # waiting for recovery
    assert schedule.due(30.0, 1.0, recovered=False) == PLAN[1]  # waited long enough
    for step in PLAN[1:]:
        schedule.started(step)
        schedule.ended(100.0)
    assert schedule.due(1000.0, 1.0, recovered=True) is None
    assert schedule.pending() == []


# --------------------------------------------------------------------------- recovery
def _steady(since: float, until: float, per_s: float) -> list[float]:
    count = round((until - since) * per_s)
    return [since + i / per_s for i in range(count)]


def test_recovery_is_the_time_until_the_rate_is_back() -> None:
    # 10 jobs/s, nothing during the fault [100, 160), nothing for 7 s more, then 10/s again.
    times = _steady(0, 100, 10) + _steady(167, 260, 10)
    measured = recovery(times, began=100, ended=160, done_at=times[-1])
    assert measured.how == RATE
    assert measured.baseline_rate == pytest.approx(10)
    assert measured.recovery_s == pytest.approx(7, abs=0.2)


def test_recovery_is_zero_when_the_rate_never_dropped() -> None:
    times = _steady(0, 200, 10)
    measured = recovery(times, began=100, ended=110, done_at=times[-1])
    assert measured.how == RATE and measured.recovery_s == 0


def test_recovery_counts_a_slow_drain_to_the_last_job() -> None:
    times = [*_steady(0, 100, 10), 170.0, 180.0, 190.0]
    measured = recovery(times, began=100, ended=160, done_at=190.0)
    assert measured.how == DRAINED and measured.recovery_s == pytest.approx(30)


def test_recovery_of_a_quick_tail_uses_a_window_cut_at_the_end() -> None:
    # The last 20 jobs complete in the 2 s after the fault: back at once, not "drained".
    times = _steady(0, 100, 10) + _steady(160, 162, 10)
    measured = recovery(times, began=100, ended=160, done_at=times[-1])
    assert measured.how == RATE and measured.recovery_s == 0


def test_recovery_without_baseline_or_end() -> None:
    assert recovery([50.0], began=10, ended=20, done_at=50.0).how == NO_BASELINE
    times = _steady(0, 100, 10)
    stuck = recovery(times, began=100, ended=160, done_at=None)
    assert stuck.how == NOT_RECOVERED and stuck.recovery_s is None


def test_recovery_online_counts_only_closed_windows() -> None:
    times = _steady(0, 100, 10) + _steady(165, 180, 10)
    assert recovery(times, began=100, ended=160, done_at=None, now=170).recovered_at is None
    online = recovery(times, began=100, ended=160, done_at=None, now=176)
    assert online.recovery_s == pytest.approx(5)


def test_rate_counts_half_open_windows() -> None:
    assert rate([1.0, 2.0, 3.0], 1.0, 3.0) == 1.0
    assert rate([1.0], 5.0, 5.0) == 0.0


# --------------------------------------------------------------------------- locate
def _producer(redis_url: str, prefix: str) -> Celery:
    settings = Settings(redis_url=SecretStr(redis_url), key_prefix=prefix)
    app = Celery("chaos-test", set_as_current=False)
    app.conf.update(celery_config(settings, TASK_QUEUES))
    return app


def test_locate_finds_messages_waiting_jobs_and_lost_ones(
    redis_url: str, redis_prefix: str, redis_client: redis.Redis
) -> None:
    queued, held, waiting, admitted, lost = (uuid.uuid4().hex for _ in range(5))
    WaitingRoom(redis_client, redis_prefix).park(
        waiting, "wan2.7-image", "bulk", "default", 1.0, first=False
    )
    redis_client.zadd(f"{redis_prefix}admitted", {admitted: 1})
    app = _producer(redis_url, redis_prefix)
    try:
        app.send_task(TASK_STORE, args=[queued])
        app.send_task(TASK_POLL, args=[held, "token"], countdown=30)
        # A worker takes the poll and holds it unacked (closing the channel would hand it back).
        with app.connection() as conn:
            message = None
            for _ in range(50):
                message = conn.default_channel.basic_get(QUEUE_POLL, no_ack=False)
                if message is not None:
                    break
            assert message is not None
            where = locate(redis_client, redis_prefix, [queued, held, waiting, admitted, lost])
    finally:
        app.close()
    assert where[queued] == [f"queued:{TASK_STORE}"]
    assert where[held] == [f"unacked:{TASK_POLL}"]
    assert where[waiting] == [WAITING_ROOM]
    assert where[admitted] == [ADMITTED]
    assert where[lost] == [NOWHERE]


def test_message_job_ignores_what_is_not_a_task_message() -> None:
    assert message_job("not json") is None
    assert message_job('{"body": "bm90IGpzb24="}') is None
    assert message_job(uuid.uuid4().hex) is None


# --------------------------------------------------------------------------- the probe
def test_probe_counts_leases_messages_and_waiting_jobs(
    redis_url: str, redis_prefix: str, redis_client: redis.Redis
) -> None:
    redis_client.zadd(f"{redis_prefix}limit:acct:wan2.7-image:leases", {"j1": 1, "j2": 2})
    WaitingRoom(redis_client, redis_prefix).park(
        uuid.uuid4().hex, "wan2.7-image", "bulk", "default", 1.0, first=False
    )
    app = _producer(redis_url, redis_prefix)
    try:
        app.send_task(TASK_STORE, args=[uuid.uuid4().hex])
    finally:
        app.close()
    sample = Probe(redis_client, redis_prefix, "acct", "wan2.7-image").sample()
    assert sample == {"leases": 2, "unacked": 0, "queued": 1, "waiting": 1, "admitted": 0}


# --------------------------------------------------------------------------- the ledger
def test_by_time_matches_each_task_to_a_distinct_job_whose_submit_began_just_before() -> None:
    tasks = [("t1", 105.0), ("t2", 105.5), ("t3", 300.0)]
    jobs = [("a", 100.0), ("b", 101.0), ("c", 250.0)]
    matched = by_time(tasks, jobs, window_s=(9.0, 2.0))
    assert matched == {"t1": "b", "t2": "a"}  # t3: no submit began in [291, 302]
    assert by_time([("t1", 105.0)], [("a", 108.0)], window_s=(9.0, 2.0)) == {}


def test_sweep_counts_reads_the_sweepers_counters(
    redis_prefix: str, redis_client: redis.Redis
) -> None:
    redis_client.set(f"{redis_prefix}stats:sweep:restored", 2)
    redis_client.set(f"{redis_prefix}stats:sweep:reparked", 1)
    redis_client.set(f"{redis_prefix}stats:orphan_suspects", 5)
    assert sweep_counts(redis_client, redis_prefix) == {"reparked": 1, "restored": 2}
