"""The ``wanq`` command line.

Subcommands::

    wanq submit MANIFEST [--batch NAME] [--wait] [--timeout S]   enqueue a JSON Lines manifest
    wanq status [BATCH]                                          counts by state (every batch)
    wanq results BATCH [-o results.jsonl]                        one JSON line per job
    wanq cancel JOB_ID... | --batch BATCH                        cancel what has not started
    wanq download BATCH DIR                                      stored images to DIR
    wanq redrive [--min-age S]                                   send jobs never sent
    wanq retry --batch B [--code C ...]                          submit failed jobs again
    wanq flower                                                  Flower, with basic auth
    wanq emulator ...                                            the local DashScope emulator

Settings are read once, from the environment (``WANQ_...``), by :func:`config.load_settings`.
Exit codes: 0 done; 1 lines or cancels refused, results not matching their checksums, or an
error (Redis or S3 unreachable, a missing file);
2 usage; 3 ``--wait`` timed out; 4 jobs recorded but not sent (run ``wanq redrive``).
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

from redis.exceptions import RedisError

from config import Settings, load_settings
from producers import commands
from producers.api import WanQueue
from producers.commands import Console
from producers.constants import DEFAULT_WAIT_TIMEOUT_S, EXIT_REFUSED, REDRIVE_MIN_AGE_S
from producers.flower import exec_flower
from workers.errors import WanqError


def _build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="wanq", description="wanqueue: Wan image edits at volume."
    )
    commands_ = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    submit = commands_.add_parser(
        "submit",
        help="enqueue the jobs of a JSON Lines manifest",
        description="One job a line: the fields of an edit request plus an optional custom_id, "
        "tenant and priority. "
        "A line that breaks a rule is reported with its number; the rest still go in.",
    )
    submit.add_argument("manifest", help="the manifest (.jsonl), or - for stdin")
    submit.add_argument("--batch", help="batch name (default: default)")
    submit.add_argument("--tenant", help="tenant of the lines that name none (default: default)")
    submit.add_argument(
        "--priority",
        choices=("interactive", "bulk"),
        help="lane of the lines that name none (default: bulk)",
    )
    submit.add_argument("--wait", action="store_true", help="wait until every job has ended")
    submit.add_argument(
        "--timeout",
        type=float,
        default=DEFAULT_WAIT_TIMEOUT_S,
        metavar="S",
        help=f"seconds to wait with --wait (default {DEFAULT_WAIT_TIMEOUT_S:g})",
    )

    status = commands_.add_parser("status", help="count a batch's jobs by state")
    status.add_argument("batch", nargs="?", help="the batch (default: every batch)")

    results = commands_.add_parser("results", help="write a batch's results, one JSON line a job")
    results.add_argument("batch")
    results.add_argument("-o", "--output", default=commands.STDIO, help="file (default: stdout)")

    cancel = commands_.add_parser("cancel", help="cancel jobs the upstream has not started")
    cancel.add_argument("job_ids", nargs="*", metavar="JOB_ID")
    cancel.add_argument("--batch", help="cancel every job of this batch that has not ended")

    download = commands_.add_parser(
        "download", help="download a batch's images to DIR/{custom_id or job_id}/{index}.png"
    )
    download.add_argument("batch")
    download.add_argument("directory", type=Path, metavar="DIR")

    redrive = commands_.add_parser(
        "redrive", help="send the submit message of jobs recorded but never sent"
    )
    redrive.add_argument(
        "--min-age",
        type=float,
        default=REDRIVE_MIN_AGE_S,
        metavar="S",
        help=f"only jobs unsent for this long (default {REDRIVE_MIN_AGE_S:g} s)",
    )

    retry = commands_.add_parser(
        "retry", help="submit a batch's FAILED and EXPIRED jobs again, as new jobs"
    )
    retry.add_argument("--batch", required=True)
    retry.add_argument(
        "--code",
        action="append",
        dest="codes",
        metavar="C",
        help="only jobs that failed with this error code, even if paid for (repeat for "
        "several); default: the failures that cost nothing (not SubmitOutcomeUnknown, not a "
        "job whose task succeeded or may have)",
    )

    commands_.add_parser("flower", help="run Flower for the workers, with basic auth")
    emulator = commands_.add_parser(
        "emulator",
        help="run the local DashScope emulator",
        add_help=False,
        description="Arguments are passed to `python -m emulator`.",
    )
    emulator.add_argument("args", nargs=argparse.REMAINDER)
    return parser


def main(argv: Sequence[str] | None = None, *, settings: Settings | None = None) -> int:
    """Run the ``wanq`` command; returns the process exit code.

    Args:
        argv: The arguments (``sys.argv[1:]`` if None).
        settings: The settings (read from the environment if None; tests pass their own).
    """
    arguments = sys.argv[1:] if argv is None else list(argv)
    if arguments[:1] == ["emulator"]:
        # Handed over whole (``--help`` included); imported here so that the producer side
        # never loads the emulator unless asked to.
        from emulator.__main__ import main as emulator_main

        return emulator_main(arguments[1:])
    parser = _build_parser()
    args = parser.parse_args(arguments)
    if args.command == "cancel" and not args.job_ids and args.batch is None:
        parser.error("cancel: give job ids or --batch")
    settings = settings or load_settings()
    console = Console(sys.stdout, sys.stderr)
    try:
        if args.command == "flower":
            exec_flower(settings)
            return 0
        with WanQueue.from_settings(settings) as queue:
            return _run(args, queue, console, settings)
    except (WanqError, RedisError, OSError) as exc:
        print(f"wanq: {exc}", file=console.err)
        return EXIT_REFUSED
    except Exception as exc:
        # A defect, not the user's fault; still one readable line, never a traceback.
        print(f"wanq: internal error ({type(exc).__name__}): {exc}", file=console.err)
        return EXIT_REFUSED


def _run(args: argparse.Namespace, queue: WanQueue, console: Console, settings: Settings) -> int:
    match args.command:
        case "submit":
            options = commands.SubmitOptions(args.batch, args.tenant, args.priority)
            return commands.submit(queue, console, args.manifest, options, args.wait, args.timeout)
        case "status":
            return commands.status(queue, console, args.batch)
        case "results":
            return commands.results(queue, console, args.batch, args.output)
        case "cancel":
            return commands.cancel(queue, console, args.job_ids, args.batch)
        case "download":
            return commands.download_batch(queue, console, settings, args.batch, args.directory)
        case "redrive":
            return commands.redrive(queue, console, args.min_age)
        case "retry":
            return commands.retry(queue, console, args.batch, args.codes)
    raise AssertionError(f"unhandled command {args.command!r}")


if __name__ == "__main__":
    sys.exit(main())
