"""Which hosts and addresses result downloads may reach.

Result URLs come from the upstream's answers, so they are not trusted: a URL may only name a
host the settings allow (``ResultsSettings.allowed_hosts``; ``*.`` matches any subdomain, an
IP address only the same address listed), and a connection is only made to a public address.
:class:`AddressGuard` is the network backend of the downloads' HTTP client: it resolves the
host itself, refuses it when any of its addresses is not public (loopback, private,
link-local, CGNAT, multicast, reserved; the IPv4 address inside an IPv4-mapped, 6to4 or NAT64
address is judged), and connects to an address it checked, so a DNS answer cannot change
between the check and the connection. A host listed exactly (not through ``*.``) is trusted
wherever it resolves: the emulator, a local store, a host an operator named.
"""

from __future__ import annotations

import ipaddress
import socket
import ssl
from collections.abc import Callable, Iterable, Sequence
from typing import Final

import httpcore
import httpx

KEEPALIVE_EXPIRY_S: Final = 5.0
DEFAULT_MAX_CONNECTIONS: Final = 50

Address = ipaddress.IPv4Address | ipaddress.IPv6Address
Resolver = Callable[[str, int], Sequence[str]]
"""Resolves a host name and port to IP addresses (:func:`system_resolver` by default)."""

NAT64_PREFIX: Final = ipaddress.IPv6Network("64:ff9b::/96")
"""The well-known NAT64 prefix: its addresses reach the IPv4 address in their last 32 bits."""


def ip_literal(host: str) -> Address | None:
    """The address ``host`` spells (``[...]`` brackets allowed), or None for a name."""
    try:
        return ipaddress.ip_address(host.strip("[]"))
    except ValueError:
        return None


def public_address(address: Address) -> bool:
    """Whether ``address`` is on the public internet.

    An IPv6 address that carries an IPv4 address (IPv4-mapped, 6to4, NAT64) is judged by the
    IPv4 address it reaches; multicast, reserved and site-local addresses are never public.
    """
    if isinstance(address, ipaddress.IPv6Address):
        embedded = address.ipv4_mapped or address.sixtofour
        if embedded is None and address in NAT64_PREFIX:
            embedded = ipaddress.IPv4Address(int(address) & 0xFFFFFFFF)
        if embedded is not None:
            return public_address(embedded)
        if address.is_site_local:
            return False
    return address.is_global and not (address.is_multicast or address.is_reserved)


def _name(host: str) -> str:
    return host.lower().rstrip(".")


def listed_exactly(host: str, allowed: Sequence[str]) -> bool:
    """Whether ``host`` is one of ``allowed`` itself (not through a ``*.`` pattern)."""
    literal = ip_literal(host)
    for pattern in allowed:
        if pattern.startswith("*."):
            continue
        if literal is not None:
            if ip_literal(pattern) == literal:
                return True
        elif _name(pattern) == _name(host):
            return True
    return False


def host_allowed(host: str, allowed: Sequence[str]) -> bool:
    """Whether ``host`` matches one of ``allowed`` (``*.example.com``: any subdomain).

    An IP address matches only an entry that is the same address.
    """
    if listed_exactly(host, allowed):
        return True
    if ip_literal(host) is not None:
        return False
    name = _name(host)
    for pattern in allowed:
        pattern = _name(pattern)
        if pattern.startswith("*.") and name.endswith(pattern[1:]) and len(name) >= len(pattern):
            return True
    return False


def system_resolver(host: str, port: int) -> list[str]:
    """The addresses ``host`` resolves to (``getaddrinfo``), in its order, each once."""
    infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return list(dict.fromkeys(str(info[4][0]) for info in infos))


class AddressRefused(Exception):
    """A host, or an address it resolves to, that wanqueue will not contact (raised through
    httpx untouched; :meth:`workers.fetch.ResultFetcher.fetch` turns it into
    :class:`~workers.errors.ResultRefused`)."""


class AddressGuard(httpcore.NetworkBackend):
    """The network backend of result downloads: every connection goes to a checked address.

    Args:
        allowed: The allowed hosts; one listed exactly may resolve anywhere, any other host
            (matched by a ``*.`` pattern) only to public addresses.
        resolver: Resolves names (tests give a fake one).
    """

    def __init__(self, allowed: Sequence[str], resolver: Resolver = system_resolver) -> None:
        self._allowed = tuple(allowed)
        self._resolve = resolver
        self._backend = httpcore.SyncBackend()

    def addresses(self, host: str, port: int) -> list[str]:
        """The addresses a connection to ``host`` may use.

        Raises:
            AddressRefused: The host is not allowed, or resolves to a non-public address.
            httpcore.ConnectError: The name does not resolve (retryable, as any failed
                connection).
        """
        if not host_allowed(host, self._allowed):
            raise AddressRefused(f"{host} is not allowed")
        literal = ip_literal(host)
        if literal is not None:
            found = [str(literal)]
        else:
            try:
                found = list(self._resolve(host, port))
            except OSError as exc:
                raise httpcore.ConnectError(f"cannot resolve {host}: {exc}") from exc
            if not found:
                raise httpcore.ConnectError(f"{host} has no address")
        if not listed_exactly(host, self._allowed):
            private = [address for address in found if not _public(address)]
            if private:
                raise AddressRefused(f"{host} resolves to a non-public address ({private[0]})")
        return found

    def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: Iterable[httpcore.SOCKET_OPTION] | None = None,
    ) -> httpcore.NetworkStream:
        """Connect to the first checked address of ``host`` that answers."""
        options = list(socket_options or ())
        error: Exception | None = None
        for address in self.addresses(host, port):
            try:
                return self._backend.connect_tcp(address, port, timeout, local_address, options)
            except (httpcore.ConnectError, httpcore.ConnectTimeout) as exc:
                error = exc
        assert error is not None  # addresses() returns at least one
        raise error

    def connect_unix_socket(
        self,
        path: str,
        timeout: float | None = None,
        socket_options: Iterable[httpcore.SOCKET_OPTION] | None = None,
    ) -> httpcore.NetworkStream:
        """Refused: result downloads go over TCP only."""
        raise AddressRefused("unix sockets are not used for result downloads")

    def sleep(self, seconds: float) -> None:
        """Sleep (httpcore's retries; the fetcher makes none)."""
        self._backend.sleep(seconds)


def _public(address: str) -> bool:
    literal = ip_literal(address.partition("%")[0])  # an IPv6 zone (fe80::1%eth0) aside
    return literal is not None and public_address(literal)


class GuardedTransport(httpx.HTTPTransport):
    """httpx's transport whose connections are made by an :class:`AddressGuard` (no proxy,
    no environment). TLS still verifies the URL's host name: only the TCP connection goes to
    the checked address.

    Args:
        guard: Makes the connections.
        max_connections: Pool size.
        ssl_context: Certificates to trust (default: httpx's, without the environment).
    """

    def __init__(
        self,
        guard: AddressGuard,
        max_connections: int = DEFAULT_MAX_CONNECTIONS,
        *,
        ssl_context: ssl.SSLContext | None = None,
    ) -> None:
        super().__init__(trust_env=False)
        self._pool = httpcore.ConnectionPool(
            ssl_context=ssl_context or httpx.create_ssl_context(trust_env=False),
            max_connections=max_connections,
            keepalive_expiry=KEEPALIVE_EXPIRY_S,
            network_backend=guard,
        )
