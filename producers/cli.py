"""The ``wanq`` command line.

Subcommands:
    emulator   run the local DashScope emulator (``wanq emulator --help``)
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence


def _build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="wanq", description="wanqueue: Wan image edits at volume."
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    emulator = commands.add_parser(
        "emulator",
        help="run the local DashScope emulator",
        add_help=False,
        description="Arguments are passed to `python -m emulator`.",
    )
    emulator.add_argument("args", nargs=argparse.REMAINDER)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the ``wanq`` command; returns the process exit code."""
    arguments = sys.argv[1:] if argv is None else list(argv)
    if arguments[:1] == ["emulator"]:
        # Handed over whole (``--help`` included); imported here so that the producer side
        # never loads the emulator unless asked to.
        from emulator.__main__ import main as emulator_main

        return emulator_main(arguments[1:])
    args = _build_parser().parse_args(arguments)
    raise AssertionError(f"unhandled command {args.command!r}")


if __name__ == "__main__":
    sys.exit(main())
