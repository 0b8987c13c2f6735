"""``python -m devstack.redis``: print the Redis URL to use, starting a server if needed.

Usage::

    python -m devstack.redis --ensure [--keep] [--pidfile PATH] [--url URL] [--no-install]
    python -m devstack.redis --stop [--pidfile PATH]

``--ensure`` prints the URL to use on stdout (nothing else goes there). When no server answers
at ``--url`` (default: ``WANQ_REDIS_URL``), a private one is started; it runs in the
foreground until Ctrl-C, or with ``--keep`` in the background, recorded in the pidfile
(default ``.wanq/redis.json``) that ``--stop`` reads. A second ``--ensure --keep`` reuses a
server the pidfile records.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import shutil
import signal
import sys
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from urllib.parse import urlsplit

from config import load_settings
from devstack.constants import PROBE_INTERVAL_S, REDIS_PIDFILE, REDIS_STOP_TIMEOUT_S
from devstack.procs import StartupError
from devstack.redis import ensure_redis, ping, private_url, redact


@dataclass(frozen=True)
class KeptServer:
    """What the pidfile records of a server left running by ``--keep``."""

    pid: int
    port: int
    server: str
    data_dir: str

    @classmethod
    def load(cls, path: Path) -> KeptServer | None:
        """The record at ``path``, or None if there is none (or it is unreadable)."""
        try:
            return cls(**json.loads(path.read_text()))
        except (OSError, ValueError, TypeError):
            return None

    def save(self, path: Path) -> None:
        """Write the record to ``path``."""
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(asdict(self)))

    def is_ours(self) -> bool:
        """Whether the recorded process still runs the recorded server binary."""
        if not Path("/proc").is_dir():
            return _alive(self.pid)  # no /proc (macOS): trust a live pid
        try:
            # The server rewrites its command line (its process title); its executable stays.
            return os.path.realpath(f"/proc/{self.pid}/exe") == os.path.realpath(self.server)
        except OSError:
            return False


def _alive(pid: int) -> bool:
    """Whether ``pid`` runs (a zombie waiting for its reaper does not)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return True
    return state != "Z"


def _port(url: str) -> int:
    port = urlsplit(url).port
    assert port is not None, "a private server's URL names its port"
    return port


def _ensure(url: str, pidfile: Path, *, keep: bool, allow_install: bool) -> int:
    if ping(url):
        print(url)
        print(f"using the Redis at {redact(url)}", file=sys.stderr)
        return 0
    if keep:
        kept = KeptServer.load(pidfile)
        if kept is not None and kept.is_ours() and ping(private_url(url, kept.port)):
            print(private_url(url, kept.port))
            print(f"using the Redis left running at {private_url(url, kept.port)}", file=sys.stderr)
            return 0
        pidfile.unlink(missing_ok=True)
    data_dir = pidfile.parent / "redis-data" if keep else None
    handle = ensure_redis(url, allow_install=allow_install, data_dir=data_dir, detach=keep)
    assert handle.server is not None and handle.pid is not None
    print(handle.url, flush=True)
    if keep:
        record = KeptServer(handle.pid, _port(handle.url), str(handle.server), str(data_dir))
        record.save(pidfile)
        print(
            f"nothing answers at {redact(url)}: started {handle.server} at {handle.url} "
            f"(stop it with --stop --pidfile {pidfile})",
            file=sys.stderr,
        )
        return 0
    print(f"running {handle.server.name} at {handle.url}; Ctrl-C stops it", file=sys.stderr)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))  # stop the server on SIGTERM too
    try:
        return handle.wait()
    except KeyboardInterrupt:
        return 0
    finally:
        handle.stop()


def stop_kept(pidfile: Path) -> bool:
    """Stop the server a ``--keep`` recorded in ``pidfile``; returns whether one was stopped."""
    kept = KeptServer.load(pidfile)
    stopped = False
    if kept is not None and kept.is_ours():
        os.kill(kept.pid, signal.SIGTERM)
        deadline = time.monotonic() + REDIS_STOP_TIMEOUT_S
        while _alive(kept.pid) and time.monotonic() < deadline:
            time.sleep(PROBE_INTERVAL_S)
        if _alive(kept.pid):
            with contextlib.suppress(ProcessLookupError):
                os.kill(kept.pid, signal.SIGKILL)
        stopped = True
    if kept is not None:
        shutil.rmtree(kept.data_dir, ignore_errors=True)
    pidfile.unlink(missing_ok=True)
    return stopped


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; returns the exit code."""
    parser = argparse.ArgumentParser(
        prog="python -m devstack.redis",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    action = parser.add_mutually_exclusive_group(required=True)
    action.add_argument("--ensure", action="store_true", help="print the Redis URL to use")
    action.add_argument("--stop", action="store_true", help="stop a server left by --keep")
    parser.add_argument("--keep", action="store_true", help="leave a started server running")
    parser.add_argument("--pidfile", type=Path, default=REDIS_PIDFILE, help="%(default)s")
    parser.add_argument("--url", help="the Redis URL to try first (default: WANQ_REDIS_URL)")
    parser.add_argument(
        "--no-install", action="store_true", help="never pip-install the embedded server"
    )
    args = parser.parse_args(argv)
    if args.stop:
        stopped = stop_kept(args.pidfile)
        print("stopped" if stopped else "nothing to stop", file=sys.stderr)
        return 0
    url = args.url or load_settings().redis_url.get_secret_value()
    try:
        return _ensure(url, args.pidfile, keep=args.keep, allow_install=not args.no_install)
    except StartupError as exc:
        print(f"devstack.redis: {exc}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
