"""The ``signstream`` command: one console script, a subcommand per job.

Each side declares its own commands (``register(sub)`` in its ``cli`` module); this module only
puts them under one parser and turns the errors a user can fix into one line and a non-zero exit.
A subcommand's implementation is imported only when it runs, so ``signstream edge`` works where
TensorFlow is absent.
"""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path

from cloud_server import cli as server_cli
from cloud_server.training import cli as training_cli
from edge_client import cli as edge_cli
from shared import cli_args as a
from shared import dataset_cli
from shared.cli_args import EXIT_USAGE, OneLineParser
from shared.errors import SignstreamError
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
    p = sub.add_parser("bench", help="benchmarks: accuracy, model, server, edge, landmarks (docs/benchmarks.md)")
    bench = p.add_subparsers(dest="bench", required=True, metavar="WHAT")
    b = bench.add_parser("accuracy", help="our training vs the seed recipes on unseen signers and sessions")
    b.add_argument("--data-dir", type=a.existing_dir, help="real data folder (default $SIGN_DATA_DIR)")
    b.add_argument("--seeds", type=lambda v: [int(s) for s in v.split(",")], default=[0, 1, 2],
                   help="comma-separated training seeds, each figure a mean over them (default 0,1,2)")  # fmt: skip
    b.add_argument(
        "--splits",
        type=lambda v: v.split(","),
        default=["asl", "ksl", "many"],
        help="asl,ksl,many (many: the 98-signer ASL file, a fifth of its signers held out)",
    )
    b.add_argument("--methods", type=lambda v: v.split(","), default=["ours", "signia", "helen"],
                   help="ours,signia,helen: our training and the two seed recipes (default all three)")  # fmt: skip
    b.add_argument("--out", type=Path, help="write the results as JSON here too")
    b.add_argument("--report", type=Path, help="write our model's confusion matrix per split (summed over seeds) here")
    b.set_defaults(func=a.lazy("cloud_server.training.bench_accuracy", "main"))
    b = bench.add_parser("model", help="a bundle's size and latency on one core, beside the seed LSTM")
    b.add_argument("--model", type=a.existing_dir, required=True, help="bundle folder")
    b.add_argument("--repeats", type=a.positive, default=200, help="timed calls per measurement (default 200)")
    b.set_defaults(func=a.lazy("cloud_server.training.bench_model", "main"))
    b = bench.add_parser("server", help="our server vs the seed-style Flask/LSTM server under concurrent clients")
    b.add_argument("--model", type=a.existing_dir, required=True, help="bundle to serve")
    b.add_argument("--duration", type=a.above_0, default=20.0, help="seconds of load per configuration (default 20)")
    b.add_argument("--swap-seconds", type=a.at_least_0, default=60.0,
                   help="seconds of load with a model swap midway (0: skip; default 60)")  # fmt: skip
    b.add_argument("--clients", type=a.positive, default=16, help="concurrent keep-alive clients (default 16)")
    b.add_argument("--out", type=Path, help="write the results as JSON here too")
    b.set_defaults(func=a.lazy("cloud_server.bench_server", "main"))
    b = bench.add_parser("edge", help="edge pipeline rate vs the landmark extractor's, server up/down/slow; latency")
    b.add_argument("--model", type=a.existing_dir, required=True, help="bundle to serve and to run locally")
    b.add_argument("--data-dir", type=a.existing_dir, help="real data folder (default $SIGN_DATA_DIR)")
    b.add_argument("--repeats", type=a.positive, default=3, help="runs per clip and scenario (default 3)")
    b.add_argument("--delay", type=a.at_least_0, default=0.5, help="added server latency, seconds (default 0.5)")
    b.add_argument("--out", type=Path, help="write the results as JSON here too")
    b.set_defaults(func=a.lazy("edge_client.bench", "main"))
    b = bench.add_parser("landmarks", help="hand landmark backends (MediaPipe, LiteRT) and models: time per frame")
    b.add_argument("--data-dir", type=a.existing_dir, help="real data folder (default $SIGN_DATA_DIR)")
    b.add_argument("--repeats", type=a.positive, default=3, help="interleaved rounds (default 3)")
    b.add_argument("--out", type=Path, help="write the results as JSON here too")
    b.set_defaults(func=a.lazy("edge_client.bench", "landmarks_main"))


def build_parser() -> argparse.ArgumentParser:
    """The argparse tree of every subcommand."""
    parser = OneLineParser(
        prog="signstream",
        description="Sign recognition from hand landmarks: data, training, the server, the kiosk and the model "
        "registry, one command per job ('signstream COMMAND --help' for each).",
    )
    parser.add_argument("-v", "--verbose", action="store_true", help="log more")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for register in (_register_demo, dataset_cli.register, training_cli.register, server_cli.register,
                     _register_bench, registry_cli.register, edge_cli.register):  # fmt: skip
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
    except (SignstreamError, FileExistsError, ValueError) as err:
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
