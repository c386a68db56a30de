"""``signstream edge``: command-line flags on top of the SIGNSTREAM_EDGE_* settings, then run the client."""

from __future__ import annotations

import argparse
from pathlib import Path

from edge_client.settings import load_settings
from shared import cli_args as a

# flag dest -> EdgeSettings field, for flags whose names differ from the field
_RENAMED = {"replay": "source", "speed": "replay_speed", "limit": "replay_limit"}
_FIELDS = (
    "source", "server", "api_key", "ca_bundle", "local_model", "local_only", "store", "model_name", "public_key",
    "json_events", "display", "web_host", "web_port", "realtime", "mirror", "hand_model", "hand_backend",
    "stride",
    "display_names", "record_dir", "device_id", "timeout", "tflite", "threshold", "cors_origins",
)  # fmt: skip


def settings_from_args(args: argparse.Namespace):
    """EdgeSettings from the environment with the given flags on top."""
    overrides = {f: getattr(args, f, None) for f in _FIELDS}
    for flag, name in _RENAMED.items():
        if getattr(args, flag, None) is not None:
            overrides[name] = str(getattr(args, flag)) if name == "source" else getattr(args, flag)
    if overrides["source"] is not None:
        overrides["source"] = str(overrides["source"])
    if getattr(args, "headless", False):
        overrides["display"] = "none"
    return load_settings(**overrides)


def run_edge(args: argparse.Namespace) -> None:
    """Run the edge client until its source ends or SIGTERM/SIGINT."""
    import logging

    from edge_client.runner import run_edge_settings
    from shared.logs import install_repeat_filter

    logging.getLogger("edge_client").setLevel(logging.DEBUG if args.verbose else logging.INFO)
    install_repeat_filter()  # a camera gone or a refused key: said once a minute, with how often
    run_edge_settings(settings_from_args(args))


def cmd_capture(args: argparse.Namespace) -> None:
    from edge_client.capture import capture

    capture(args.label, args.source, args.root, args.count, args.seconds, args.countdown, session=args.session)


def register(sub: argparse._SubParsersAction) -> None:
    """Add edge and capture to ``signstream`` (docs/edge.md)."""
    p = sub.add_parser("capture", help="record labelled clips from a camera or a video file")
    p.add_argument("--label", required=True, help="the sign being recorded (the clip's folder)")
    p.add_argument("--source", default="0", help="camera index, /dev/videoN or a video file (default 0)")
    p.add_argument("--root", type=Path, required=True, help="clips go to ROOT[/SESSION]/LABEL/<timestamp>.mp4")
    p.add_argument("--session", help="who is recording (e.g. a signer's id): clips go to ROOT/SESSION/LABEL/")
    p.add_argument("--count", type=a.positive, default=1, help="clips to record (default 1)")
    p.add_argument("--seconds", type=a.above_0, default=2.0, help="length of each clip (default 2)")
    p.add_argument("--countdown", type=a.at_least_0, default=3.0,
                   help="seconds of countdown before each clip, camera only (default 3)")  # fmt: skip
    p.set_defaults(func=cmd_capture)

    p = sub.add_parser("edge", help="run the edge client (kiosk page, local API, offline fallback)",
                       description="Every flag is also a SIGNSTREAM_EDGE_* setting (docs/edge.md).")  # fmt: skip
    p.add_argument("--source", help="camera index, /dev/videoN, picamera, a video file or a dataset .npz (default 0)")
    p.add_argument("--replay", type=a.existing_file, help="replay a landmark dataset as a live stream (= --source)")
    p.add_argument("--server", help="server base URL, e.g. http://127.0.0.1:8000 (/predict is appended)")
    p.add_argument("--api-key", help="API key for the server")
    p.add_argument("--ca-bundle", type=Path, help="CA bundle to verify the server's TLS certificate")
    p.add_argument("--local-model", type=Path, help="bundle folder: its TFLite model answers when the server cannot")
    p.add_argument("--local-only", action="store_true", default=None, help="never call the server")
    p.add_argument("--store", help="registry store URL to keep the local model current from")
    p.add_argument("--model-name", help="model name in the registry")
    p.add_argument("--public-key", type=Path, help="load only bundles signed by this ed25519 public key")
    p.add_argument("--tflite", choices=("float", "int8"), help="which TFLite file runs locally (default float)")
    p.add_argument("--limit", type=a.positive, help="replay at most this many sequences")
    p.add_argument("--speed", type=float, help="replay speed (1 = real time, the default; 0 = as fast as possible)")
    p.add_argument("--realtime", action="store_true", default=None, help="pace a video file like a camera")
    p.add_argument("--mirror", action="store_true", default=None, help="selfie view: flip frames left-right")
    p.add_argument("--hand-model", choices=("full", "lite"), help="HandLandmarker model (default full)")
    p.add_argument(
        "--hand-backend",
        choices=("auto", "mediapipe", "litert"),
        help="hand landmarks by MediaPipe or on LiteRT (default auto: LiteRT where MediaPipe cannot run)",
    )
    p.add_argument("--stride", type=a.positive, help="frames between windows of a sign (default 5)")
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
    p.add_argument("--display-names", type=a.existing_file, help="JSON {label: name shown}")
    p.add_argument("--record-dir", type=Path, help="store sent windows' landmarks here (default: nothing stored)")
    p.add_argument("--device-id", help="sent as X-Device-Id (default: the host name)")
    p.add_argument("--timeout", type=float, help="seconds to wait for the server's answer (default 2)")
    p.set_defaults(func=run_edge)
