"""Image source kinds and job states."""

from __future__ import annotations

import pytest

from workers.contract import TERMINAL_STATES, JobState, SourceKind, source_kind
from workers.errors import InputInvalid


@pytest.mark.parametrize(
    ("src", "kind"),
    [
        ("https://example.com/a.png", SourceKind.HTTP),
        ("HTTP://example.com/a.png?x=1", SourceKind.HTTP),
        ("data:image/jpeg;base64,/9j/", SourceKind.DATA_URI),
        ("data:image/bmp;base64,Qk0=", SourceKind.DATA_URI),
        ("s3://bucket/dir/a.png", SourceKind.S3),
        ("file:///home/images/test.png", SourceKind.LOCAL),
        ("file://./images/test.png", SourceKind.LOCAL),
        ("images/test.png", SourceKind.LOCAL),
        ("/abs/test.png", SourceKind.LOCAL),
        ("C:\\images\\test.png", SourceKind.LOCAL),
    ],
)
def test_source_kinds(src: str, kind: SourceKind) -> None:
    assert source_kind(src) is kind


@pytest.mark.parametrize(
    "src",
    [
        "",
        " ",
        "oss://dashscope-instant/a.png",
        "ftp://host/a.png",
        "https://",
        "s3://bucket",
        "s3://bucket/",
        "file://",
        "data:image/gif;base64,R0lG",
        "data:image/jpg;base64,/9j/",
        "data:image/png,raw",
        "a\x00b.png",
    ],
)
def test_refused_sources(src: str) -> None:
    with pytest.raises(InputInvalid) as caught:
        source_kind(src, "images[3]")
    assert caught.value.field == "images[3]"


def test_job_states() -> None:
    assert [state.value for state in JobState] == [
        "QUEUED",
        "SUBMITTING",
        "PENDING",
        "RUNNING",
        "STORING",
        "SUCCEEDED",
        "FAILED",
        "CANCELED",
        "EXPIRED",
    ]
    assert frozenset({"SUCCEEDED", "FAILED", "CANCELED", "EXPIRED"}) == TERMINAL_STATES
    assert JobState("RUNNING") not in TERMINAL_STATES
