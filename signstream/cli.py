"""The ``signstream`` command: one console script, a subcommand per job.

Each side declares its own commands (``register(sub)`` in its ``cli`` module); this module only
puts them under one parser and turns the errors a user can fix into one line and a non-zero exit.
A subcommand's implementation is imported only when it runs, so ``signstream edge`` works where
TensorFlow is absent.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import sys
from pathlib import Path

from pydantic import ValidationError

from cloud_server import cli as server_cli
from cloud_server.training import cli as training_cli
from edge_client import cli as edge_cli
from shared.app import cli_args as a
from shared.app.cli_args import EXIT_USAGE, OneLineParser
from shared.app.errors import SignstreamError
from shared.datasets import dataset_cli
from shared.enrolment import cli as enroll_cli
from shared.registry import cli as registry_cli


def _register_demo(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("demo", help="run the whole system on synthetic data and show live labels")
    p.add_argument("--workdir", type=Path, default=Path(".demo"), help="where the demo writes (default .demo)")
    p.add_argument("--data", type=a.existing_file, help="replay a real dataset instead of synthetic data")
    p.add_argument("--source", help="use a camera (index or /dev/videoN) or a video file instead of a replay")
    p.add_argument("--epochs", type=a.positive, default=25, help="training epochs (default 25)")
    p.add_argument("--port", type=int, default=0, help="server port (default: a free one)")
    p.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    p.set_defaults(func=a.lazy("signstream.demo", "run_demo"))


def _register_bench(sub: argparse._SubParsersAction) -> None:
    """``signstream bench`` where the checkout's bench/ (not part of an install) is beside the packages."""
    checkout = Path(__file__).resolve().parents[1]
    if not (checkout / "bench" / "cli.py").is_file():
        return
    if str(checkout) not in sys.path:
        sys.path.append(str(checkout))
    importlib.import_module("bench.cli").register(sub)


def build_parser() -> argparse.ArgumentParser:
    """The argparse tree of every subcommand."""
    parser = OneLineParser(
        prog="signstream",
        description="Sign recognition from hand landmarks: data, training, the server, the kiosk and the model "
        "registry, one command per job ('signstream COMMAND --help' for each).",
    )
    parser.add_argument("-v", "--verbose", action="store_true", help="log more")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for register in (_register_demo, dataset_cli.register, training_cli.register, enroll_cli.register,
                     server_cli.register, _register_bench, registry_cli.register, edge_cli.register):  # fmt: skip
        register(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Entry point of the console script."""
    parser = build_parser()
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=logging.INFO if args.verbose else logging.WARNING,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    try:
        args.func(args)
    except (SignstreamError, FileExistsError, ValidationError) as err:  # what a user can fix; a bug keeps its trace
        print(f"signstream {args.command}: error: {err}", file=sys.stderr)
        return EXIT_USAGE
    except OSError as err:  # disk full, file too large, permission denied: one line, not a traceback
        where = f": {err.filename}" if err.filename else ""
        print(f"signstream {args.command}: error: {err.strerror or err}{where}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print(f"signstream {args.command}: interrupted", file=sys.stderr)
        return 130
    return 0


if __name__ == "__main__":
    sys.exit(main())
