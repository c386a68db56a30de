"""Interleaved A/B rounds of server variants under ``bench server``'s load, with CPU per request.

This machine is shared and noisy: a variant is only compared with the others in the same round.
A variant is a code tree and optional settings: ``TREE[,setting=value...]``, where TREE is ``main``
(the installed tree) or a folder put first on PYTHONPATH (e.g. a ``git worktree`` of another commit).
Run it from a folder that holds no ``cloud_server`` (e.g. /tmp), or the current folder wins.

    cd /tmp && python /path/to/scripts/ab_server.py --model BUNDLE --seconds 15 --rounds 4 \\
        main /tmp/wt_other main,threads=8

Prints, per round and variant: requests/s, p50 and p99 ms, errors, connections per worker, the CPU per
request of the server, the whole machine and the load generator, the mean batch the model ran (from the
server's /metrics) and the machine's 1-minute load average at the end of the run (others' jobs show there).
More than 16 clients run as 16 processes of several threads, as in ``bench server --against``.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from pathlib import Path

sys.path.append(str(Path(__file__).resolve().parents[1]))  # bench/ of this checkout; PYTHONPATH trees come first
from bench.against import MAX_CLIENT_PROCESSES, _mean_batch
from bench.server import run_load, sample_window, start_ours
from shared.app.processes import free_port, stop_server

TICK = os.sysconf("SC_CLK_TCK")


def _cpu_s(pid: str) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICK


def _busy_s() -> float:
    ticks = [int(x) for x in Path("/proc/stat").read_text().splitlines()[0].split()[1:]]
    return (sum(ticks) - ticks[3] - ticks[4]) / TICK  # all but idle and iowait


def run_variant(variant: str, model: Path, seconds: float, clients: int, work: Path) -> str:
    tree, _, extra = variant.partition(",")
    settings = dict(kv.split("=", 1) for kv in extra.split(",") if kv)
    os.environ.pop("PYTHONPATH", None)
    if tree != "main":
        os.environ["PYTHONPATH"] = tree
    body = json.dumps({"sequence": sample_window().tolist()}).encode()
    port = free_port()
    proc = start_ours(model, port, work / f"ab-{port}", **settings)
    try:
        out = subprocess.run(["pgrep", "-P", str(proc.pid)], capture_output=True, text=True)
        pids = out.stdout.split()
        at_start: list[float] = []  # counted from the start line: the clients' own start-up is left out

        def mark(_t0: float) -> None:
            at_start.extend((sum(map(_cpu_s, pids)), _busy_s()))

        batches0 = _mean_batch(port)
        r = run_load(f"http://127.0.0.1:{port}/predict", body, "application/json", clients, seconds, during=mark,
                     processes=min(clients, MAX_CLIENT_PROCESSES))  # fmt: skip
        server1, busy1 = sum(map(_cpu_s, pids)), _busy_s()
        batches1 = _mean_batch(port)
        server0, busy0 = at_start
    finally:
        stop_server(proc)
    n = max(1, r["requests"])
    batch = (batches1[0] - batches0[0]) / max(1.0, batches1[1] - batches0[1]) if batches0 and batches1 else float("nan")
    return (
        f"{r['rps']:.0f} req/s, p50 {r['p50_ms']:.1f}, p99 {r['p99_ms']:.1f} ms, errors {r['errors']}, "
        f"conns {r['connections_per_worker']}, CPU ms/req: server {(server1 - server0) / n * 1000:.2f}, "
        f"machine {(busy1 - busy0) / n * 1000:.2f}, generator {r['client_cpu_ms_per_request']:.2f}, "
        f"mean batch {batch:.2f}, load {os.getloadavg()[0]:.1f}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("variants", nargs="+", help="TREE[,setting=value...]; TREE is 'main' or a folder")
    parser.add_argument("--model", type=Path, required=True, help="bundle to serve")
    parser.add_argument("--seconds", type=float, default=15.0)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--clients", type=int, default=16)
    parser.add_argument("--work", type=Path, default=Path("/tmp/signstream-ab"), help="runtime folders")
    args = parser.parse_args()
    for rnd in range(args.rounds):
        for variant in args.variants:
            print(rnd, variant, run_variant(variant, args.model, args.seconds, args.clients, args.work), flush=True)


if __name__ == "__main__":
    main()
