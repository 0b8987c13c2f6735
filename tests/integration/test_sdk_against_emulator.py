"""The official dashscope SDK (1.x-style API) against a real emulator subprocess.

What passes here is what the provider's own examples do, so code written against the emulator
also works against the real service (and the emulator answers in the shapes the SDK parses).
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import dashscope
import httpx
import pytest
from dashscope import ImageSynthesis
from dashscope.aigc.image_generation import ImageGeneration
from dashscope.api_entities.dashscope_response import ImageGenerationResponse, Message

from tests.integration.emulator_harness import (
    FAST_MODELS,
    RunningEmulator,
    png_bytes,
    png_size,
    wait_for,
)

pytestmark = pytest.mark.integration

# The provider's examples (wan-image-edit-api.txt); these hosts are not reachable from here,
# so the emulator accepts them without fetching.
DOC_CAR = (
    "https://help-static-aliyun-doc.aliyuncs.com/file-manage-files/zh-CN/20251229/pjeqdf/car.webp"
)
DOC_PAINT = (
    "https://help-static-aliyun-doc.aliyuncs.com/file-manage-files/zh-CN/20251229/xsunlm/paint.webp"
)
ALICDN_1 = "https://img.alicdn.com/imgextra/i3/O1CN0157XGE51l6iL9441yX_!!6000000004770-49-tps-1104-1472.webp"
ALICDN_2 = "https://img.alicdn.com/imgextra/i3/O1CN01SfG4J41UYn9WNt4X1_!!6000000002530-49-tps-1696-960.webp"
CANCEL_MESSAGE = "Failed to cancel the task, please confirm if the task is in PENDING status."


@pytest.fixture
def sdk(emulator: RunningEmulator, monkeypatch: pytest.MonkeyPatch) -> RunningEmulator:
    """The shared emulator, with the SDK's base URL pointed at it."""
    monkeypatch.setattr(dashscope, "base_http_api_url", emulator.base_url)
    return emulator


def _one(
    response: ImageGenerationResponse | Iterator[ImageGenerationResponse],
) -> ImageGenerationResponse:
    """Narrow the SDK's union return type to its non-streaming answer."""
    assert isinstance(response, ImageGenerationResponse)
    return response


def _message(text: str, *images: str) -> Message:
    return Message(role="user", content=[{"text": text}, *({"image": i} for i in images)])


def _first_image(response: Any) -> str:
    url: str = response.output.choices[0]["message"]["content"][0]["image"]
    return url


def _download_png(url: str) -> tuple[int, int]:
    response = httpx.get(url, timeout=15.0)
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "image/png"
    return png_size(response.content)


def _size(text: str) -> tuple[int, int]:
    width, height = text.split("*")
    return int(width), int(height)


def test_async_call_fetch_wait_with_two_input_images(
    sdk: RunningEmulator, image_urls: dict[str, str]
) -> None:
    message = _message(
        "Spray the graffiti from image 2 onto the car in image 1",
        image_urls["car"],
        image_urls["paint"],
    )
    created = _one(
        ImageGeneration.async_call(
            model="wan2.7-image-pro",
            api_key=sdk.api_key,
            messages=[message],
            watermark=False,
            n=1,
            size="2K",
        )
    )
    assert created.status_code == 200, created
    assert created.output.task_status == "PENDING"
    assert created.request_id

    fetched = ImageGeneration.fetch(created, api_key=sdk.api_key)
    assert fetched.status_code == 200
    assert fetched.output.task_id == created.output.task_id
    assert fetched.output.task_status in {"PENDING", "RUNNING", "SUCCEEDED"}

    done = ImageGeneration.wait(created, api_key=sdk.api_key)
    assert done.output.task_status == "SUCCEEDED", done
    assert done.output.finished is True
    assert done.usage.image_count == 1
    width, height = _size(done.usage.size)
    assert height > width, "2K follows the aspect ratio of the last (portrait) input image"
    assert _download_png(_first_image(done)) == (width, height)


def test_provider_examples_with_unreachable_urls_are_accepted(sdk: RunningEmulator) -> None:
    created = _one(
        ImageGeneration.async_call(
            model="wan2.7-image-pro",
            api_key=sdk.api_key,
            messages=[
                _message("Spray-paint the graffiti from image 2 onto the car", DOC_CAR, DOC_PAINT)
            ],
            watermark=False,
            n=1,
            size="2K",
            thinking_mode=True,
        )
    )
    assert created.status_code == 200, created
    assert ImageGeneration.wait(created, api_key=sdk.api_key).output.task_status == "SUCCEEDED"

    result = ImageSynthesis.call(
        api_key=sdk.api_key,
        model="wan2.5-i2i-preview",
        prompt="Place the alarm clock from image 1 beside the vase on the dining table in image 2.",
        images=[ALICDN_1, ALICDN_2],
        negative_prompt="",
        n=1,
        prompt_extend=True,
        watermark=False,
        seed=12345,
    )
    assert result.status_code == 200, result
    assert result.output.task_status == "SUCCEEDED"
    assert result.output.results[0].url.startswith(sdk.root_url)


def test_image_synthesis_wan25(sdk: RunningEmulator, image_urls: dict[str, str]) -> None:
    created = ImageSynthesis.async_call(
        api_key=sdk.api_key,
        model="wan2.5-i2i-preview",
        prompt="Place the car from image 1 in the painting of image 2",
        images=[image_urls["car"], image_urls["paint"]],
        n=2,
        seed=7,
    )
    assert created.status_code == 200, created
    done = ImageSynthesis.wait(created, api_key=sdk.api_key)
    assert done.output.task_status == "SUCCEEDED", done
    assert done.output.task_metrics == {"TOTAL": 2, "SUCCEEDED": 2, "FAILED": 0}
    assert done.usage.image_count == 2
    results = done.output.results
    assert [r.orig_prompt for r in results] == [
        "Place the car from image 1 in the painting of image 2"
    ] * 2
    assert all(r.actual_prompt for r in results)
    images = [httpx.get(r.url, timeout=15.0).content for r in results]
    assert images[0] != images[1], "each image of a task is rendered differently"
    assert png_size(images[0]) == png_size(images[1])


def test_local_file_is_uploaded_through_the_policy(sdk: RunningEmulator, tmp_path: Path) -> None:
    path = tmp_path / "local car.png"
    path.write_bytes(png_bytes(400, 600))
    created = _one(
        ImageGeneration.async_call(
            model="wan2.7-image",
            api_key=sdk.api_key,
            messages=[_message("Make the car blue", f"file://{path}")],
            size="1K",
        )
    )
    assert created.status_code == 200, created
    done = ImageGeneration.wait(created, api_key=sdk.api_key)
    assert done.output.task_status == "SUCCEEDED", done
    width, height = _size(done.usage.size)
    assert height > width, "the uploaded bytes were resolved (portrait input, portrait output)"
    uploads = sdk.stats()["uploads"]
    assert uploads["policies_issued"] == 1
    assert uploads["files_stored"] == 1


def test_cancel_of_a_finished_task_is_refused(sdk: RunningEmulator) -> None:
    created = _one(
        ImageGeneration.async_call(
            model="wan2.7-image", api_key=sdk.api_key, messages=[_message("Add a hat")]
        )
    )
    ImageGeneration.wait(created, api_key=sdk.api_key)
    response = ImageGeneration.cancel(created, api_key=sdk.api_key)
    assert response.status_code == 400
    assert response.code == "UnsupportedOperation"
    assert response.message == CANCEL_MESSAGE


def test_cancel_of_a_pending_task(sdk: RunningEmulator) -> None:
    sdk.set_config(
        {
            "accounts": [
                {
                    "name": "default",
                    "api_keys": [sdk.api_key],
                    "query_qps": 0,
                    "limits": {"*": {"max_concurrent": 1, "on_concurrency": "queue"}},
                }
            ],
            "models": {"*": {"pending": {"median_s": 0.0}, "running": {"median_s": 1.0}}},
        }
    )
    first = _one(
        ImageGeneration.async_call(
            model="wan2.7-image", api_key=sdk.api_key, messages=[_message("First")]
        )
    )
    queued = _one(
        ImageGeneration.async_call(
            model="wan2.7-image", api_key=sdk.api_key, messages=[_message("Second")]
        )
    )
    assert ImageGeneration.fetch(queued, api_key=sdk.api_key).output.task_status == "PENDING"
    canceled = ImageGeneration.cancel(queued, api_key=sdk.api_key)
    assert canceled.status_code == 200, canceled
    assert canceled.request_id
    assert ImageGeneration.fetch(queued, api_key=sdk.api_key).output.task_status == "CANCELED"
    assert ImageGeneration.wait(first, api_key=sdk.api_key).output.task_status == "SUCCEEDED"


def test_unknown_task_id(sdk: RunningEmulator) -> None:
    task_id = "00000000-0000-4000-8000-000000000000"
    fetched = ImageGeneration.fetch(task_id, api_key=sdk.api_key)
    assert fetched.status_code == 200
    assert fetched.output.task_id == task_id
    assert fetched.output.task_status == "UNKNOWN"
    assert ImageGeneration.wait(task_id, api_key=sdk.api_key).output.task_status == "UNKNOWN"


def test_bad_api_key(sdk: RunningEmulator) -> None:
    response = _one(
        ImageGeneration.async_call(
            model="wan2.7-image", api_key="sk-not-a-key", messages=[_message("Add a hat")]
        )
    )
    assert response.status_code == 401
    assert response.code == "InvalidApiKey"
    assert response.message == "Invalid API-key provided."
    assert response.request_id


def test_list_with_filters(sdk: RunningEmulator, image_urls: dict[str, str]) -> None:
    start = time.strftime("%Y%m%d%H%M%S", time.localtime(time.time() - 1))
    task_ids: list[str] = [
        _one(
            ImageGeneration.async_call(
                model="wan2.7-image", api_key=sdk.api_key, messages=[_message(f"Edit {i}")]
            )
        ).output.task_id
        for i in range(2)
    ]
    i2i = ImageSynthesis.async_call(
        api_key=sdk.api_key,
        model="wan2.5-i2i-preview",
        prompt="Blend",
        images=[image_urls["square"]],
        n=1,
    )
    task_ids.append(i2i.output.task_id)
    for task_id in task_ids:
        ImageGeneration.wait(task_id, api_key=sdk.api_key)
    end = time.strftime("%Y%m%d%H%M%S", time.localtime(time.time() + 1))

    only_i2i = ImageGeneration.list(
        api_key=sdk.api_key,
        start_time=start,
        end_time=end,
        model_name="wan2.5-i2i-preview",
        status="SUCCEEDED",
    )
    assert only_i2i.status_code == 200, only_i2i
    assert only_i2i.output["total"] == 1
    item = only_i2i.output["data"][0]
    assert item["task_id"] == task_ids[2]
    assert item["status"] == "SUCCEEDED"
    assert item["region"] == "ap-southeast-1"
    assert item["gmt_create"] <= item["start_time"] <= item["end_time"]

    paged = ImageGeneration.list(api_key=sdk.api_key, page_no=2, page_size=2)
    assert (paged.output["total"], paged.output["total_page"]) == (3, 2)
    assert [d["task_id"] for d in paged.output["data"]] == [task_ids[0]]

    future = time.strftime("%Y%m%d%H%M%S", time.localtime(time.time() + 3600))
    assert ImageGeneration.list(api_key=sdk.api_key, start_time=future).output["total"] == 0


def test_sync_call(sdk: RunningEmulator) -> None:
    response = _one(
        ImageGeneration.call(
            model="wan2.7-image",
            api_key=sdk.api_key,
            messages=[
                _message(
                    "Apply the graffiti from image 2 onto the car in image 1", DOC_CAR, DOC_PAINT
                )
            ],
            watermark=False,
            n=1,
            size="2K",
        )
    )
    assert response.status_code == 200, response
    assert response.output.finished is True
    assert response.output.choices[0]["finish_reason"] == "stop"
    assert response.usage.image_count == 1
    assert _download_png(_first_image(response)) == _size(response.usage.size)
    assert "task_id" not in response.output


def test_sync_call_streaming(sdk: RunningEmulator) -> None:
    frames = list(
        ImageGeneration.call(
            model="wan2.7-image",
            api_key=sdk.api_key,
            messages=[_message("Two variants of a red car")],
            n=2,
            size="1K",
            stream=True,
        )
    )
    assert [f.status_code for f in frames] == [200, 200]
    assert [f.output.finished for f in frames] == [False, True]
    urls = [_first_image(f) for f in frames]
    assert len(set(urls)) == 2
    assert _download_png(urls[1]) == (1024, 1024)


def test_wait_rides_out_a_query_outage(sdk: RunningEmulator) -> None:
    sdk.set_config({"models": FAST_MODELS})
    created = _one(
        ImageGeneration.async_call(
            model="wan2.7-image", api_key=sdk.api_key, messages=[_message("Add a hat")]
        )
    )
    sdk.outage(1.5, groups=["query"])
    assert ImageGeneration.fetch(created, api_key=sdk.api_key).status_code == 503
    done = ImageGeneration.wait(created, api_key=sdk.api_key)  # the SDK retries 503
    assert done.output.task_status == "SUCCEEDED"
    wait_for(lambda: sdk.stats()["faults"].get("query", {}).get("outage", 0) >= 1)


def test_sdk_resends_a_submit_whose_answer_was_lost(sdk: RunningEmulator) -> None:
    """SDK 1.x resends a POST once when the connection drops before the answer (its
    ``_send_with_retry``), so one ambiguous submit bills two tasks. The project's own client
    must not do that."""
    sdk.patch_config({"faults": {"submit": {"drop_after_rate": 1.0}}})
    with pytest.raises(OSError):  # requests.ConnectionError after the second drop
        ImageGeneration.async_call(
            model="wan2.7-image", api_key=sdk.api_key, messages=[_message("Add a hat")], n=1
        )
    stats = sdk.model_stats("wan2.7-image")
    assert stats["submits_accepted"] == 2, "one call, two tasks created and billed"


def test_sdk_wait_returns_a_query_throttle(sdk: RunningEmulator) -> None:
    """``wait()`` retries only 503/504; a 429 from the query budget ends it."""
    sdk.set_config(
        {
            "accounts": [{"name": "default", "api_keys": [sdk.api_key], "query_qps": 0.1}],
            "models": FAST_MODELS,
        }
    )
    created = _one(
        ImageGeneration.async_call(
            model="wan2.7-image", api_key=sdk.api_key, messages=[_message("Add a hat")], n=1
        )
    )
    answer = ImageGeneration.wait(created, api_key=sdk.api_key)
    assert answer.status_code == 429
    assert answer.code == "Throttling"
