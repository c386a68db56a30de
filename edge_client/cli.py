"""``signstream edge``: run the pipeline and print answers (headless; the kiosk page is issue 6)."""

from __future__ import annotations

import argparse
import json
import sys

from edge_client.pipeline import LabelEvent, Pipeline
from edge_client.sources import ReplaySource
from edge_client.transport import CloudClient
from edge_client.window import Windower
from shared.dataset import load_dataset
from shared.errors import SignstreamError


def run_edge(args: argparse.Namespace) -> None:
    """Replay a dataset through the pipeline against ``--server``."""
    if not args.replay:
        raise SignstreamError("only --replay FILE.npz is built yet (camera and video sources: issue 6)")
    ds = load_dataset(args.replay)
    source = ReplaySource(ds, speed=args.speed, limit=args.limit)
    client = CloudClient(args.server, api_key=args.api_key)

    def on_event(ev: LabelEvent) -> None:
        if args.json_events:
            print(json.dumps(ev.as_dict()), flush=True)
        else:
            print(f"{ev.label or '(no sign)':>16}  conf {ev.confidence:.2f}  truth {ev.truth}", flush=True)

    counters = Pipeline(source, Windower(), client, on_event, lossless=True).run()
    client.close()
    print(json.dumps({"event": "summary", **counters.__dict__}) if args.json_events else f"done: {counters}",
          file=sys.stdout if args.json_events else sys.stderr)  # fmt: skip
