"""config.celery: the worker configuration as a pure function of the settings."""

from __future__ import annotations

import pytest
from celery import Celery
from pydantic import SecretStr

from config import PipelineSettings, Settings, UpstreamSettings
from config.celery import (
    celery_config,
    longest_countdown_s,
    reconcile_after_s,
    submit_settle_s,
)
from workers.contract.names import QUEUES, TASK_QUEUES


def settings(**pipeline: float) -> Settings:
    return Settings(
        redis_url=SecretStr("redis://:pw@127.0.0.1:6379/3"),
        key_prefix="wq:",
        pipeline=PipelineSettings(**pipeline),
    )


def test_the_workload_settings() -> None:
    conf = celery_config(settings(), TASK_QUEUES)
    assert conf["broker_url"] == "redis://:pw@127.0.0.1:6379/3"
    assert conf["accept_content"] == ["json"] and conf["task_serializer"] == "json"
    assert conf["task_acks_late"] and conf["task_reject_on_worker_lost"]
    assert conf["worker_prefetch_multiplier"] == 1
    assert conf["task_ignore_result"] and conf["result_backend"] is None
    assert conf["worker_send_task_events"] and conf["task_send_sent_event"]
    assert conf["task_track_started"] is False
    assert conf["worker_eta_task_limit"] == 1000
    assert conf["worker_soft_shutdown_timeout"] == 20.0
    assert conf["worker_enable_soft_shutdown_on_idle"] is True
    options = conf["broker_transport_options"]
    assert options["visibility_timeout"] == 3600
    assert options["global_keyprefix"] == "wq:"
    assert options["unacked_restore_interval"] == 60 and options["unacked_restore_throttle"] == 1
    assert options["socket_timeout"] > 1 and options["health_check_interval"] == 25
    assert {route["queue"] for route in conf["task_routes"].values()} == set(QUEUES)


def test_every_countdown_is_inside_the_visibility_timeout() -> None:
    s = settings()
    assert submit_settle_s(s) == 10 + 5 + 30 + 30 + 30
    assert reconcile_after_s(s) == submit_settle_s(s) + 30
    assert longest_countdown_s(s) == reconcile_after_s(s)
    with pytest.raises(ValueError, match="visibility_timeout_s"):
        celery_config(settings(visibility_timeout_s=60), TASK_QUEUES)
    with pytest.raises(ValueError, match="visibility_timeout_s"):
        celery_config(settings(retry_backoff_max_s=4000), TASK_QUEUES)
    short = Settings(
        upstream=UpstreamSettings(
            connect_timeout_s=1, read_timeout_s=3, write_timeout_s=1, pool_timeout_s=1
        ),
        pipeline=PipelineSettings(
            visibility_timeout_s=15,
            reconcile_margin_s=1,
            retry_backoff_max_s=2,
            max_poll_interval_s=5,
        ),
    )
    assert (
        celery_config(short, TASK_QUEUES)["broker_transport_options"]["unacked_restore_interval"]
        == 1
    )


def test_a_lease_must_outlive_a_dead_workers_messages() -> None:
    s = settings()
    longest = longest_countdown_s(s)
    assert s.pipeline.lease_ttl_s > s.pipeline.visibility_timeout_s + longest  # the defaults
    celery_config(settings(lease_ttl_s=3600 + longest + 1), TASK_QUEUES)
    for lease_ttl_s in (600.0, 3600 + longest):
        with pytest.raises(ValueError, match=r"lease_ttl_s .*visibility_timeout_s"):
            celery_config(settings(lease_ttl_s=lease_ttl_s), TASK_QUEUES)


def test_no_setting_without_effect_on_the_threads_pool() -> None:
    assert "worker_cancel_long_running_tasks_on_connection_loss" not in celery_config(
        settings(), TASK_QUEUES
    )


def test_every_key_is_a_real_celery_setting() -> None:
    app = Celery("check", set_as_current=False)
    known = set(app.conf.keys())
    for key in celery_config(settings(), TASK_QUEUES):
        assert key in known, key
    app.conf.update(celery_config(settings(), TASK_QUEUES))
    assert app.conf.worker_eta_task_limit == 1000
