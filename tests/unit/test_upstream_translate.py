"""The translation table: complete for httpx, faithful to the protocol notes, queue-safe."""

from __future__ import annotations

import inspect
import json
import pickle
import re
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
from hypothesis import given
from hypothesis import strategies as st

from workers.errors import (
    InputInvalid,
    PermanentError,
    RetryableError,
    SubmitAmbiguous,
    UpstreamAuthFailed,
    UpstreamRejected,
    UpstreamThrottled,
    UpstreamUnavailable,
    WanqError,
)
from workers.upstream import wire
from workers.upstream.answers import parse_retry_after, read_error_body
from workers.upstream.models import TaskResult, TaskStatus
from workers.upstream.translate import (
    CODE_KINDS,
    TRANSPORT_RULES,
    ErrorKind,
    Outcome,
    error_from_answer,
    error_from_exception,
    error_from_failed_task,
    malformed,
    rule_for,
)

REFERENCE = Path(__file__).resolve().parents[2].parent / "shared" / "reference"
PROTOCOL_NOTES = REFERENCE / "dashscope-protocol.md"
URL = "https://dashscope-intl.aliyuncs.com/api/v1/services/aigc/image-generation/generation"


def answer(
    status: int, body: Any = None, *, text: str | None = None, headers: dict[str, str] | None = None
) -> httpx.Response:
    request = httpx.Request("POST", URL)
    if text is not None:
        return httpx.Response(status, text=text, headers=headers, request=request)
    return httpx.Response(status, json=body, headers=headers, request=request)


def httpx_exception_classes() -> set[type[BaseException]]:
    """Every exception class httpx exports, plus every httpx subclass of those."""
    found: set[type[BaseException]] = set()
    pending = [
        obj
        for name in httpx.__all__
        if inspect.isclass(obj := getattr(httpx, name)) and issubclass(obj, BaseException)
    ]
    while pending:
        cls = pending.pop()
        in_httpx = cls.__module__ == "httpx" or cls.__module__.startswith("httpx.")
        if cls in found or not in_httpx:  # httpx_sse and others subclass httpx's errors
            continue
        found.add(cls)
        pending.extend(cls.__subclasses__())
    return found


def make_exception(cls: type[Exception]) -> Exception:
    request = httpx.Request("POST", URL)
    if cls is httpx.HTTPStatusError:
        return cls("boom", request=request, response=httpx.Response(500, request=request))
    if cls in (
        httpx.StreamConsumed,
        httpx.StreamClosed,
        httpx.ResponseNotRead,
        httpx.RequestNotRead,
    ):
        return cls()  # these take no message
    if issubclass(cls, httpx.RequestError):
        return cls("boom", request=request)
    return cls("boom")


# --- (1) the transport table is complete --------------------------------------------------

NEVER_LEFT = {
    httpx.ConnectError,
    httpx.ConnectTimeout,
    httpx.PoolTimeout,
    httpx.UnsupportedProtocol,
    httpx.InvalidURL,
    httpx.LocalProtocolError,
    httpx.ProxyError,
}
MAY_HAVE_REACHED = {
    httpx.ReadTimeout,
    httpx.ReadError,
    httpx.RemoteProtocolError,
    httpx.WriteTimeout,
    httpx.WriteError,
    httpx.CloseError,
    httpx.DecodingError,
}


def test_every_httpx_exception_has_an_explicit_entry() -> None:
    classes = httpx_exception_classes()
    assert len(classes) >= 28  # httpx 0.28 exports 28; a smaller number means discovery broke
    missing = sorted(cls.__name__ for cls in classes if cls not in TRANSPORT_RULES)
    assert missing == [], f"add these httpx exceptions to TRANSPORT_RULES: {missing}"
    assert set(TRANSPORT_RULES) <= classes | {httpx.HTTPError}


def test_transport_rules_follow_the_submit_rule() -> None:
    for cls in NEVER_LEFT:
        assert TRANSPORT_RULES[cls].submit is Outcome.UNAVAILABLE, cls
    for cls in MAY_HAVE_REACHED:
        assert TRANSPORT_RULES[cls].submit is Outcome.AMBIGUOUS, cls
    for cls, rule in TRANSPORT_RULES.items():
        assert rule.idempotent is not Outcome.AMBIGUOUS, cls
        if issubclass(cls, httpx.TransportError) or cls is httpx.InvalidURL:
            assert rule.idempotent is Outcome.UNAVAILABLE, cls


def _class_name(cls: type[Exception]) -> str:
    return cls.__name__


RULE_CLASSES = sorted(TRANSPORT_RULES, key=_class_name)


@pytest.mark.parametrize("cls", RULE_CLASSES)
def test_each_exception_translates_for_submit_and_for_idempotent_calls(
    cls: type[Exception],
) -> None:
    exc = make_exception(cls)
    rule = TRANSPORT_RULES[cls]
    expected = {
        Outcome.UNAVAILABLE: UpstreamUnavailable,
        Outcome.AMBIGUOUS: SubmitAmbiguous,
        Outcome.BUG: UpstreamRejected,
    }
    for submit, outcome in ((True, rule.submit), (False, rule.idempotent)):
        error = error_from_exception(exc, submit=submit, what="POST /x")
        assert type(error) is expected[outcome]
        assert cls.__name__ in str(error)
        assert_survives_the_queue(error)


def test_lookup_walks_the_mro() -> None:
    class ProxyReadTimeout(httpx.ReadTimeout):
        pass

    assert rule_for(ProxyReadTimeout("late")) == TRANSPORT_RULES[httpx.ReadTimeout]
    with pytest.raises(KeyError):
        rule_for(ValueError("not httpx"))


# --- (2) every documented code maps to the expected branch --------------------------------

EXPECTED_CODES: dict[str, tuple[int, type[WanqError]]] = {
    "InvalidParameter": (400, UpstreamRejected),
    "DataInspectionFailed": (400, UpstreamRejected),
    "BadRequest.EmptyInput": (400, UpstreamRejected),
    "BadRequest.EmptyParameters": (400, UpstreamRejected),
    "BadRequest.EmptyModel": (400, UpstreamRejected),
    "InvalidURL": (400, UpstreamRejected),
    "Arrearage": (400, UpstreamRejected),
    "UnsupportedOperation": (400, UpstreamRejected),
    "InvalidApiKey": (401, UpstreamAuthFailed),
    "AccessDenied": (403, UpstreamAuthFailed),
    "AccessDenied.Unpurchased": (403, UpstreamAuthFailed),
    "Model.AccessDenied": (403, UpstreamAuthFailed),
    "Workspace.AccessDenied": (403, UpstreamAuthFailed),
    "AllocationQuota.FreeTierOnly": (403, UpstreamRejected),
    "ModelNotFound": (404, UpstreamRejected),
    "Model.NotExist": (404, UpstreamRejected),
    "WorkSpaceNotFound": (404, UpstreamRejected),
    "Throttling": (429, UpstreamThrottled),
    "Throttling.RateQuota": (429, UpstreamThrottled),
    "Throttling.AllocationQuota": (429, UpstreamThrottled),
    "PrepaidBillOverdue": (429, UpstreamRejected),
    "PostpaidBillOverdue": (429, UpstreamRejected),
    "InternalError": (500, UpstreamUnavailable),
    "InternalError.Algo": (500, UpstreamUnavailable),
    "InternalError.Timeout": (500, UpstreamUnavailable),
    "ServiceUnavailable": (503, UpstreamUnavailable),
    "GatewayTimeout": (504, UpstreamUnavailable),
    "RequestTimeOut": (504, UpstreamUnavailable),
}
# What the same answer means for a submit, where it differs.
SUBMIT_DIFFERS: dict[str, type[WanqError]] = {
    "InternalError": SubmitAmbiguous,
    "InternalError.Algo": SubmitAmbiguous,
    "InternalError.Timeout": SubmitAmbiguous,
    "GatewayTimeout": SubmitAmbiguous,
    "RequestTimeOut": SubmitAmbiguous,
}


def documented_codes() -> dict[str, int]:
    """Codes and statuses from the table in section 7.2 of the protocol notes."""
    section = PROTOCOL_NOTES.read_text(encoding="utf-8").split("### 7.2")[1].split("\n## ")[0]
    codes: dict[str, int] = {}
    for line in section.splitlines():
        if not re.match(r"\|\s*\d{3}\s*\|", line):
            continue
        cells = [cell.strip() for cell in line.split("|")]
        named = re.sub(r'"[^"]*"', "", cells[2])  # drop quoted messages
        for code in re.findall(r"\b[A-Z][A-Za-z]*(?:\.[A-Z][A-Za-z]*)*\b", named):
            codes[code] = int(cells[1])
    return codes


def test_the_expected_table_covers_section_7_2_exactly() -> None:
    documented = documented_codes()
    assert len(documented) >= 27
    assert documented == {code: status for code, (status, _) in EXPECTED_CODES.items()}


@pytest.mark.parametrize("code", sorted(EXPECTED_CODES))
def test_documented_code_maps_to_its_branch(code: str) -> None:
    status, expected = EXPECTED_CODES[code]
    body = {"code": code, "message": f"{code} happened", "request_id": "rid-1"}
    idempotent = error_from_answer(answer(status, body), submit=False)
    assert type(idempotent) is expected
    submitted = error_from_answer(answer(status, body), submit=True)
    assert type(submitted) is SUBMIT_DIFFERS.get(code, expected)
    for error in (idempotent, submitted):
        assert error.request_id == "rid-1"  # type: ignore[attr-defined]
        assert f"{code} happened" in str(error)
        assert_survives_the_queue(error)
    if isinstance(idempotent, UpstreamUnavailable | UpstreamRejected | UpstreamThrottled):
        assert idempotent.code == code
        assert idempotent.status_code == status


def test_table_codes_all_have_a_kind() -> None:
    assert set(EXPECTED_CODES) - {"InternalError.Algo", "InternalError.Timeout"} <= set(CODE_KINDS)


@pytest.mark.parametrize("code", ["Throttling.BurstRate", "SomethingNew", None])
def test_burst_protection_and_unknown_429_codes_are_throttling(code: str | None) -> None:
    body = {"message": "Request rate increased too quickly, please retry later."}
    if code:
        body["code"] = code
    error = error_from_answer(answer(429, body), submit=True)
    assert isinstance(error, UpstreamThrottled)
    assert error.code == (code or "Unknown")


@pytest.mark.parametrize(
    ("status", "expected"),
    [
        (400, UpstreamRejected),
        (401, UpstreamAuthFailed),
        (403, UpstreamAuthFailed),
        (404, UpstreamRejected),
        (408, UpstreamUnavailable),
        (409, UpstreamRejected),
        (413, UpstreamRejected),
        (429, UpstreamThrottled),
        (301, UpstreamRejected),
        (500, UpstreamUnavailable),
        (502, UpstreamUnavailable),
        (599, UpstreamUnavailable),
    ],
)
def test_unknown_codes_fall_back_to_the_status_class(
    status: int, expected: type[WanqError]
) -> None:
    body = {"code": "Brand.NewCode", "message": "?", "request_id": "r"}
    assert type(error_from_answer(answer(status, body), submit=False)) is expected


def test_non_json_error_body_gives_unknown_code_and_truncated_text() -> None:
    text = "<html>upstream connect error or disconnect/reset before headers</html>" + "x" * 900
    response = answer(503, text=text, headers={"x-request-id": "hdr-rid"})
    body = read_error_body(response)
    assert body.code == "Unknown"
    assert body.message.startswith("<html>upstream connect error")
    assert len(body.message) < 600
    assert body.request_id == "hdr-rid"
    fetched = error_from_answer(response, submit=False)
    assert isinstance(fetched, UpstreamUnavailable)
    assert (fetched.code, fetched.request_id, fetched.status_code) == ("Unknown", "hdr-rid", 503)
    submitted = error_from_answer(response, submit=True)
    assert isinstance(submitted, SubmitAmbiguous)
    assert submitted.request_id == "hdr-rid"


def test_msg_is_read_when_message_is_absent() -> None:
    body = read_error_body(answer(400, {"code": "InvalidParameter", "msg": "bad size"}))
    assert body.message == "bad size"


@pytest.mark.parametrize(
    ("headers", "expected"),
    [
        ({}, None),
        ({"Retry-After": "7"}, 7.0),
        ({"Retry-After": "1.5"}, 1.5),
        ({"Retry-After": "-3"}, 0.0),
        ({"Retry-After": "soon"}, None),
        ({"Retry-After": "nan"}, None),
        ({"Retry-After": "Wed, 21 Oct 2015 07:28:30 GMT"}, 30.0),
        ({"Retry-After": "Wed, 21 Oct 2015 07:27:00 GMT"}, 0.0),
        ({"retry-after-ms": "250"}, 0.25),
        ({"retry-after-ms": "junk", "Retry-After": "2"}, 2.0),
    ],
)
def test_retry_after(headers: dict[str, str], expected: float | None) -> None:
    now = datetime(2015, 10, 21, 7, 28, 0, tzinfo=UTC)
    assert parse_retry_after(httpx.Headers(headers), now) == expected


def test_throttled_carries_retry_after() -> None:
    body = {"code": "Throttling.RateQuota", "message": "slow down", "request_id": "r9"}
    error = error_from_answer(answer(429, body, headers={"Retry-After": "12"}), submit=True)
    assert isinstance(error, UpstreamThrottled)
    assert error.retry_after_s == 12.0
    assert_survives_the_queue(error)


def test_submit_ambiguity_for_5xx() -> None:
    shed = answer(503, {"code": "ServiceUnavailable", "message": "overloaded"})
    assert type(error_from_answer(shed, submit=True)) is UpstreamUnavailable
    for status in (500, 502, 504):
        response = answer(status, {"code": "InternalError", "message": "x"})
        assert type(error_from_answer(response, submit=True)) is SubmitAmbiguous
    response = answer(502, text="Bad Gateway")
    assert type(error_from_answer(response, submit=True)) is SubmitAmbiguous


def test_408_is_safe_to_resubmit() -> None:
    response = answer(408, text="Request Timeout")
    assert type(error_from_answer(response, submit=True)) is UpstreamUnavailable


@given(
    status=st.integers(min_value=300, max_value=599),
    code=st.one_of(st.none(), st.sampled_from(sorted(EXPECTED_CODES)), st.text(max_size=20)),
    as_json=st.booleans(),
)
def test_a_submit_is_retryable_only_when_nothing_was_taken(
    status: int, code: str | None, as_json: bool
) -> None:
    response = (
        answer(status, {"code": code, "message": "m"}) if as_json else answer(status, text="x")
    )
    submitted = error_from_answer(response, submit=True)
    fetched = error_from_answer(response, submit=False)
    assert not isinstance(fetched, SubmitAmbiguous)
    if isinstance(submitted, UpstreamUnavailable):
        assert status == 408 or (status == 503 and as_json and code == "ServiceUnavailable")
    if status >= 500 and isinstance(submitted, RetryableError):
        assert isinstance(submitted, UpstreamThrottled) or (
            status == 503 and code == "ServiceUnavailable"
        )
    assert isinstance(submitted, RetryableError | PermanentError | SubmitAmbiguous)


def test_malformed_answers() -> None:
    assert isinstance(
        malformed("no task_id", submit=True, request_id="r", status=200), SubmitAmbiguous
    )
    fetched = malformed("not JSON", submit=False, request_id=None, status=200)
    assert isinstance(fetched, UpstreamUnavailable)
    assert fetched.code == "MalformedAnswer"


@pytest.mark.parametrize(
    ("code", "expected"),
    [
        ("DataInspectionFailed", UpstreamRejected),
        ("InvalidParameter", UpstreamRejected),
        ("InternalError.Algo", UpstreamUnavailable),
        ("Throttling", UpstreamThrottled),
        ("InvalidApiKey", UpstreamAuthFailed),
        ("Mystery", UpstreamRejected),
        (None, UpstreamRejected),
    ],
)
def test_failed_task_uses_the_same_code_table(code: str | None, expected: type[WanqError]) -> None:
    task = TaskResult(
        task_id="t1", status=TaskStatus.FAILED, code=code, message="m", request_id="r"
    )
    error = error_from_failed_task(task)
    assert type(error) is expected
    assert error.status_code is None  # type: ignore[attr-defined]
    assert_survives_the_queue(error)


def test_kinds_are_closed() -> None:
    assert set(CODE_KINDS.values()) <= set(ErrorKind)


# --- (3) every raised project error survives the queue ------------------------------------


def assert_survives_the_queue(error: BaseException) -> None:
    """Pickle and Celery-style ``type(e)(*e.args)`` give an equal error; args are JSON-safe."""
    assert isinstance(error, WanqError)
    json.dumps(error.args)
    for copy in (pickle.loads(pickle.dumps(error)), type(error)(*error.args)):
        assert type(copy) is type(error)
        assert str(copy) == str(error)
        assert copy.args == error.args
        assert vars(copy) == vars(error)


def test_input_invalid_from_the_wire_layer_survives_the_queue() -> None:
    with pytest.raises(InputInvalid) as empty_id:
        wire.task_path("")
    with pytest.raises(InputInvalid) as bad_protocol:
        wire.protocol_key("grpc")
    for caught in (empty_id, bad_protocol):
        assert_survives_the_queue(caught.value)
