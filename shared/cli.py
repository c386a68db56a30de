"""The ``signstream`` command: one console script, a subcommand per job.

Each subcommand's implementation is imported only when it runs, so ``signstream edge`` works where
TensorFlow is absent. Errors the user can fix end the command with one line and a non-zero exit.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import os
import sys
from collections.abc import Callable
from pathlib import Path
from typing import NoReturn

from shared.errors import SignstreamError

EXIT_USAGE = 2


class CliError(SignstreamError):
    """A command-line problem reported as one line."""


class OneLineParser(argparse.ArgumentParser):
    """An argument parser whose errors are one line (``signstream CMD: error: ...``) and exit 2.

    argparse prints the whole usage block before its error; an operator or a unit's journal needs
    only the line that says what is wrong (``--help`` still shows the usage).
    """

    def error(self, message: str) -> NoReturn:
        self.exit(EXIT_USAGE, f"{self.prog}: error: {message}\n")


def _existing_file(value: str) -> Path:
    p = Path(value)
    if not p.is_file():
        raise argparse.ArgumentTypeError(f"{value}: no such file")
    return p


def _existing_dir(value: str) -> Path:
    p = Path(value)
    if not p.is_dir():
        raise argparse.ArgumentTypeError(f"{value}: no such folder")
    return p


def _positive(value: str) -> int:
    try:
        n = int(value)
    except ValueError as err:
        raise argparse.ArgumentTypeError(f"{value!r} is not an integer") from err
    if n < 1:
        raise argparse.ArgumentTypeError(f"{value} must be at least 1")
    return n


def _number(value: str) -> float:
    try:
        n = float(value)
    except ValueError as err:
        raise argparse.ArgumentTypeError(f"{value!r} is not a number") from err
    if n != n or n in (float("inf"), float("-inf")):
        raise argparse.ArgumentTypeError(f"{value!r} is not a finite number")
    return n


def _above_0(value: str) -> float:
    n = _number(value)
    if n <= 0:
        raise argparse.ArgumentTypeError(f"{value} must be greater than 0")
    return n


def _at_least_0(value: str) -> float:
    n = _number(value)
    if n < 0:
        raise argparse.ArgumentTypeError(f"{value} must not be negative")
    return n


def _frame_rate(value: str) -> float:
    """A frame rate the feature spec accepts (0 < fps <= 120), checked before any work starts."""
    from shared.spec import MAX_FPS

    n = _above_0(value)
    if n > MAX_FPS:
        raise argparse.ArgumentTypeError(f"{value} is above {MAX_FPS:g} frames per second")
    return n


def _name(value: str) -> str:
    """A model or dataset name or version as the manifest and the registry accept it."""
    from shared.bundle import check_name

    try:
        return check_name(value, "name")
    except SignstreamError as err:
        raise argparse.ArgumentTypeError(str(err)) from err


def _classes(value: str) -> list[str]:
    names = [c.strip() for c in value.split(",") if c.strip()]
    if len(names) < 2:
        raise argparse.ArgumentTypeError("give at least two comma-separated class names")
    return names


# --- subcommand implementations (thin: parse, call a module, print) -------------------------------


def cmd_synth(args: argparse.Namespace) -> None:
    from shared.dataset import save_dataset
    from shared.synth import MAX_CLASSES, generate

    if not 2 <= args.classes <= MAX_CLASSES:
        raise CliError(f"--classes must be 2..{MAX_CLASSES}")
    ds = generate(args.classes, args.per_class, args.signers, args.frames, args.seed)
    save_dataset(args.out, ds)
    print(f"wrote {args.out}: {len(ds)} sequences, {len(ds.classes)} classes, {args.signers} signers")


def cmd_import_mpdata(args: argparse.Namespace) -> None:
    from shared.dataset import save_dataset
    from shared.mpdata import import_mpdata

    ds = import_mpdata(args.root, args.session)
    save_dataset(args.out, ds)
    print(f"wrote {args.out}: {len(ds)} sequences, classes: {', '.join(ds.classes)}")


def cmd_capture(args: argparse.Namespace) -> None:
    from edge_client.capture import capture

    capture(args.label, args.source, args.root, args.count, args.seconds, args.countdown, session=args.session)


def cmd_keys(args: argparse.Namespace) -> None:
    from cloud_server.keys import add_key, read_keys, revoke_key

    if not args.file:
        raise CliError("give --file or set SIGNSTREAM_SERVER_KEYS_FILE")
    if args.keys_command != "add" and not args.file.is_file():  # only add may create the file
        raise CliError(f"{args.file}: no such key file (create one with 'signstream keys add NAME --file FILE')")
    if args.keys_command == "add":
        key = add_key(args.file, args.name, args.admin)
        print(f"created key {args.name!r}{' (admin)' if args.admin else ''}; it is shown only this once:")
        print(key)
    elif args.keys_command == "revoke":
        revoke_key(args.file, args.name)
        print(f"revoked key {args.name!r}; servers refuse it within a second")
    else:
        keys = read_keys(args.file).keys
        if not keys:
            print(f"{args.file}: no keys")
        for k in keys:
            state = f"revoked {k.revoked}" if k.revoked else "active"
            print(f"{k.name:<24} {'admin' if k.admin else 'client':<6} created {k.created}  {state}")


def _lazy(module: str, function: str) -> Callable[[argparse.Namespace], None]:
    """A subcommand whose implementation (and its heavy imports) loads only when it runs."""

    def run(args: argparse.Namespace) -> None:
        getattr(importlib.import_module(module), function)(args)

    return run


# --- parser ----------------------------------------------------------------------------------------


def _add_registry_commands(sub: argparse._SubParsersAction) -> None:
    """push, pull, models, promote, rollback, signing-key (shared/registry/cli.py, docs/registry.md)."""

    def store_options(p: argparse.ArgumentParser) -> None:
        p.add_argument("--store", help="s3://bucket/prefix or file:///abs/path (default $SIGNSTREAM_STORE)")
        p.add_argument("--region", help="AWS region (default: the AWS chain's)")
        p.add_argument("--profile", help="AWS profile (default: the AWS chain's)")

    p = sub.add_parser("push", help="push a model bundle or a dataset to the registry")
    p.add_argument("path", type=Path, help="bundle folder (has manifest.json) or dataset .npz file")
    store_options(p)
    p.add_argument("--name", type=_name, help="bundles: must match the manifest; datasets: default the file's name")
    p.add_argument("--version", type=_name, help="bundles: must match the manifest; datasets: default a UTC timestamp")
    p.add_argument("--signing-key", type=Path, help="ed25519 private key (default $SIGNSTREAM_SIGNING_KEY)")
    p.set_defaults(func=_lazy("shared.registry.cli", "run_push"))

    p = sub.add_parser("pull", help="pull a model version (default: current) into a new folder")
    p.add_argument("name", help="model (or dataset) name")
    p.add_argument("version", nargs="?", help="version (default: the current one)")
    store_options(p)
    p.add_argument("--out", type=Path, required=True, help="folder to create (an identical verified copy is reused)")
    p.add_argument("--public-key", type=Path, help="refuse bundles not signed by this key ($SIGNSTREAM_PUBLIC_KEY)")
    p.add_argument("--dataset", action="store_true", help="pull a dataset instead of a model")
    p.set_defaults(func=_lazy("shared.registry.cli", "run_pull"))

    p = sub.add_parser("models", help="list models (versions, current, metrics) and datasets")
    store_options(p)
    p.add_argument("--json", action="store_true", help="one JSON document on stdout")
    p.set_defaults(func=_lazy("shared.registry.cli", "run_models"))

    p = sub.add_parser("promote", help="verify a version and make it current")
    p.add_argument("name")
    p.add_argument("version")
    store_options(p)
    p.add_argument("--by", help="who promotes (default user@host)")
    p.add_argument("--public-key", type=Path, help="also require a valid signature ($SIGNSTREAM_PUBLIC_KEY)")
    p.set_defaults(func=_lazy("shared.registry.cli", "run_promote"))

    p = sub.add_parser("rollback", help="point current back at the previous version")
    p.add_argument("name")
    store_options(p)
    p.add_argument("--by", help="who rolls back (default user@host)")
    p.set_defaults(func=_lazy("shared.registry.cli", "run_rollback"))

    p = sub.add_parser("signing-key", help="create an ed25519 key pair for signing bundles")
    p.add_argument("--private", type=Path, required=True, help="private key file to create (mode 0600)")
    p.add_argument("--public", type=Path, help="public key file to create (default: PRIVATE with .pub)")
    p.set_defaults(func=_lazy("shared.registry.cli", "run_signing_key"))


def build_parser() -> argparse.ArgumentParser:
    """The argparse tree of every subcommand."""
    parser = OneLineParser(
        prog="signstream",
        description="Sign recognition from hand landmarks: data, training, the server, the kiosk and the model "
        "registry, one command per job ('signstream COMMAND --help' for each).",
    )
    parser.add_argument("-v", "--verbose", action="store_true", help="log more")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    p = sub.add_parser("demo", help="run the whole system on synthetic data and show live labels")
    p.add_argument("--workdir", type=Path, default=Path(".demo"), help="where the demo writes (default .demo)")
    p.add_argument("--data", type=_existing_file, help="replay a real dataset instead of synthetic data")
    p.add_argument("--source", help="use a camera (index or /dev/videoN) or a video file instead of a replay")
    p.add_argument("--epochs", type=_positive, default=25, help="training epochs (default 25)")
    p.add_argument("--port", type=int, default=0, help="server port (default: a free one)")
    p.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    p.set_defaults(func=_lazy("shared.demo", "run_demo"))

    p = sub.add_parser("synth", help="write a synthetic landmark dataset")
    p.add_argument("--out", type=Path, required=True, help="output .npz")
    p.add_argument("--classes", type=int, default=6, help="number of classes (2..12, default 6)")
    p.add_argument("--per-class", type=_positive, default=40, help="sequences per class (default 40)")
    p.add_argument("--signers", type=_positive, default=4, help="synthetic signers = sessions (default 4)")
    p.add_argument("--frames", type=_positive, default=30, help="frames per sequence (default 30)")
    p.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    p.set_defaults(func=cmd_synth)

    p = sub.add_parser("import-mpdata", help="import an MP_Data/<class>/<seq>/<frame>.npy tree")
    p.add_argument("root", type=_existing_dir, help="the folder holding one sub-folder per class")
    p.add_argument("--out", type=Path, required=True, help="output .npz")
    p.add_argument("--session", help="session name (default: the folder's name)")
    p.set_defaults(func=cmd_import_mpdata)

    p = sub.add_parser("capture", help="record labelled clips from a camera or a video file")
    p.add_argument("--label", required=True, help="the sign being recorded (the clip's folder)")
    p.add_argument("--source", default="0", help="camera index, /dev/videoN or a video file (default 0)")
    p.add_argument("--root", type=Path, required=True, help="clips go to ROOT[/SESSION]/LABEL/<timestamp>.mp4")
    p.add_argument("--session", help="who is recording (e.g. a signer's id): clips go to ROOT/SESSION/LABEL/")
    p.add_argument("--count", type=_positive, default=1, help="clips to record (default 1)")
    p.add_argument("--seconds", type=_above_0, default=2.0, help="length of each clip (default 2)")
    p.add_argument("--countdown", type=_at_least_0, default=3.0,
                   help="seconds of countdown before each clip, camera only (default 3)")  # fmt: skip
    p.set_defaults(func=cmd_capture)

    p = sub.add_parser("extract", help="extract hand landmarks from videos into a dataset")
    p.add_argument("inputs", type=Path, nargs="+", help="video files, or folders of LABEL/*.mp4")
    p.add_argument("--out", type=Path, required=True, help="dataset .npz to create")
    p.add_argument("--workers", type=_positive, default=2, help="processes (default 2)")
    p.add_argument("--hand-model", choices=("full", "lite"), default="full", help="HandLandmarker model (default full)")
    p.add_argument(
        "--label-from",
        choices=("folder", "stem"),
        default="folder",
        help="label = the clip's folder (default) or its file name without a trailing _NNN",
    )
    p.add_argument(
        "--session",
        help="session of every clip (default: the folder above the label, else the recording day; never the label)",
    )
    p.set_defaults(func=_lazy("cloud_server.training.cli", "run_extract"))

    p = sub.add_parser("train", help="train a model and write a bundle")
    p.add_argument("--data", type=_existing_file, action="append", required=True, help="dataset .npz (repeatable)")
    p.add_argument("--classes", type=_classes, help="comma-separated classes to train on (default: all)")
    p.add_argument("--out", type=Path, required=True, help="bundle folder to create (must not exist)")
    p.add_argument("--epochs", type=_positive, help="training epochs (default: the measured default)")
    p.add_argument("--fps", type=_frame_rate, help="frame rate a window assumes (default: the data's, else 15)")
    p.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    p.add_argument("--name", type=_name, default="signs", help="model name in the manifest (default signs)")
    p.add_argument("--version", type=_name, help="model version (default: a UTC timestamp)")
    p.add_argument(
        "--no-sign-label",
        default="idle",
        help="the class meaning nobody signs: answered as no sign, never shown (default idle)",
    )
    p.set_defaults(func=_lazy("cloud_server.training.cli", "run_train"))

    p = sub.add_parser("evaluate", help="evaluate a bundle on a dataset")
    p.add_argument("--model", type=_existing_dir, required=True, help="bundle folder")
    p.add_argument("--data", type=_existing_file, required=True, help="dataset .npz")
    p.add_argument("--runtime", choices=("savedmodel", "tflite", "int8"), default="savedmodel",
                   help="which of the bundle's models to run (default savedmodel)")  # fmt: skip
    p.add_argument("--report", type=Path, help="folder for the PNGs and metrics (default reports/<model>-<data>)")
    p.add_argument("--json", action="store_true", help="end with one JSON line of metrics on stdout")
    p.set_defaults(func=_lazy("cloud_server.training.cli", "run_evaluate"))

    p = sub.add_parser("serve", help="serve a bundle, or a registry's promoted model, over HTTP under gunicorn")
    p.add_argument("--model", type=_existing_dir, help="bundle folder to serve (or a symlink to one)")
    p.add_argument("--store", help="registry URL to follow instead (s3://bucket/prefix or file:///path)")
    p.add_argument("--model-name", help="with --store: the model whose promoted version is served")
    p.add_argument("--host", help="address to bind (default 127.0.0.1)")
    p.add_argument("--port", type=int, help="port (default 8000)")
    p.add_argument("--workers", type=_positive, help="worker processes (default 2)")
    p.add_argument("--threads", type=_positive, help="threads per worker (default 4)")
    p.add_argument("--no-auth", action="store_true", help="no API keys (loopback addresses only)")
    p.add_argument("--keys-file", type=Path, help="API key file (default $SIGNSTREAM_SERVER_KEYS_FILE)")
    p.add_argument("--env-file", type=Path, help="settings file of SIGNSTREAM_SERVER_*=value lines (systemd style)")
    p.set_defaults(func=_lazy("cloud_server.serve", "run_serve"))

    p = sub.add_parser("bench", help="benchmarks: accuracy, model, server, edge, landmarks (docs/benchmarks.md)")
    bench = p.add_subparsers(dest="bench", required=True, metavar="WHAT")
    b = bench.add_parser("accuracy", help="our training vs the seed recipes on unseen signers and sessions")
    b.add_argument("--data-dir", type=_existing_dir, help="real data folder (default $SIGN_DATA_DIR)")
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
    b.set_defaults(func=_lazy("cloud_server.training.bench_accuracy", "main"))
    b = bench.add_parser("model", help="a bundle's size and latency on one core, beside the seed LSTM")
    b.add_argument("--model", type=_existing_dir, required=True, help="bundle folder")
    b.add_argument("--repeats", type=_positive, default=200, help="timed calls per measurement (default 200)")
    b.set_defaults(func=_lazy("cloud_server.training.bench_model", "main"))
    b = bench.add_parser("server", help="our server vs the seed-style Flask/LSTM server under concurrent clients")
    b.add_argument("--model", type=_existing_dir, required=True, help="bundle to serve")
    b.add_argument("--duration", type=_above_0, default=20.0, help="seconds of load per configuration (default 20)")
    b.add_argument("--swap-seconds", type=_at_least_0, default=60.0,
                   help="seconds of load with a model swap midway (0: skip; default 60)")  # fmt: skip
    b.add_argument("--clients", type=_positive, default=16, help="concurrent keep-alive clients (default 16)")
    b.add_argument("--out", type=Path, help="write the results as JSON here too")
    b.set_defaults(func=_lazy("cloud_server.bench_server", "main"))
    b = bench.add_parser("edge", help="edge pipeline rate vs the landmark extractor's, server up/down/slow; latency")
    b.add_argument("--model", type=_existing_dir, required=True, help="bundle to serve and to run locally")
    b.add_argument("--data-dir", type=_existing_dir, help="real data folder (default $SIGN_DATA_DIR)")
    b.add_argument("--repeats", type=_positive, default=3, help="runs per clip and scenario (default 3)")
    b.add_argument("--delay", type=_at_least_0, default=0.5, help="added server latency, seconds (default 0.5)")
    b.add_argument("--out", type=Path, help="write the results as JSON here too")
    b.set_defaults(func=_lazy("edge_client.bench", "main"))
    b = bench.add_parser("landmarks", help="hand landmark backends (MediaPipe, LiteRT) and models: time per frame")
    b.add_argument("--data-dir", type=_existing_dir, help="real data folder (default $SIGN_DATA_DIR)")
    b.add_argument("--repeats", type=_positive, default=3, help="interleaved rounds (default 3)")
    b.add_argument("--out", type=Path, help="write the results as JSON here too")
    b.set_defaults(func=_lazy("edge_client.bench", "landmarks_main"))

    p = sub.add_parser("keys", help="maintain the server's API key file")
    keys = p.add_subparsers(dest="keys_command", required=True, metavar="ACTION")
    for action, text in (("add", "create a key and print it once"), ("list", "list keys (never the keys themselves)"),
                         ("revoke", "revoke a key (its requests get 403)")):  # fmt: skip
        k = keys.add_parser(action, help=text)
        if action != "list":
            k.add_argument("name", help="who or what the key is for, e.g. kiosk-lobby")
        if action == "add":
            k.add_argument("--admin", action="store_true", help="may call the admin endpoints")
        k.add_argument("--file", type=Path, default=os.environ.get("SIGNSTREAM_SERVER_KEYS_FILE"),
                       help="key file (default $SIGNSTREAM_SERVER_KEYS_FILE)")  # fmt: skip
    p.set_defaults(func=cmd_keys)

    _add_registry_commands(sub)

    p = sub.add_parser("edge", help="run the edge client (kiosk page, local API, offline fallback)",
                       description="Every flag is also a SIGNSTREAM_EDGE_* setting (docs/edge.md).")  # fmt: skip
    p.add_argument("--source", help="camera index, /dev/videoN, picamera, a video file or a dataset .npz (default 0)")
    p.add_argument("--replay", type=_existing_file, help="replay a landmark dataset as a live stream (= --source)")
    p.add_argument("--server", help="server base URL, e.g. http://127.0.0.1:8000 (/predict is appended)")
    p.add_argument("--api-key", help="API key for the server")
    p.add_argument("--ca-bundle", type=Path, help="CA bundle to verify the server's TLS certificate")
    p.add_argument("--local-model", type=Path, help="bundle folder: its TFLite model answers when the server cannot")
    p.add_argument("--local-only", action="store_true", default=None, help="never call the server")
    p.add_argument("--store", help="registry store URL to keep the local model current from")
    p.add_argument("--model-name", help="model name in the registry")
    p.add_argument("--public-key", type=Path, help="load only bundles signed by this ed25519 public key")
    p.add_argument("--tflite", choices=("float", "int8"), help="which TFLite file runs locally (default float)")
    p.add_argument("--limit", type=_positive, help="replay at most this many sequences")
    p.add_argument("--speed", type=float, help="replay speed (1 = real time, the default; 0 = as fast as possible)")
    p.add_argument("--realtime", action="store_true", default=None, help="pace a video file like a camera")
    p.add_argument("--mirror", action="store_true", default=None, help="selfie view: flip frames left-right")
    p.add_argument("--hand-model", choices=("full", "lite"), help="HandLandmarker model (default full)")
    p.add_argument(
        "--hand-backend",
        choices=("auto", "mediapipe", "litert"),
        help="hand landmarks by MediaPipe or on LiteRT (default auto: LiteRT where MediaPipe cannot run)",
    )
    p.add_argument("--stride", type=_positive, help="frames between windows of a sign (default 5)")
    p.add_argument("--threshold", type=float, help="confidence needed to show a label (default: the model's)")
    p.add_argument("--display", choices=("web", "opencv", "none"), help="kiosk page (default), OpenCV window or none")
    p.add_argument("--headless", action="store_true", help="no display (= --display none); the local API stays on")
    p.add_argument("--json-events", action="store_true", default=None, help="one JSON line per event on stdout")
    p.add_argument("--web-host", help="address of the kiosk page and local API (default 127.0.0.1)")
    p.add_argument("--web-port", type=int, help="port of the kiosk page and local API (default 8080)")
    p.add_argument(
        "--cors-origins",
        help="origins (scheme://host[:port], comma-separated) whose pages may steer the kiosk (none by default)",
    )
    p.add_argument("--display-names", type=_existing_file, help="JSON {label: name shown}")
    p.add_argument("--record-dir", type=Path, help="store sent windows' landmarks here (default: nothing stored)")
    p.add_argument("--device-id", help="sent as X-Device-Id (default: the host name)")
    p.add_argument("--timeout", type=float, help="seconds to wait for the server's answer (default 2)")
    p.set_defaults(func=_lazy("edge_client.cli", "run_edge"))
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
