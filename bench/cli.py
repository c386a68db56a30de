"""``signstream bench ...``: the benchmarks, in a checkout only (bench/ is not in the wheel)."""

from __future__ import annotations

import argparse
import os
from pathlib import Path

from shared.app import cli_args as a

EDGE_PARTS = ("stages", "memory", "chromium", "scenarios")


def _edge_parts(value: str) -> list[str]:
    parts = [p.strip() for p in value.split(",") if p.strip()]
    if not parts or any(p not in EDGE_PARTS for p in parts):
        raise argparse.ArgumentTypeError(f"{value!r}: give some of {','.join(EDGE_PARTS)}")
    return parts


def _against(value: str) -> list[str]:
    from bench.against import parse_against  # bench.against is light, but keep `signstream --help` lean

    return parse_against(value)


def _steps(value: str) -> list[int]:
    from bench.against import parse_steps

    return parse_steps(value)


def _server(args: argparse.Namespace) -> None:
    """``bench server``: against the reference server, or with ``--against`` the serving frameworks' race."""
    a.lazy("bench.against" if args.against else "bench.server", "main")(args)


def register(sub: argparse._SubParsersAction) -> None:
    """Add ``bench`` with its six measurements (docs/benchmarks.md)."""
    p = sub.add_parser(
        "bench", help="benchmarks: accuracy, model, server, edge, landmarks, fewshot (docs/benchmarks.md)"
    )
    bench = p.add_subparsers(dest="bench", required=True, metavar="WHAT")
    b = bench.add_parser("accuracy", help="our training vs the reference recipes on unseen signers and sessions")
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
                   help="ours,signia,helen: our training and the reference recipes (default all three)")  # fmt: skip
    b.add_argument("--out", type=Path, help="write the results as JSON here too")
    b.add_argument("--report", type=Path, help="write our model's confusion matrix per split (summed over seeds) here")
    b.set_defaults(func=a.lazy("bench.accuracy", "main"))
    b = bench.add_parser("model", help="a bundle's size and latency on one core, beside the reference LSTM")
    b.add_argument("--model", type=a.existing_dir, required=True, help="bundle folder")
    b.add_argument("--repeats", type=a.positive, default=200, help="timed calls per measurement (default 200)")
    b.set_defaults(func=a.lazy("bench.model", "main"))
    b = bench.add_parser(
        "server", help="our server vs the reference Flask/LSTM server, or (--against) the serving frameworks"
    )
    b.add_argument("--model", type=a.existing_dir, required=True, help="bundle to serve")
    b.add_argument("--duration", type=a.above_0, default=20.0, help="seconds of load per configuration (default 20)")
    b.add_argument("--swap-seconds", type=a.at_least_0, default=60.0,
                   help="seconds of load with a model swap midway (0: skip; default 60)")  # fmt: skip
    b.add_argument("--clients", type=a.positive, default=16, help="concurrent keep-alive clients (default 16)")
    b.add_argument("--against", type=_against, metavar="NAMES",
                   help="race the serving frameworks instead: comma-separated bentoml,litserve,mlserver")  # fmt: skip
    b.add_argument("--steps", type=_steps, default=[1, 4, 16, 64],
                   help="with --against: comma-separated client counts (default 1,4,16,64)")  # fmt: skip
    b.add_argument("--rounds", type=a.positive, default=2, help="with --against: alternated rounds (default 2)")
    b.add_argument("--runtime", choices=["savedmodel", "tflite"],
                   default=os.environ.get("SIGNSTREAM_SERVER_MODEL_RUNTIME", "savedmodel"),
                   help="with --against: our server's model runtime and the ceiling's "
                        "(default $SIGNSTREAM_SERVER_MODEL_RUNTIME or savedmodel)")  # fmt: skip
    b.add_argument("--venvs", type=Path,
                   help="with --against: folder the frameworks' venvs are made in and reused from "
                        "(default $SIGNSTREAM_BENCH_VENVS or ~/.cache/signstream/bench-venvs)")  # fmt: skip
    b.add_argument("--out", type=Path, help="write the results as JSON here too")
    b.set_defaults(func=_server)
    b = bench.add_parser("edge", help="the kiosk: time by stage, memory; rate vs extractor, server up/down/slow")
    b.add_argument("--model", type=a.existing_dir, required=True, help="bundle to serve and to run locally")
    b.add_argument("--data-dir", type=a.existing_dir, help="real data folder (default $SIGN_DATA_DIR)")
    b.add_argument("--repeats", type=a.positive, default=3,
                   help="runs per clip in each scenario, backend and model (default 3)")  # fmt: skip
    b.add_argument("--delay", type=a.at_least_0, default=0.5, help="added server latency, seconds (default 0.5)")
    b.add_argument("--parts", type=_edge_parts, default=["stages", "memory", "scenarios"],
                   help="comma-separated: stages (time per frame by stage, per hand backend and model), memory "
                   "(the kiosk's RSS, part by part), chromium (the page's memory in Chromium), scenarios "
                   "(server up/stopped/slow); default stages,memory,scenarios")  # fmt: skip
    b.add_argument("--out", type=Path, help="write the results as JSON here too")
    b.set_defaults(func=a.lazy("bench.edge", "main"))
    b = bench.add_parser("landmarks", help="hand landmark backends (MediaPipe, LiteRT) and models: time per frame")
    b.add_argument("--data-dir", type=a.existing_dir, help="real data folder (default $SIGN_DATA_DIR)")
    b.add_argument("--repeats", type=a.positive, default=3, help="interleaved rounds (default 3)")
    b.add_argument("--out", type=Path, help="write the results as JSON here too")
    b.set_defaults(func=a.lazy("bench.edge", "landmarks_main"))
    b = bench.add_parser("fewshot", help="signs enrolled from n examples of one person, beside a nearest-mean baseline")
    b.add_argument("--data-dir", type=a.existing_dir, help="real data folder (default $SIGN_DATA_DIR)")
    b.add_argument("--base", type=a.existing_dir, help="a base bundle trained by an earlier run (default: train one)")
    b.add_argument("--workdir", type=Path, default=Path("reports/fewshot"), help="where the base and results go")
    b.add_argument("--shots", type=lambda v: [int(s) for s in v.split(",")], default=[1, 3, 5, 10],
                   help="comma-separated example counts (default 1,3,5,10)")  # fmt: skip
    b.add_argument("--seed", type=int, default=0, help="split and training seed (default 0)")
    b.add_argument("--held-out", type=lambda v: v.split(","), default=["please", "good", "goodbye"],
                   help="comma-separated words the base never sees (default please,good,goodbye)")  # fmt: skip
    b.add_argument("--people", type=a.positive, default=1,
                   help="examples from this many signers of the word, in turn (default 1)")  # fmt: skip
    b.set_defaults(func=a.lazy("bench.fewshot", "main"))
