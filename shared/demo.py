"""``signstream demo``: the whole system on one machine, on synthetic data (or ``--data``).

Makes a dataset, trains a small model with a progress bar, serves it with the real server under
gunicorn on 127.0.0.1, replays a signer the model never saw through the edge client, prints each
live label beside the replayed truth, and stops everything it started.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

from shared.errors import SignstreamError


def free_port() -> int:
    """A TCP port on 127.0.0.1 that is free right now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_ready(url: str, proc: subprocess.Popen, timeout: float = 120.0) -> None:
    """Poll ``url`` until it answers 200; fail early if ``proc`` exits."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise SignstreamError(f"the server exited with code {proc.returncode} before it was ready")
        try:
            with urllib.request.urlopen(url, timeout=1) as resp:
                if resp.status == 200:
                    return
        except OSError:
            pass
        time.sleep(0.3)
    raise SignstreamError(f"the server was not ready within {timeout:.0f} s")


def start_server(
    bundle: Path, port: int, workers: int = 2, env: dict | None = None, keys_file: Path | None = None
) -> subprocess.Popen:
    """Start ``signstream serve`` (gunicorn) in its own process group on 127.0.0.1 (no keys unless ``keys_file``)."""
    auth = ["--keys-file", str(keys_file)] if keys_file else ["--no-auth"]
    cmd = [sys.executable, "-m", "shared.cli", "serve", "--model", str(bundle), "--host", "127.0.0.1",
           "--port", str(port), "--workers", str(workers), *auth]  # fmt: skip
    return subprocess.Popen(cmd, start_new_session=True, env=env or os.environ.copy())


def stop_server(proc: subprocess.Popen, timeout: float = 20.0) -> None:
    """SIGTERM the server (gunicorn stops its workers); SIGKILL its group if it lingers."""
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(5)
    with contextlib.suppress(ProcessLookupError):  # nothing of the group may survive
        os.killpg(proc.pid, signal.SIGKILL)


def _datasets(args: argparse.Namespace, run: Path) -> tuple[Path, Path]:
    from shared.dataset import load_dataset, save_dataset
    from shared.synth import generate

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


def run_demo(args: argparse.Namespace) -> None:
    """Run the demo end to end; always stops the server it started."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    from cloud_server.training.cli import run_train
    from edge_client.fallback import Answerer
    from edge_client.pipeline import AnswerEvent, Pipeline
    from edge_client.sources import ReplaySource
    from edge_client.transport import CloudClient
    from edge_client.window import Windower
    from shared.dataset import load_dataset

    run = args.workdir / time.strftime("run-%Y%m%d-%H%M%S")
    run.mkdir(parents=True)
    train_path, replay_path = _datasets(args, run)
    bundle = run / "bundle"
    run_train(argparse.Namespace(data=[train_path], classes=None, out=bundle, epochs=args.epochs,
                                 seed=args.seed, name="demo", version="1"))  # fmt: skip
    port = args.port or free_port()
    base = f"http://127.0.0.1:{port}"
    print(f"[demo] starting the server under gunicorn at {base} (2 workers)")
    proc = start_server(bundle, port)
    try:
        wait_ready(base + "/ready", proc)
        print(f"[demo] server ready; replaying {replay_path.name} through the edge client\n")
        print(f"{'shown label':>14} {'confidence':>10}  {'truth':<10} {'latency':>8}  matched")
        tally = {"n": 0, "ok": 0}

        def on_event(ev: AnswerEvent) -> None:
            label = ev.label if ev.confident else None
            tally["n"] += 1
            tally["ok"] += label == ev.truth
            mark = "yes" if label == ev.truth else "no"
            print(f"{label or '(no sign)':>14} {ev.confidence:>10.2f}  {ev.truth or '-':<10} "
                  f"{ev.latency_ms:>6.1f}ms  {mark}  ({tally['ok']}/{tally['n']} = {tally['ok'] / tally['n']:.0%})",
                  flush=True)  # fmt: skip

        ds = load_dataset(replay_path)
        client = CloudClient(base)
        counters = Pipeline(
            ReplaySource(ds, speed=4.0, seed=args.seed),
            Windower(),
            Answerer(client, None),
            on_answer=on_event,
            live=False,
        ).run()
        client.close()
        share = tally["ok"] / tally["n"] if tally["n"] else 0.0
        print(f"\n[demo] {tally['ok']} of {tally['n']} live labels matched the replayed truth ({share:.0%}); "
              f"frames {counters.frames_captured}, windows {counters.windows_sent}, "
              f"errors {counters.unanswered}")  # fmt: skip
    finally:
        stop_server(proc)
        print("[demo] server stopped; no process left behind")
