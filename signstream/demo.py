"""``signstream demo``: the whole system on one machine, on synthetic data (or ``--data``).

Makes a dataset and pushes it to a ``file://`` registry, trains a small model, evaluates it on a
signer it never saw (confusion matrix PNG), pushes it signed and promotes it; the real server
(gunicorn on 127.0.0.1) follows the registry's pointer; the edge client replays the unseen signer
(or ``--source`` a camera) with its kiosk page on a printed localhost URL, prints each live label
beside the replayed truth, and everything it started is stopped at the end.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time
from pathlib import Path

from shared.app.processes import free_port, stop_server, wait_ready


def _datasets(args: argparse.Namespace, run: Path) -> tuple[Path, Path]:
    from shared.datasets.dataset import load_dataset, save_dataset
    from shared.datasets.synth import generate

    train_path, replay_path = run / "train.npz", run / "replay.npz"
    if args.data:
        from cloud_server.training.split import holdout_sessions

        ds = load_dataset(args.data)
        train_mask, val_mask = holdout_sessions(ds, 0.2, args.seed)
        save_dataset(train_path, ds.subset(train_mask))
        save_dataset(replay_path, ds.subset(val_mask))
        print(f"[demo] {args.data}: training on {train_mask.sum()} sequences, replaying {val_mask.sum()} held out")
    else:
        save_dataset(train_path, generate(classes=6, per_class=48, signers=6, seed=args.seed))
        save_dataset(replay_path, generate(classes=6, per_class=4, signers=1, seed=args.seed + 1000))
        print(f"[demo] synthetic data: 6 classes, 6 signers to train on, a 7th signer replayed ({train_path.parent})")
    return train_path, replay_path


def _registry_and_model(args: argparse.Namespace, run: Path, train_path: Path, replay_path: Path):
    """Dataset pushed, model trained and evaluated, pushed signed and promoted; returns (store URL, public key)."""
    from cloud_server.training.cli import run_evaluate, run_train
    from shared.model.signing import generate_keypair
    from shared.registry.registry import Registry
    from shared.registry.store import open_store

    (run / "registry").mkdir()  # a new registry starts as an empty folder
    store_url = (run / "registry").resolve().as_uri()
    registry = Registry(open_store(store_url))
    dataset = registry.push_dataset(train_path, name="demo-recordings")
    print(f"[demo] registry {store_url}: dataset pushed as datasets/demo-recordings/{dataset.version}")
    bundle = run / "bundle"
    run_train(argparse.Namespace(data=[train_path], classes=None, out=bundle, epochs=args.epochs,
                                 seed=args.seed, name="demo", version="1", fps=None))  # fmt: skip
    print("[demo] evaluating on the held-out signer:")
    run_evaluate(argparse.Namespace(model=bundle, data=replay_path, runtime="savedmodel", report=run / "report",
                                    json=False))  # fmt: skip
    private, public = run / "keys" / "signing.pem", run / "keys" / "signing.pub"
    generate_keypair(private, public)
    registry.push_bundle(bundle, private_key=private)
    registry.promote("demo", "1", by="demo", signing_key=private)
    print("[demo] model demo 1 pushed (signed) and promoted; servers and kiosks follow models/demo/current")
    return store_url, public


def run_demo(args: argparse.Namespace) -> None:
    """Run the demo end to end; always stops everything it started."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    import json

    from edge_client.assembly import build_kiosk
    from edge_client.settings import load_settings as edge_settings

    run = args.workdir / time.strftime("run-%Y%m%d-%H%M%S")
    run.mkdir(parents=True)
    train_path, replay_path = _datasets(args, run)
    store_url, public_key = _registry_and_model(args, run, train_path, replay_path)
    port = args.port or free_port()
    base = f"http://127.0.0.1:{port}"
    print(f"[demo] starting the server under gunicorn at {base} (2 workers, following the registry)")
    env = {**os.environ, "SIGNSTREAM_SERVER_PUBLIC_KEY": str(public_key), "SIGNSTREAM_SERVER_POLL_INTERVAL": "5",
           "SIGNSTREAM_SERVER_LOG_REQUESTS": "false",
           "SIGNSTREAM_SERVER_CACHE_DIR": str(run / "server-cache")}  # fmt: skip
    cmd = [sys.executable, "-m", "signstream.cli", "serve", "--store", store_url, "--model-name", "demo",
           "--host", "127.0.0.1", "--port", str(port), "--workers", "2", "--no-auth"]  # fmt: skip
    proc = subprocess.Popen(cmd, start_new_session=True, env=env)
    try:
        wait_ready(base + "/ready", proc)
        source = args.source if args.source is not None else str(replay_path)
        web_port = free_port()
        settings = edge_settings(
            source=source, server=base, store=store_url, model_name="demo", public_key=public_key,
            cache_dir=run / "edge-cache", json_events=True, display="web", web_port=web_port,
            replay_speed=4.0 if args.source is None else None,
        )  # fmt: skip
        tally = {"n": 0, "ok": 0}

        def on_event(line: str) -> None:
            ev = json.loads(line)
            if ev.get("event") == "label" and ev.get("label"):
                print(f"{'':>14} [kiosk shows {ev['display_name'] or ev['label']!r}, answered by {ev['answered_by']}]",
                      flush=True)  # fmt: skip
            if ev.get("event") != "answer":
                return
            label = ev["label"] if ev["confident"] else None
            truth = ev.get("truth")
            tally["n"] += 1
            tally["ok"] += label == truth
            mark = "yes" if label == truth else "no"
            print(f"{label or '(no sign)':>14} {ev['confidence']:>10.2f}  {truth or '-':<10} "
                  f"{ev['latency_ms']:>6.1f}ms  {ev['answered_by']:<5}  {mark}  "
                  f"({tally['ok']}/{tally['n']} = {tally['ok'] / tally['n']:.0%})", flush=True)  # fmt: skip

        runner = build_kiosk(settings, out=on_event)
        print(f"[demo] server ready; kiosk page: http://127.0.0.1:{web_port}/ (open it in a browser while it runs)")
        print(f"[demo] replaying {Path(source).name} through the edge client\n" if args.source is None
              else f"[demo] live from camera {source}; Ctrl-C stops\n")  # fmt: skip
        print(f"{'shown label':>14} {'confidence':>10}  {'truth':<10} {'latency':>8}  {'by':<5}  matched")
        counters = runner.run()
        share = tally["ok"] / tally["n"] if tally["n"] else 0.0
        print(f"\n[demo] {tally['ok']} of {tally['n']} live labels matched the replayed truth ({share:.0%}); "
              f"frames {counters['frames_captured']}, windows {counters['windows_sent']}, "
              f"answered by the server {counters['answers_cloud']}, locally {counters['answers_local']}")  # fmt: skip
    finally:
        stop_server(proc)
        print("[demo] server stopped; no process left behind")
