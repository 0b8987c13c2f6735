"""ResultFetcher against httpx.MockTransport: allowed hosts, redirects, size cap, errors."""

from __future__ import annotations

import hashlib
import io

import httpx
import pytest

from config import ResultsSettings
from workers.errors import ResultExpired, ResultRefused, UpstreamUnavailable
from workers.fetch import ResultFetcher, host_allowed, shown
from workers.upstream.translate import TRANSLATED_EXCEPTIONS

DATA = b"\x89PNG" + b"x" * 1000
URL = "https://dashscope-result.oss-cn-singapore.aliyuncs.com/1.png?Expires=1&Signature=SECRET"


def fetcher(handler: httpx.MockTransport, max_bytes: int = 10_000) -> ResultFetcher:
    return ResultFetcher(ResultsSettings(max_bytes=max_bytes), transport=handler)


def answer(status: int, content: bytes = b"", **headers: str) -> httpx.MockTransport:
    return httpx.MockTransport(
        lambda request: httpx.Response(status, content=content, headers=headers)
    )


@pytest.mark.parametrize(
    ("host", "allowed"),
    [
        ("a.oss-cn-beijing.aliyuncs.com", True),
        ("aliyuncs.com", False),
        ("evil-aliyuncs.com", False),
        ("ALIYUNCS.COM.evil.com", False),
        ("127.0.0.1", False),
    ],
)
def test_host_patterns(host: str, allowed: bool) -> None:
    assert host_allowed(host, ("*.aliyuncs.com",)) is allowed
    assert host_allowed("127.0.0.1", ("127.0.0.1",))


def test_fetch_streams_and_hashes() -> None:
    sink = io.BytesIO()
    size, digest = fetcher(answer(200, DATA)).fetch(0, URL, sink)
    assert (size, digest) == (len(DATA), hashlib.sha256(DATA).hexdigest())
    assert sink.getvalue() == DATA


def test_refused_before_any_request() -> None:
    def never(request: httpx.Request) -> httpx.Response:
        raise AssertionError("no request expected")

    client = fetcher(httpx.MockTransport(never))
    with pytest.raises(ResultRefused, match="HostNotAllowed"):
        client.fetch(0, "https://example.com/1.png", io.BytesIO())
    with pytest.raises(ResultRefused, match="NotHttp"):
        client.fetch(0, "file:///etc/passwd", io.BytesIO())


@pytest.mark.parametrize(
    ("status", "error"),
    [
        (403, ResultExpired),
        (404, ResultExpired),
        (302, ResultRefused),
        (400, ResultRefused),
        (429, UpstreamUnavailable),
        (503, UpstreamUnavailable),
    ],
)
def test_statuses(status: int, error: type[Exception]) -> None:
    with pytest.raises(error) as caught:
        fetcher(answer(status, b"<Error/>", location="https://x/")).fetch(2, URL, io.BytesIO())
    assert "SECRET" not in str(caught.value)


def test_size_cap() -> None:
    with pytest.raises(ResultRefused, match="TooLarge"):
        fetcher(answer(200, DATA), max_bytes=100).fetch(0, URL, io.BytesIO())


def test_transport_errors_are_retryable_and_chained() -> None:
    def boom(request: httpx.Request) -> httpx.Response:
        raise httpx.ReadTimeout("slow", request=request)

    with pytest.raises(UpstreamUnavailable) as caught:
        fetcher(httpx.MockTransport(boom)).fetch(0, URL, io.BytesIO())
    assert isinstance(caught.value.__cause__, httpx.ReadTimeout)
    assert "SECRET" not in str(caught.value)


def test_shown_drops_the_signature() -> None:
    assert shown(URL) == URL.split("?")[0]


def _raising(exc: Exception) -> httpx.MockTransport:
    def handler(request: httpx.Request) -> httpx.Response:
        raise exc

    return httpx.MockTransport(handler)


def test_a_port_that_is_not_a_number_is_refused_before_any_request() -> None:
    called: list[httpx.Request] = []
    transport = httpx.MockTransport(lambda request: called.append(request) or httpx.Response(200))
    with pytest.raises(ResultRefused) as caught:
        fetcher(transport).fetch(0, "https://a.aliyuncs.com:abc/x.png", io.BytesIO())
    assert caught.value.reason == "InvalidURL" and called == []


@pytest.mark.parametrize(
    ("exc", "error"),
    [
        # Not httpx.HTTPError subclasses: they used to escape untranslated.
        (httpx.InvalidURL("Invalid port: 'abc'"), ResultRefused),
        (httpx.StreamConsumed(), ResultRefused),
        (httpx.StreamClosed(), ResultRefused),
        (httpx.ResponseNotRead(), ResultRefused),
        (httpx.CookieConflict("two cookies"), ResultRefused),
        # Transport failures of an idempotent download: try again.
        (httpx.ReadTimeout("slow"), UpstreamUnavailable),
        (httpx.RemoteProtocolError("cut"), UpstreamUnavailable),
        (httpx.UnsupportedProtocol("gopher"), ResultRefused),
    ],
)
def test_every_httpx_exception_is_translated_through_the_table(
    exc: Exception, error: type[Exception]
) -> None:
    with pytest.raises(error) as caught:
        fetcher(_raising(exc)).fetch(2, URL, io.BytesIO())
    assert caught.value.__cause__ is exc
    assert "SECRET" not in str(caught.value)


def test_every_class_httpx_exports_is_caught() -> None:
    exported = [
        value
        for name in httpx.__all__
        if isinstance(value := getattr(httpx, name), type) and issubclass(value, Exception)
    ]
    assert [cls for cls in exported if not issubclass(cls, TRANSLATED_EXCEPTIONS)] == []
