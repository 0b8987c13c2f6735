"""``python -m emulator``: run the DashScope emulator server.

python -m emulator --host 127.0.0.1 --port 8089 [--api-key sk-emulator]
                   [--config emulator.yaml] [--public-url http://127.0.0.1:8089]
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

from pydantic import ValidationError

from emulator.config.root import load_config
from emulator.constants import DEFAULT_API_KEY, DEFAULT_HOST, DEFAULT_PORT
from emulator.http.app import build_app
from emulator.http.server import serve

_WILDCARD_HOSTS = frozenset({"0.0.0.0", "::", ""})


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m emulator", description="Local emulator of the DashScope Wan image API."
    )
    parser.add_argument("--host", default=DEFAULT_HOST, help="bind address (default %(default)s)")
    parser.add_argument("--port", type=int, default=DEFAULT_PORT, help="port (default %(default)s)")
    parser.add_argument(
        "--api-key",
        default=DEFAULT_API_KEY,
        help="key of the default account when the config declares none (default %(default)s)",
    )
    parser.add_argument("--config", type=Path, help="YAML or JSON configuration file")
    parser.add_argument(
        "--public-url",
        help="base URL clients reach this server at, used in result and upload URLs "
        "(default http://HOST:PORT)",
    )
    parser.add_argument(
        "--log-level",
        default="warning",
        choices=["critical", "error", "warning", "info", "debug"],
        help="server log level (default %(default)s)",
    )
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the emulator; returns the process exit code."""
    args = _parser().parse_args(sys.argv[1:] if argv is None else list(argv))
    try:
        config = load_config(args.config, args.api_key)
    except (OSError, ValueError, ValidationError) as exc:
        print(f"emulator: invalid configuration: {exc}", file=sys.stderr)
        return 2
    url_host = "127.0.0.1" if args.host in _WILDCARD_HOSTS else args.host
    if ":" in url_host:
        url_host = f"[{url_host}]"
    public_url = args.public_url or f"http://{url_host}:{args.port}"
    app = build_app(config, public_url=public_url, default_api_key=args.api_key)
    accounts = ", ".join(a.name for a in config.accounts)
    print(f"emulator: serving {public_url}/api/v1 (accounts: {accounts})", file=sys.stderr)
    serve(app, host=args.host, port=args.port, log_level=args.log_level)
    return 0


if __name__ == "__main__":
    sys.exit(main())
