"""No secret in any error: every class of the error tree, built the way the code builds it.

Each error is produced by the adapter that raises it in production, from a realistic failure
that has a secret at hand: the DashScope client whose request carries ``Authorization:
Bearer <key>`` (answers that echo it back, transport errors that quote it), the boto3 client
signing with the S3 secret key, redis-py and kombu connecting with a password in the URL.
What is checked is everything a secret could leak through: ``str`` and ``repr``, the JSON of
``args`` (Celery's result and event payloads), the traceback with its chained causes (the
workers' log lines, Flower's task pages), Celery's own rendering of the exception, and the
message a job record keeps.
"""

from __future__ import annotations

import inspect
import json
import socket
import threading
import traceback
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from io import BytesIO
from typing import Any, ClassVar

import httpx
import pytest
import redis
from billiard.einfo import ExceptionInfo
from botocore.exceptions import ClientError
from celery import Celery
from celery.utils.saferepr import saferepr
from pydantic import SecretStr

import producers.errors
import workers.errors as errors
from adapters.s3 import s3_client
from adapters.s3 import translate as s3_translate
from config import ResultsSettings, S3Settings, Settings
from devstack.procs import free_port
from producers.sender import CelerySender
from workers.contract import source_kind
from workers.contract.redisio import translated as redis_translated
from workers.errors import WanqError
from workers.fetch import ResultFetcher
from workers.pipeline.outcomes import error_fields
from workers.redis_errors import translated as broker_translated
from workers.storage import S3Store
from workers.upstream import DashScopeClient

API_KEY = "sk-secretsunit0123456789abcdef"
OTHER_KEY = "sk-secretsunitsecondkey9876543210"
S3_KEY_ID = "AKIASECRETSUNIT"
S3_SECRET = "s3-secret-unit-Zm9vYmFyYmF6cXV4"
REDIS_PASSWORD = "redis-pw-unit-c2VjcmV0"
FLOWER_PASSWORD = "flower-pw-unit-aGlkZGVu"
URL_SIGNATURE = "Signature=sig-unit-abcdef"
SECRETS = (API_KEY, OTHER_KEY, S3_SECRET, REDIS_PASSWORD, FLOWER_PASSWORD, URL_SIGNATURE)
BASE = "https://dashscope.test/api/v1"
MESSAGES_BODY: dict[str, Any] = {
    "input": {"messages": [{"role": "user", "content": [{"text": "x"}, {"image": "https://e/a"}]}]}
}


def exposures(exc: BaseException) -> dict[str, str]:
    """Every rendering of ``exc`` that reaches a log, Flower, a message or a job record."""
    info = ExceptionInfo((type(exc), exc, exc.__traceback__))
    shown = {
        "str": str(exc),
        "repr": repr(exc),
        "args": json.dumps(exc.args, default=str),
        "traceback": "".join(traceback.format_exception(exc)),
        "celery traceback": info.traceback,
        "celery repr": saferepr(exc),
    }
    if isinstance(exc, WanqError):
        shown["job record"] = " ".join(error_fields(exc))
    return shown


def assert_no_secret(exc: BaseException) -> None:
    for where, text in exposures(exc).items():
        for secret in SECRETS:
            assert secret not in text, f"{type(exc).__name__}: {where} shows a secret: {text}"


def caught(call: Callable[[], object]) -> BaseException:
    """What ``call`` raised (with its traceback)."""
    try:
        call()
    except Exception as exc:
        return exc
    raise AssertionError("nothing raised")


def _raise(exc: Exception) -> None:
    raise exc


# --- DashScope: answers and transport errors with the key at hand --------------------------


def _client(handler: Callable[[httpx.Request], httpx.Response]) -> DashScopeClient:
    return DashScopeClient(
        BASE, (SecretStr(API_KEY), SecretStr(OTHER_KEY)), transport=httpx.MockTransport(handler)
    )


def _echo(status: int, code: str | None) -> Callable[[httpx.Request], httpx.Response]:
    """An answer that quotes the request's headers back (a proxy's error page, a service
    that repeats the key it refused)."""

    def handler(request: httpx.Request) -> httpx.Response:
        headers = "; ".join(f"{k}: {v}" for k, v in request.headers.items())
        if code is None:
            return httpx.Response(status, text=f"<html>{headers}</html>")
        body = {"code": code, "message": f"refused {headers}", "request_id": "rid-1"}
        return httpx.Response(status, json=body)

    return handler


def _raising(exc: Exception) -> Callable[[httpx.Request], httpx.Response]:
    def handler(request: httpx.Request) -> httpx.Response:
        auth = request.headers["Authorization"]
        try:
            raise OSError(f"connection to proxy failed while sending {auth}")
        except OSError as inner:
            raise exc from inner

    return handler


def upstream_errors() -> Iterator[BaseException]:
    answers = [
        (401, "InvalidApiKey"),
        (403, "AccessDenied"),
        (429, "Throttling.RateQuota"),
        (400, "InvalidParameter"),
        (503, "ServiceUnavailable"),
        (500, "InternalError"),
        (502, None),
    ]
    for status, code in answers:
        for _ in range(2):  # both keys of the account are used in turn
            client = _client(_echo(status, code))
            yield caught(lambda c=client: c.fetch("task-1"))
            yield caught(lambda c=client: c.submit_body("wan2.7-image", "MESSAGES", MESSAGES_BODY))
    for exc in (
        httpx.ConnectError(f"cannot connect: Bearer {API_KEY}"),
        httpx.ReadTimeout(f"timed out reading for Bearer {API_KEY}"),
        httpx.RemoteProtocolError(f"peer closed; sent Authorization: Bearer {API_KEY}"),
        httpx.StreamConsumed(),
    ):
        client = _client(_raising(exc))
        yield caught(lambda c=client: c.fetch("task-1"))
        yield caught(lambda c=client: c.submit_body("wan2.7-image", "MESSAGES", MESSAGES_BODY))


def test_a_key_that_cannot_go_in_a_header_is_refused_without_showing_it() -> None:
    """A key read from a file with its newline: httpx would refuse it only when sending, with
    the whole header in its message (and so in every retry's log line and job record)."""
    for bad in (f"{API_KEY}\n", f" {API_KEY}", f"{API_KEY}\r\nX: 1", f"{API_KEY}\x00"):
        error = caught(lambda k=bad: DashScopeClient(BASE, SecretStr(k)))
        assert isinstance(error, ValueError)
        assert_no_secret(error)


# --- S3: boto3 signing with the secret key ------------------------------------------------


class _S3Stub(BaseHTTPRequestHandler):
    """Answers as an S3-compatible store would, quoting the request back in its error:
    bucket ``denied`` 403 SignatureDoesNotMatch, ``slow`` 503 SlowDown, ``gone`` 404
    NoSuchBucket."""

    protocol_version = "HTTP/1.1"  # answers boto3's "Expect: 100-continue" at once
    ANSWERS: ClassVar[dict[str, tuple[int, str]]] = {
        "denied": (403, "SignatureDoesNotMatch"),
        "slow": (503, "SlowDown"),
        "gone": (404, "NoSuchBucket"),
    }

    def _answer(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        status, code = self.ANSWERS.get(self.path.split("/")[1], (500, "InternalError"))
        echoed = "".join(f"{k}: {v}\n" for k, v in self.headers.items())
        xml = (
            f"<?xml version='1.0'?><Error><Code>{code}</Code>"
            f"<Message>request was {self.command} {self.path} {echoed} {body[:200]!r}</Message>"
            f"<StringToSign>{echoed}</StringToSign><RequestId>r1</RequestId></Error>"
        ).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/xml")
        self.send_header("Content-Length", str(len(xml) if self.command != "HEAD" else 0))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(xml)

    do_GET = do_PUT = do_HEAD = do_POST = _answer

    def log_message(self, format: str, *args: object) -> None:
        pass


@pytest.fixture(scope="module")
def s3_stub() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _S3Stub)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def _store(endpoint: str, bucket: str) -> S3Store:
    settings = S3Settings(
        endpoint_url=endpoint,
        bucket=bucket,
        access_key_id=SecretStr(S3_KEY_ID),
        secret_access_key=SecretStr(S3_SECRET),
        connect_timeout_s=1.0,
        read_timeout_s=2.0,
    )
    return S3Store(s3_client(settings), bucket)


def storage_errors(endpoint: str) -> Iterator[BaseException]:
    refused = f"http://127.0.0.1:{free_port()}"
    for where, bucket in ((endpoint, "denied"), (endpoint, "slow"), (endpoint, "gone")):
        store = _store(where, bucket)
        yield caught(
            lambda s=store: s.put(
                "results/j/0.png",
                BytesIO(b"png"),
                size=3,
                sha256_hex="00" * 32,
                content_type="image/png",
                metadata={"job-id": "j"},
            )
        )
        yield caught(lambda s=store, b=bucket: s.read(b, "inputs/a.png", 100))
    store = _store(refused, "any")
    yield caught(lambda: store.stored_sha256("results/j/0.png"))


def test_a_botocore_error_quoting_the_secret_key_is_redacted() -> None:
    """No botocore exception carries the secret key by design (it never goes on the wire:
    SigV4 sends a signature made with it), so only a store that echoes a configuration dump
    could put it in a message; ``adapters.s3.translate`` takes the keys of the process's
    clients out of it."""
    _store("http://127.0.0.1:9", "any")  # a client made with the secret, as a worker's
    error = ClientError(
        {"Error": {"Code": "InvalidArgument", "Message": f"bad config {S3_SECRET}"}}, "PutObject"
    )
    translated = s3_translate(error, "put_object")
    assert S3_SECRET not in str(translated) and S3_SECRET not in repr(translated.args)
    assert "bad config ***" in str(translated)
    assert S3_SECRET not in str(error)  # the cause a traceback prints with it


# --- Redis and the broker with a password in the URL -----------------------------------------


@pytest.fixture(scope="module")
def wrongpass_server() -> Iterator[int]:
    """A Redis look-alike that refuses every password (as a server whose password changed)."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(8)
    stop = threading.Event()

    def serve() -> None:
        while not stop.is_set():
            try:
                conn, _ = listener.accept()
            except OSError:
                return
            with conn:
                conn.recv(65536)
                conn.sendall(b"-WRONGPASS invalid username-password pair or user is disabled.\r\n")

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    yield listener.getsockname()[1]
    stop.set()
    listener.close()


def _redis_call(url: str) -> None:
    client = redis.Redis.from_url(url, socket_connect_timeout=1, socket_timeout=1)
    try:
        with redis_translated("get"):
            client.get("wanq:job:x")
    finally:
        client.close()


def _broker_send(url: str) -> None:
    app = Celery("secrets-unit", broker=url, set_as_current=False)
    app.conf.broker_transport_options = {"max_retries": 0}  # one connection attempt
    try:
        with broker_translated("send_task wanq.poll"):
            app.send_task("wanq.poll", args=["job"], retry=False)
    finally:
        app.close()


def redis_errors(wrongpass_port: int) -> Iterator[BaseException]:
    refused = f"redis://:{REDIS_PASSWORD}@127.0.0.1:{free_port()}/0"
    wrong = f"redis://:{REDIS_PASSWORD}@127.0.0.1:{wrongpass_port}/0"
    yield caught(lambda: _redis_call(refused))
    yield caught(lambda: _redis_call(wrong))
    yield caught(lambda: _broker_send(refused))
    yield caught(lambda: _broker_send(wrong))
    settings = Settings(redis_url=SecretStr(refused))
    sender = CelerySender.from_settings(settings)
    try:
        yield caught(lambda: sender.send("wanq.submit", ["job-1", "job-2"]))
    finally:
        sender.close()


# --- results, input, producers ------------------------------------------------------------


def result_errors() -> Iterator[BaseException]:
    fetcher = ResultFetcher(
        ResultsSettings(allowed_hosts=("*.aliyuncs.com",)),
        transport=httpx.MockTransport(
            lambda request: httpx.Response(
                int(request.url.path.strip("/").split(".")[0]),
                headers={"Location": f"https://x.aliyuncs.com/1.png?{URL_SIGNATURE}"},
            )
        ),
    )
    try:
        for status in (403, 302, 400, 503):
            url = f"https://oss.aliyuncs.com/{status}.png?Expires=1&{URL_SIGNATURE}"
            yield caught(lambda u=url: fetcher.fetch(0, u, BytesIO()))
        url = f"https://user:{S3_SECRET}@oss.evil.com/1.png?{URL_SIGNATURE}"
        yield caught(lambda: fetcher.fetch(1, url, BytesIO()))
    finally:
        fetcher.close()
    yield caught(lambda: source_kind("ftp://host/a.png"))  # echoes the producer's own input
    yield caught(lambda: _raise(producers.errors.JobNotFound("0" * 32)))
    yield caught(lambda: _raise(producers.errors.FlowerRefused("Flower needs a password")))


@pytest.fixture(scope="module")
def every_error(s3_stub: str, wrongpass_server: int) -> list[BaseException]:
    return [
        *upstream_errors(),
        *storage_errors(s3_stub),
        *redis_errors(wrongpass_server),
        *result_errors(),
    ]


def test_every_class_of_the_tree_is_built(every_error: list[BaseException]) -> None:
    leaves = {
        cls
        for module in (errors, producers.errors)
        for _, cls in inspect.getmembers(module, inspect.isclass)
        if issubclass(cls, WanqError)
        and cls.__module__ == module.__name__
        and cls not in (WanqError, errors.RetryableError, errors.PermanentError)
        and not cls.__name__.startswith("_")
    }
    built = {type(exc) for exc in every_error}
    assert leaves - built == set(), "add a realistic sample of each new error class"
    assert all(isinstance(exc, WanqError) for exc in every_error), [
        exc for exc in every_error if not isinstance(exc, WanqError)
    ]


def test_no_error_shows_a_secret(every_error: list[BaseException]) -> None:
    for exc in every_error:
        assert_no_secret(exc)


def test_the_failures_had_the_secrets_at_hand(every_error: list[BaseException]) -> None:
    """The check above is not vacuous: the failures did carry the secrets on their way (the
    key, redacted, in the upstream's echoes and in the chained transport errors; the store's
    echo of the signed request, whose access key id is no secret)."""
    tracebacks = [exposures(exc)["traceback"] for exc in every_error]
    assert sum("Bearer ***" in text for text in tracebacks) >= 20
    assert any(f"Credential={S3_KEY_ID}/" in text for text in tracebacks)
    names = {type(exc).__name__ for exc in every_error}
    assert {"UpstreamAuthFailed", "StorageRejected", "RedisRejected", "BrokerUnavailable"} <= names
