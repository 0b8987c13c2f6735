"""JobRecord: built with every check, stored as a hash, read back without running them again."""

from __future__ import annotations

import json

import pytest
from pydantic import ValidationError

from workers.contract import EditRequest, JobRecord, JobState, JobUsage
from workers.contract.models import ModelName
from workers.contract.records import (
    _FIELD_DECODERS,
    _REQUEST_DECODERS,
    encode_field,
    from_hash,
    to_hash,
)
from workers.upstream import Usage

REQUEST = EditRequest.model_validate(
    {"model": "wan2.7-image", "prompt": "white background", "images": ["https://x.test/a.png"]}
)


def job(**fields: object) -> JobRecord:
    return JobRecord.model_validate({"request": REQUEST, **fields})


def test_record_defaults_and_round_trip_through_a_hash() -> None:
    record = job(
        custom_id="sku-1",
        batch="spring",
        usage=JobUsage(image_count=2, size="1024*1024", total_tokens=10),
        result_urls=("https://r/1.png", "https://r/2.png"),
        object_keys=("out/1.png",),
        checksums=("ab" * 32,),
        timestamps={JobState.QUEUED: 1.5, JobState.SUBMITTING: 2.5},
        state=JobState.PENDING,
        attempts=2,
        polls=3,
        task_id="t-1",
        request_id="r-1",
        error_code="Why",
        error_message="because",
        updated_at=3.25,
        intent_at=2.5,
        poll_token="tok",
    )
    assert len(record.job_id) == 32
    assert from_hash(to_hash(record)) == record
    encoded = {key.encode(): value.encode() for key, value in to_hash(record).items()}
    assert from_hash(encoded) == record


def test_record_refuses_local_sources_and_bad_names() -> None:
    local = REQUEST.model_copy(update={"images": ("/tmp/a.png",)})
    with pytest.raises(ValidationError, match="stage local files"):
        JobRecord(request=local)
    s3 = REQUEST.model_copy(update={"images": ("s3://bucket/in/a.png",)})
    assert JobRecord(request=s3).request.images == ("s3://bucket/in/a.png",)
    with pytest.raises(ValidationError):
        job(custom_id="has space")
    with pytest.raises(ValidationError):
        job(job_id="not-hex")


def test_record_json_is_json_safe() -> None:
    record = job(timestamps={JobState.QUEUED: 1.0})
    assert JobRecord.model_validate_json(record.model_dump_json()) == record


# --- reading back without validating ---------------------------------------------------


def test_every_field_has_a_decoder() -> None:
    assert set(_FIELD_DECODERS) == set(JobRecord.model_fields) - {"timestamps"}
    assert set(_REQUEST_DECODERS) == set(EditRequest.model_fields)


def test_every_request_field_comes_back_with_its_type() -> None:
    """Every field set (no model accepts them all together: built without the rules)."""
    values = {
        "model": ModelName.WAN26,
        "prompt": "p",
        "images": ("https://x.test/a.png", "s3://b/k.png"),
        "negative_prompt": "n",
        "size": "2K",
        "n": 2,
        "seed": 7,
        "watermark": False,
        "prompt_extend": True,
        "thinking_mode": True,
        "enable_sequential": False,
        "enable_interleave": True,
        "max_images": 3,
        "bbox_list": (((1, 2, 3, 4), (5, 6, 7, 8)), ()),
    }
    assert set(values) == set(EditRequest.model_fields)
    request = EditRequest.model_construct(**values)
    fields = {**to_hash(job()), "request": request.model_dump_json()}
    back = from_hash(fields)
    assert back.request == request
    assert back.request.model is ModelName.WAN26
    assert type(back.request.images) is tuple
    assert back.request.bbox_list is not None
    assert all(type(box) is tuple for boxes in back.request.bbox_list for box in boxes)
    assert back.request.protocol is REQUEST.model_copy(update={"model": ModelName.WAN26}).protocol


def test_a_stored_record_loads_even_if_it_breaks_todays_rules() -> None:
    """A rule tightened after a job was stored must not make the job unreadable."""
    fields = to_hash(job(custom_id="sku-9"))
    request = json.loads(fields["request"])
    request.update(n=99, seed=-5, images=["/tmp/local.png"], removed_field="gone")
    fields["request"] = json.dumps(request)
    fields["job_id"] = "legacy-id"  # breaks the job_id pattern
    fields["no_longer_a_field"] = "x"
    fields["usage"] = json.dumps({"image_count": 1, "characters": 10})
    with pytest.raises(ValidationError):
        EditRequest.model_validate({k: v for k, v in request.items() if k != "removed_field"})

    record = from_hash(fields)

    assert (record.job_id, record.custom_id) == ("legacy-id", "sku-9")
    assert (record.request.n, record.request.seed) == (99, -5)
    assert record.request.images == ("/tmp/local.png",)
    assert record.usage == JobUsage(image_count=1)


def test_undecodable_fields_are_errors() -> None:
    fields = to_hash(job())
    with pytest.raises(ValueError):
        from_hash({**fields, "state": "NOT_A_STATE"})
    with pytest.raises(ValueError):
        from_hash({**fields, "attempts": "many"})


# --- usage ------------------------------------------------------------------------------


def test_job_usage_ignores_unknown_counters() -> None:
    assert JobUsage.model_validate({"image_count": 1, "characters": 3}) == JobUsage(image_count=1)


def test_job_usage_takes_the_upstream_usage_as_is() -> None:
    upstream = Usage.model_validate({"image_count": 2, "size": "1*1", "characters": 3})
    assert JobUsage.model_validate(upstream) == JobUsage(image_count=2, size="1*1")
    assert JobUsage(**upstream.model_dump()) == JobUsage(image_count=2, size="1*1")
    encoded = encode_field("usage", upstream)
    assert encoded is not None and json.loads(encoded)["image_count"] == 2
    assert job(usage=upstream).usage == JobUsage(image_count=2, size="1*1")


def test_job_usage_keeps_every_upstream_counter() -> None:
    """The record keeps every counter the upstream client parses (else it is dropped)."""
    assert set(Usage.model_fields) <= set(JobUsage.model_fields)
