"""``signstream edge`` and ``capture``. Every EdgeSettings field is a flag (``shared/app/settings_flags.py``)
and a SIGNSTREAM_EDGE_* variable; a flag given wins over the environment."""

from __future__ import annotations

import argparse
from pathlib import Path

from edge_client.settings import EdgeSettings, load_settings
from shared.app import cli_args as a
from shared.app.settings_flags import add_setting_flags, overrides

# Flag names older than the settings they set; every other flag is its setting's name.
ALIASES = {"replay": "source", "speed": "replay_speed", "limit": "replay_limit", "sync-interval": "poll_interval"}
CONSTANTS = {"headless": ("display", "none", "no display (= --display none); the local API stays on")}


def settings_from_args(args: argparse.Namespace):
    """EdgeSettings from the environment with the given flags on top."""
    return load_settings(**overrides(args, EdgeSettings))


def run_edge(args: argparse.Namespace) -> None:
    """Run the edge client until its source ends or SIGTERM/SIGINT."""
    import logging

    from edge_client.assembly import run_edge_settings
    from shared.app.logs import install_repeat_filter

    logging.getLogger("edge_client").setLevel(logging.DEBUG if args.verbose else logging.INFO)
    install_repeat_filter()  # a camera gone or a refused key: said once a minute, with how often
    run_edge_settings(settings_from_args(args))


def cmd_capture(args: argparse.Namespace) -> None:
    from contextlib import nullcontext

    from edge_client.capture import HandCheck, capture

    with nullcontext() if args.no_check else HandCheck(args.hand_model, args.no_sign_label, args.model) as check:
        capture(args.label, args.source, args.root, args.count, args.seconds, args.countdown, session=args.session,
                check=check)  # fmt: skip


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
    p.add_argument(
        "--no-check",
        action="store_true",
        help="do not look for the hand in each clip (by default a clip to record again is said at once)",
    )
    p.add_argument(
        "--hand-model",
        choices=("full", "lite"),
        default="full",
        help="HandLandmarker model for the check (default full, as extract)",
    )
    p.add_argument("--no-sign-label", default="idle",
                   help="the class recorded without signing: its clips need no hand (default idle)")  # fmt: skip
    p.add_argument("--model", type=Path,
                   help="a bundle: say when it confidently sees a clip as another sign than its label")  # fmt: skip
    p.set_defaults(func=cmd_capture)

    p = sub.add_parser("edge", help="run the edge client (kiosk page, local API, offline fallback)",
                       description="Every flag is also a SIGNSTREAM_EDGE_* setting (docs/edge.md).")  # fmt: skip
    add_setting_flags(p, EdgeSettings, aliases=ALIASES, constants=CONSTANTS)
    p.set_defaults(func=run_edge)
