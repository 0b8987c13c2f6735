"""Fuzzing the Python API (``WanQueue.submit``, ``submit_many``) against a real Redis.

A bad job is refused with an InputInvalid naming its field and rule, and nothing of it is
recorded: no job record, no custom id, no place in the waiting room, no broker message (so
it can never reach the upstream). In ``submit_many``, the good jobs go in and every bad one is
reported with its position.
"""

from __future__ import annotations

import base64
from collections.abc import Iterator
from typing import Any

import pytest
import redis
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pydantic import SecretStr

from config import Settings
from producers import WanQueue
from tests.unit.fuzz_inputs import (
    BAD_JOB_FIELDS,
    BREAKERS,
    NOT_A_MAPPING,
    Bad,
    assert_refused,
    bad_jobs,
    clear,
    data_uri,
    encode,
    good_jobs,
    queued,
    url,
)
from workers.contract import EditRequest
from workers.errors import InputInvalid

WITH_REDIS = settings(
    max_examples=40,
    deadline=None,
    # The Redis fixtures are the test's, shared by its examples: each example starts by
    # deleting every key under the test's prefix, so no example sees another's jobs.
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)


@pytest.fixture
def queue(redis_url: str, redis_prefix: str) -> Iterator[WanQueue]:
    settings_ = Settings(redis_url=SecretStr(redis_url), key_prefix=redis_prefix)
    with WanQueue.from_settings(settings_) as wan_queue:
        yield wan_queue


def nothing_recorded(client: redis.Redis, prefix: str) -> None:
    assert list(client.scan_iter(match=f"{prefix}*")) == []


# --- submit -------------------------------------------------------------------------------


@pytest.mark.parametrize("breaker", sorted(BREAKERS))
@WITH_REDIS
@given(data=st.data())
def test_submit_refuses_a_bad_job_and_records_nothing(
    queue: WanQueue, redis_client: redis.Redis, redis_prefix: str, breaker: str, data: st.DataObject
) -> None:
    clear(redis_client, redis_prefix)
    bad = data.draw(bad_jobs(breaker))
    custom_id = data.draw(st.none() | st.just("sku-1"), label="custom_id")
    with pytest.raises(InputInvalid) as caught:
        queue.submit(bad.job, custom_id=custom_id, batch="fuzz")
    assert_refused(caught.value, bad)
    nothing_recorded(redis_client, redis_prefix)


@WITH_REDIS
@given(bad=NOT_A_MAPPING)
def test_submit_refuses_what_is_not_a_job(
    queue: WanQueue, redis_client: redis.Redis, redis_prefix: str, bad: Bad
) -> None:
    clear(redis_client, redis_prefix)
    with pytest.raises(InputInvalid) as caught:
        queue.submit(bad.job)
    assert_refused(caught.value, bad)
    nothing_recorded(redis_client, redis_prefix)


NAMES = st.one_of(
    st.sampled_from(["", "two words", "x" * 257, "tab\t", "bell\x07", "\ud800", "new\nline"]),
    st.integers(),
    st.lists(st.text(max_size=3), max_size=2),
)


@WITH_REDIS
@given(
    job=good_jobs(),
    option=st.sampled_from(["custom_id", "batch", "tenant", "priority"]),
    value=NAMES | st.text(max_size=8),
)
def test_submit_refuses_bad_options_naming_them(
    queue: WanQueue,
    redis_client: redis.Redis,
    redis_prefix: str,
    job: dict[str, Any],
    option: str,
    value: Any,
) -> None:
    clear(redis_client, redis_prefix)
    options: dict[str, Any] = {option: value}
    try:
        record = queue.submit(job, **options)
    except InputInvalid as exc:
        phrase = "'interactive' or 'bulk'" if option == "priority" else "1 to 256 printable"
        assert_refused(exc, Bad(job, option, phrase))
        nothing_recorded(redis_client, redis_prefix)
    else:
        assert getattr(record, option) == value
        assert isinstance(value, str) and 0 < len(value) <= 256 and value.isprintable()
        assert not any(c.isspace() for c in value)


# --- submit_many --------------------------------------------------------------------------


def truncated_png_request() -> EditRequest:
    """A request whose image only reading the bytes shows to be broken."""
    data = encode("PNG", "RGB", 600, 400)[:-40]
    source = f"data:image/png;base64,{base64.b64encode(data).decode()}"
    return EditRequest.model_validate({"model": "wan2.7-image", "prompt": "x", "images": [source]})


@st.composite
def batches(draw: st.DrawFn) -> tuple[list[Any], list[tuple[int, str, str]], list[str], int]:
    """Jobs for submit_many: (jobs, refusals expected as (position, field, words), custom
    ids of the good mappings, count of good request objects)."""
    jobs: list[Any] = []
    refused: list[tuple[int, str, str]] = []
    good: list[str] = []
    objects = 0
    kinds = ["good", "bad", "not a mapping", "job field", "request", "bad request"]
    for position in range(1, draw(st.integers(1, 12)) + 1):
        kind = draw(st.sampled_from(kinds))
        custom_id = f"item-{position}"
        if kind == "good":
            jobs.append({**draw(good_jobs()), "custom_id": custom_id})
            good.append(custom_id)
        elif kind == "bad":
            bad = draw(bad_jobs())
            jobs.append({**bad.job, "custom_id": custom_id})
            refused.append((position, bad.field, bad.phrase))
        elif kind == "not a mapping":
            bad = draw(NOT_A_MAPPING)
            jobs.append(bad.job)
            refused.append((position, bad.field, bad.phrase))
        elif kind == "job field":
            fields, field, phrase = draw(st.sampled_from(BAD_JOB_FIELDS))
            jobs.append({**draw(good_jobs()), "custom_id": custom_id, **fields})
            refused.append((position, field, phrase))
        elif kind == "request":
            jobs.append(EditRequest.model_validate(draw(good_jobs())))
            objects += 1
        else:
            jobs.append(truncated_png_request())
            refused.append((position, "images[0]", "complete, decodable"))
    return jobs, refused, good, objects


@WITH_REDIS
@given(batch=batches())
def test_submit_many_queues_the_good_jobs_and_reports_each_bad_one(
    queue: WanQueue,
    redis_client: redis.Redis,
    redis_prefix: str,
    batch: tuple[list[Any], list[tuple[int, str, str]], list[str], int],
) -> None:
    clear(redis_client, redis_prefix)
    jobs, refused, good, objects = batch
    report = queue.submit_many(jobs, batch="fuzz")
    assert [(e.line, e.error.field) for e in report.refused] == [
        (position, field) for position, field, _ in refused
    ], [str(e) for e in report.refused]
    for refusal, (_, _, phrase) in zip(report.refused, refused, strict=True):
        assert_refused(refusal.error, Bad(None, refusal.error.field, phrase))
    assert report.created == len(good) + objects and not report.unsent
    state = queued(redis_client, redis_prefix)
    assert set(state.custom_ids) == state.custom_keys == set(good)
    assert len(state.prompts) == report.created  # no record for a refused job
    assert state.parked == set(state.prompts) == set(report.job_ids)
    assert state.messages == 0


def test_a_job_given_as_request_object_is_still_checked_for_its_images(
    queue: WanQueue, redis_client: redis.Redis, redis_prefix: str
) -> None:
    request = EditRequest.model_validate(
        {
            "model": "wan2.5-i2i-preview",
            "prompt": "x",
            "images": [url(0), data_uri(encode("PNG", "RGBA", 600, 400), "image/png")],
        }
    )
    with pytest.raises(InputInvalid) as caught:
        queue.submit(request, custom_id="sku-alpha")
    assert_refused(caught.value, Bad(request, "images[1]", "PNG without alpha"))
    nothing_recorded(redis_client, redis_prefix)
