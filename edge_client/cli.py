"""``signstream edge``: command-line flags on top of the SIGNSTREAM_EDGE_* settings, then run the client."""

from __future__ import annotations

import argparse

from edge_client.settings import load_settings

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
