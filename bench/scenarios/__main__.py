"""``python -m bench.scenarios [NAME ...]`` (``make bench``): the scenarios of the limiter.

Each scenario starts its own stack (a private Redis, moto's S3 server, the emulator with the
scenario's limits), runs every design in turn on the same emulator settings (reset between
them), and writes ``bench/results/<scenario>.json`` and ``.png``. Figures are printed as they
come. Names: quota-bound, unknown-limits, two-accounts, ceiling, backlog (default: all).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from bench.scenarios import backlog, ceiling, quota, two_accounts

RESULTS = Path(__file__).resolve().parents[1] / "results"

SCENARIOS: dict[str, Callable[[Path], dict[str, Any]]] = {
    "quota-bound": quota.quota_bound,
    "unknown-limits": quota.unknown_limits,
    "two-accounts": two_accounts.run,
    "ceiling": ceiling.run,
    "backlog": backlog.run,
}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("names", nargs="*", choices=[*SCENARIOS, []], default=[])
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args(argv)
    args.out.mkdir(parents=True, exist_ok=True)
    for name in args.names or list(SCENARIOS):
        started = time.monotonic()
        print(f"== {name}", flush=True)
        result = SCENARIOS[name](args.out)
        result["scenario"] = name
        result["bench_wall_s"] = round(time.monotonic() - started, 1)
        path = args.out / f"{name}.json"
        path.write_text(json.dumps(result, indent=2) + "\n")
        print(json.dumps(result.get("must_show", {}), indent=2), flush=True)
        print(f"-> {path}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
