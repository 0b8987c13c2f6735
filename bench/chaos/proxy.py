"""A TCP proxy that can be switched off: S3 unavailable without losing what S3 holds.

moto's server keeps every object in memory, so killing it would lose the stored results the
suite checks afterwards. Instead the workers reach S3 through this proxy, which the harness
switches between three modes:

* ``forward``: bytes flow both ways (the normal state);
* ``reset``: every live connection is reset (RST) and every new one is accepted and reset
  at once, as a store dropping connections does; each such connection is counted, which
  shows how often clients retry during an outage;
* ``refuse``: live connections are reset and the listening socket is closed, so that new
  connections are refused by the kernel (ECONNREFUSED); it is opened again on the same port
  when the proxy forwards again.

Independently of the mode, :meth:`TcpProxy.slow_answers` holds every chunk (up to
:data:`CHUNK_BYTES`) the target sends back for a while: a slow store, which answers late but
answers.

One thread accepts; each connection gets one thread that pumps both directions. Sockets are
only closed by the thread that owns them (a connection to reset is flagged, and its thread
resets it within :data:`TICK_S`), so no thread ever waits on a descriptor another closed.
"""

from __future__ import annotations

import contextlib
import select
import socket
import struct
import threading
import time
from dataclasses import dataclass, field
from enum import StrEnum
from types import TracebackType
from typing import Final, Self

from devstack.constants import LOOPBACK

TICK_S: Final = 0.05
"""How long a proxy thread waits before it looks at its flags again."""
CHUNK_BYTES: Final = 64 * 1024
LISTEN_BACKLOG: Final = 128
CONNECT_TIMEOUT_S: Final = 5.0
SETTLE_TIMEOUT_S: Final = 2.0
"""How long :meth:`TcpProxy.set_mode` waits for flagged connections to be reset."""
_LINGER_RESET: Final = struct.pack("ii", 1, 0)
"""SO_LINGER on, 0 s: close() sends RST instead of FIN."""


class Mode(StrEnum):
    """What the proxy does with connections."""

    FORWARD = "forward"
    RESET = "reset"
    REFUSE = "refuse"


def reset_close(sock: socket.socket) -> None:
    """Close ``sock`` with a RST (the peer sees "connection reset by peer")."""
    with contextlib.suppress(OSError):
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, _LINGER_RESET)
    sock.close()


def _close_listener(sock: socket.socket) -> None:
    """Stop listening now: a socket closed while another thread waits on it in select()
    would go on accepting until that wait ends; shutting it down first refuses at once."""
    with contextlib.suppress(OSError):
        sock.shutdown(socket.SHUT_RDWR)
    sock.close()


@dataclass
class ProxyCounts:
    """What the proxy saw.

    Attributes:
        accepted: Connections accepted (in any mode).
        forwarded: Connections forwarded to the target.
        reset: Connections reset (live ones at a switch, and new ones in ``reset`` mode).
        target_failed: Connections whose target could not be reached (closed at once).
    """

    accepted: int = 0
    forwarded: int = 0
    reset: int = 0
    target_failed: int = 0

    def as_dict(self) -> dict[str, int]:
        """The counts as JSON."""
        return {
            "accepted": self.accepted,
            "forwarded": self.forwarded,
            "reset": self.reset,
            "target_failed": self.target_failed,
        }


@dataclass(eq=False)
class _Link:
    """One proxied connection: the client's socket, and whether it is to be reset."""

    client: socket.socket
    doomed: threading.Event = field(default_factory=threading.Event)


class TcpProxy:
    """Forwards ``host:port`` to ``target_host:target_port`` until switched off.

    Use as a context manager (started on entry, stopped on exit).

    Args:
        target_host: Where connections go.
        target_port: The target's port.
        host: Bind address.
        port: Port to listen on (0: a free one, kept across ``refuse``).

    Attributes:
        counts: What the proxy saw so far.
    """

    def __init__(
        self, target_host: str, target_port: int, *, host: str = LOOPBACK, port: int = 0
    ) -> None:
        self._target = (target_host, target_port)
        self._host = host
        self._port = port
        self._mode = Mode.FORWARD
        self._lock = threading.Lock()
        self._listener: socket.socket | None = None
        self._links: set[_Link] = set()
        self._stopping = threading.Event()
        self._acceptor: threading.Thread | None = None
        self._answer_delay_s = 0.0
        self.counts = ProxyCounts()

    @property
    def port(self) -> int:
        """The port the proxy listens on (known once started)."""
        return self._port

    @property
    def url(self) -> str:
        """``http://host:port`` of the proxy."""
        return f"http://{self._host}:{self._port}"

    @property
    def mode(self) -> Mode:
        """The current mode."""
        return self._mode

    def slow_answers(self, delay_s: float) -> None:
        """Hold every chunk the target sends back ``delay_s`` before passing it on (0: no
        delay): a slow server, on live and new connections alike."""
        self._answer_delay_s = max(0.0, delay_s)

    def live_connections(self) -> int:
        """Connections being forwarded now."""
        with self._lock:
            return len(self._links)

    def start(self) -> Self:
        """Listen and start accepting."""
        self._listen()
        self._acceptor = threading.Thread(target=self._accept_loop, name="proxy", daemon=True)
        self._acceptor.start()
        return self

    def stop(self) -> None:
        """Stop accepting, reset every live connection; idempotent."""
        self._stopping.set()
        with self._lock:
            listener, self._listener = self._listener, None
            links = list(self._links)
        for link in links:
            link.doomed.set()
        if self._acceptor is not None:
            self._acceptor.join(1.0)
            self._acceptor = None
        if listener is not None:
            _close_listener(listener)
        self._wait_links_gone(SETTLE_TIMEOUT_S)

    def set_mode(self, mode: Mode | str) -> None:
        """Switch modes; returns once live connections are reset (leaving ``forward``) and
        the listening socket is closed (``refuse``) or open again (``forward``, ``reset``).

        Raises:
            OSError: The port could not be listened on again after ``refuse``.
        """
        mode = Mode(mode)
        with self._lock:
            self._mode = mode
            links = list(self._links) if mode is not Mode.FORWARD else []
            listener = self._listener if mode is Mode.REFUSE else None
            if listener is not None:
                self._listener = None
        for link in links:
            link.doomed.set()
        if listener is not None:
            _close_listener(listener)
        if mode is not Mode.REFUSE:
            self._listen()
        self._wait_links_gone(SETTLE_TIMEOUT_S, only=set(links))

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    # ------------------------------------------------------------------ internals
    def _listen(self) -> None:
        with self._lock:
            if self._listener is not None:
                return
            sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            try:
                sock.bind((self._host, self._port))
                sock.listen(LISTEN_BACKLOG)
            except OSError:
                sock.close()
                raise
            self._port = int(sock.getsockname()[1])
            self._listener = sock

    def _wait_links_gone(self, timeout_s: float, only: set[_Link] | None = None) -> None:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            with self._lock:
                left = self._links if only is None else self._links & only
                if not left:
                    return
            time.sleep(TICK_S / 5)

    def _accept_loop(self) -> None:
        while not self._stopping.is_set():
            with self._lock:
                listener = self._listener
            if listener is None:
                time.sleep(TICK_S)
                continue
            try:
                ready, _, _ = select.select([listener], [], [], TICK_S)
                if not ready:
                    continue
                client, _ = listener.accept()
            except (OSError, ValueError):  # closed under us by a switch to refuse
                continue
            self._admit(client)

    def _admit(self, client: socket.socket) -> None:
        link = _Link(client)
        with self._lock:  # one lock with set_mode: a link added here is seen by a switch
            self.counts.accepted += 1
            forward = self._mode is Mode.FORWARD
            if forward:
                self._links.add(link)
            else:  # reset (or refuse, switched while accepting)
                self.counts.reset += 1
        if not forward:
            reset_close(client)
            return
        threading.Thread(target=self._pump, args=(link,), name="proxy-link", daemon=True).start()

    def _pump(self, link: _Link) -> None:
        try:
            target = socket.create_connection(self._target, timeout=CONNECT_TIMEOUT_S)
        except OSError:
            with self._lock:
                self.counts.target_failed += 1
                self._links.discard(link)
            reset_close(link.client)
            return
        target.settimeout(None)
        with self._lock:
            self.counts.forwarded += 1
        reset = self._shuttle(link, link.client, target)
        close = reset_close if reset else socket.socket.close
        close(link.client)
        close(target)
        with self._lock:
            if reset:
                self.counts.reset += 1
            self._links.discard(link)

    def _shuttle(self, link: _Link, client: socket.socket, target: socket.socket) -> bool:
        """Pump bytes until a side closes (False) or the link is doomed (True: reset)."""
        peers = {client: target, target: client}
        while not link.doomed.is_set():
            try:
                ready, _, _ = select.select(list(peers), [], [], TICK_S)
                for sock in ready:
                    data = sock.recv(CHUNK_BYTES)
                    if not data:
                        return False
                    delay_s = self._answer_delay_s
                    if sock is target and delay_s > 0 and link.doomed.wait(delay_s):
                        return True
                    peers[sock].sendall(data)
            except OSError:
                return False
        return True
