"""workers.addresses: which hosts and addresses result downloads reach, against real sockets.

A loopback HTTP(S) server stands for a host a result URL could name; a fake resolver makes
names resolve where a hostile DNS answer would (a private address, a mix, an IPv4-mapped one).
Each refusal is checked to happen before any connection reaches the server.
"""

from __future__ import annotations

import io
import ipaddress
import socket
import ssl
import threading
from collections.abc import Iterator, Sequence
from contextlib import closing
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import httpcore
import httpx
import pytest

from config import ResultsSettings
from tests.tlscerts import make_certs
from workers.addresses import (
    AddressGuard,
    AddressRefused,
    GuardedTransport,
    Resolver,
    host_allowed,
    listed_exactly,
    public_address,
)
from workers.errors import ResultRefused, UpstreamUnavailable
from workers.fetch import ResultFetcher

DATA = b"\x89PNG" + b"r" * 500


@pytest.mark.parametrize(
    "address",
    [
        "127.0.0.1",
        "10.1.2.3",
        "172.16.0.1",
        "192.168.1.1",
        "169.254.169.254",  # cloud metadata
        "100.64.0.1",  # carrier-grade NAT
        "0.0.0.0",
        "224.0.0.1",
        "240.0.0.1",
        "255.255.255.255",
        "::1",
        "::",
        "fe80::1",
        "fc00::1",
        "fd12:3456::1",
        "fec0::1",  # site-local (deprecated, still routed by some stacks)
        "ff02::1",
        "::ffff:127.0.0.1",  # IPv4-mapped
        "::ffff:10.0.0.1",
        "::ffff:169.254.169.254",
        "::127.0.0.1",  # IPv4-compatible (deprecated)
        "2002:7f00:1::",  # 6to4 of 127.0.0.1
        "2002:a9fe:a9fe::1",  # 6to4 of 169.254.169.254
        "64:ff9b::a9fe:a9fe",  # NAT64 of 169.254.169.254
        "64:ff9b::7f00:1",  # NAT64 of 127.0.0.1
        "64:ff9b:1::a00:1",  # local-use NAT64 prefix
    ],
)
def test_non_public_addresses(address: str) -> None:
    assert public_address(ipaddress.ip_address(address)) is False


@pytest.mark.parametrize(
    "address",
    ["47.88.1.1", "8.8.8.8", "2606:4700::1111", "::ffff:8.8.8.8", "64:ff9b::808:808"],
)
def test_public_addresses(address: str) -> None:
    assert public_address(ipaddress.ip_address(address)) is True


@pytest.mark.parametrize(
    ("host", "allowed", "expected"),
    [
        ("a.oss-cn-beijing.aliyuncs.com", ("*.aliyuncs.com",), True),
        ("A.OSS.ALIYUNCS.COM.", ("*.aliyuncs.com",), True),
        ("aliyuncs.com", ("*.aliyuncs.com",), False),
        ("evil-aliyuncs.com", ("*.aliyuncs.com",), False),
        ("127.0.0.1", ("*.0.0.1",), False),  # a pattern never matches an address
        ("127.0.0.1", ("127.0.0.1",), True),
        ("::ffff:127.0.0.1", ("127.0.0.1",), False),  # another spelling is another address
        ("::ffff:7f00:1", ("::ffff:127.0.0.1",), True),  # ... the same address, listed
        ("[::1]", ("::1",), True),
        ("2130706433", ("*.aliyuncs.com",), False),  # 127.0.0.1 as one number
        ("0x7f.1", ("*.aliyuncs.com",), False),
    ],
)
def test_host_patterns(host: str, allowed: tuple[str, ...], expected: bool) -> None:
    assert host_allowed(host, allowed) is expected


def test_only_exact_entries_are_trusted_wherever_they_resolve() -> None:
    allowed = ("*.aliyuncs.com", "emulator", "127.0.0.1")
    assert listed_exactly("emulator", allowed) and listed_exactly("EMULATOR.", allowed)
    assert listed_exactly("127.0.0.1", allowed)
    assert not listed_exactly("x.aliyuncs.com", allowed)


# --- a real server behind names that resolve where we say -----------------------------------


@dataclass
class Server:
    """A loopback HTTP(S) server and the requests it received."""

    port: int
    requests: list[str] = field(default_factory=list)
    connections: list[str] = field(default_factory=list)


def _serve(context: ssl.SSLContext | None = None) -> Iterator[Server]:
    state = Server(0)

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            state.requests.append(self.path)
            if self.path.startswith("/redirect"):
                self.send_response(302)
                self.send_header("Location", "http://169.254.169.254/latest/meta-data/")
                self.send_header("Content-Length", "0")
                self.end_headers()
                return
            self.send_response(200)
            self.send_header("Content-Length", str(len(DATA)))
            self.end_headers()
            self.wfile.write(DATA)

        def log_message(self, format: str, *args: object) -> None:
            pass

    class Recording(ThreadingHTTPServer):
        daemon_threads = True

        def get_request(self) -> tuple[socket.socket, object]:
            sock, address = super().get_request()
            state.connections.append(str(address))
            if context is not None:
                sock = context.wrap_socket(sock, server_side=True)
            return sock, address

    server = Recording(("127.0.0.1", 0), Handler)
    state.port = server.server_address[1]
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    try:
        yield state
    finally:
        server.shutdown()
        server.server_close()


@pytest.fixture
def server() -> Iterator[Server]:
    yield from _serve()


def resolving(table: dict[str, Sequence[str]]) -> Resolver:
    """A resolver that knows only ``table`` (a DNS answer an attacker could give)."""

    def resolve(host: str, port: int) -> Sequence[str]:
        if host not in table:
            raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")
        return table[host]

    return resolve


def fetcher(allowed: tuple[str, ...], table: dict[str, Sequence[str]]) -> closing[ResultFetcher]:
    settings = ResultsSettings(allowed_hosts=allowed, timeout_s=5.0)
    return closing(ResultFetcher(settings, resolver=resolving(table)))


@pytest.mark.parametrize(
    "answer",
    [
        ["127.0.0.1"],
        ["47.88.1.1", "10.0.0.5"],  # one private address among public ones is enough
        ["::ffff:127.0.0.1"],
        ["169.254.169.254"],
    ],
)
def test_a_wildcard_host_resolving_to_a_private_address_is_never_contacted(
    server: Server, answer: list[str]
) -> None:
    url = f"http://evil.oss.aliyuncs.com:{server.port}/1.png"
    with (
        fetcher(("*.aliyuncs.com",), {"evil.oss.aliyuncs.com": answer}) as client,
        pytest.raises(ResultRefused) as caught,
    ):
        client.fetch(0, url, io.BytesIO())
    assert caught.value.reason == "AddressNotAllowed"
    assert "non-public" in caught.value.message
    assert server.connections == []


def test_an_exactly_listed_host_is_fetched_from_the_address_the_guard_resolved(
    server: Server,
) -> None:
    # The system resolver does not know this name: the download reaches the server only
    # because the connection goes to the address the guard resolved and checked.
    table: dict[str, Sequence[str]] = {"results.wanq-test": ["127.0.0.1"]}
    with fetcher(("results.wanq-test", "*.aliyuncs.com"), table) as client:
        sink = io.BytesIO()
        size, _ = client.fetch(0, f"http://results.wanq-test:{server.port}/1.png?s=x", sink)
    assert (size, sink.getvalue()) == (len(DATA), DATA)
    assert server.requests == ["/1.png?s=x"]


def test_an_exactly_listed_address_is_fetched(server: Server) -> None:
    with fetcher(("127.0.0.1",), {}) as client:
        size, _ = client.fetch(0, f"http://127.0.0.1:{server.port}/a.png", io.BytesIO())
    assert size == len(DATA)


@pytest.mark.parametrize(
    "url",
    [
        "http://[::ffff:127.0.0.1]:{port}/a.png",
        "http://[::ffff:7f00:1]:{port}/a.png",
        "http://2130706433:{port}/a.png",
        "http://127.1:{port}/a.png",
        "http://localhost:{port}/a.png",
        "http://a.aliyuncs.com\\@127.0.0.1:{port}/a.png",
        "http://a.aliyuncs.com:80@127.0.0.1:{port}/a.png",
        "http://127.0.0.1:{port}#@a.aliyuncs.com/a.png",
    ],
)
def test_other_spellings_of_a_private_address_are_refused(server: Server, url: str) -> None:
    with fetcher(("*.aliyuncs.com",), {}) as client, pytest.raises(ResultRefused):
        client.fetch(0, url.format(port=server.port), io.BytesIO())
    assert server.connections == []


def test_a_redirect_is_not_followed(server: Server) -> None:
    with fetcher(("127.0.0.1",), {}) as client, pytest.raises(ResultRefused) as caught:
        client.fetch(0, f"http://127.0.0.1:{server.port}/redirect", io.BytesIO())
    assert caught.value.reason == "Redirect"
    assert server.requests == ["/redirect"]


def test_a_name_that_does_not_resolve_is_retryable(server: Server) -> None:
    with fetcher(("*.aliyuncs.com",), {}) as client, pytest.raises(UpstreamUnavailable) as caught:
        client.fetch(0, f"http://gone.aliyuncs.com:{server.port}/a.png", io.BytesIO())
    assert caught.value.code == "ConnectError"


def test_every_connection_is_checked_against_the_answer_of_its_own_lookup() -> None:
    """DNS rebinding: a name first resolves to a public address, then to a private one. Each
    connection resolves the name once and uses what it checked."""
    answers = iter([["47.88.1.1"], ["127.0.0.1"]])
    guard = AddressGuard(("*.aliyuncs.com",), lambda host, port: next(answers))
    assert guard.addresses("x.aliyuncs.com", 443) == ["47.88.1.1"]
    with pytest.raises(AddressRefused):
        guard.addresses("x.aliyuncs.com", 443)


def test_public_answers_are_kept_in_order() -> None:
    guard = AddressGuard(("*.aliyuncs.com",), lambda host, port: ["47.88.1.1", "2408:4000::1"])
    assert guard.addresses("oss.aliyuncs.com", 443) == ["47.88.1.1", "2408:4000::1"]


def test_unresolvable_and_empty_answers_are_connect_errors() -> None:
    guard = AddressGuard(("*.aliyuncs.com",), lambda host, port: [])
    with pytest.raises(httpcore.ConnectError):
        guard.addresses("oss.aliyuncs.com", 443)


def test_tls_verifies_the_name_while_connecting_to_the_checked_address(tmp_path: Path) -> None:
    certs = make_certs(tmp_path, dns_names=("results.wanq-test",), ips=())
    server_context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    server_context.load_cert_chain(certs.cert, certs.key)
    client_context = ssl.create_default_context(cafile=str(certs.ca))
    guard = AddressGuard(("results.wanq-test",), lambda host, port: ["127.0.0.1"])
    for state in _serve(server_context):
        transport = GuardedTransport(guard, ssl_context=client_context)
        with httpx.Client(transport=transport, trust_env=False) as http:
            response = http.get(f"https://results.wanq-test:{state.port}/a.png")
            assert response.content == DATA
            # The same address under a name the certificate does not carry: refused by TLS.
            other = AddressGuard(("other.wanq-test",), lambda host, port: ["127.0.0.1"])
            with (
                httpx.Client(
                    transport=GuardedTransport(other, ssl_context=client_context),
                    trust_env=False,
                ) as wrong,
                pytest.raises(httpx.ConnectError, match="CERTIFICATE_VERIFY_FAILED"),
            ):
                wrong.get(f"https://other.wanq-test:{state.port}/a.png")
