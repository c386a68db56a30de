"""``bench server --against``: its arguments, a step run on a real (small) server process, the report, the venvs."""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path

import pytest

from bench import against
from bench.against import Contender, format_against, parse_against, parse_steps, run_steps
from shared.app.processes import wait_ready
from signstream.cli import build_parser


def test_against_takes_known_frameworks_in_the_order_given():
    assert parse_against("mlserver,BentoML, litserve") == ["mlserver", "bentoml", "litserve"]
    for bad, says in [("torchserve", "unknown framework torchserve"), ("", "(none given)"),
                      ("litserve,litserve", "named twice")]:  # fmt: skip
        with pytest.raises(argparse.ArgumentTypeError, match=says):
            parse_against(bad)
    assert parse_steps("1, 4,16") == [1, 4, 16]
    for bad in ["", "0,4", "4,x"]:
        with pytest.raises(argparse.ArgumentTypeError):
            parse_steps(bad)


def test_the_cli_reads_against_and_refuses_a_bad_name_in_one_line(tmp_path, capsys):
    args = build_parser().parse_args(
        ["bench", "server", "--model", str(tmp_path), "--against", "litserve,bentoml", "--steps", "1,16",
         "--rounds", "1", "--venvs", str(tmp_path / "v")]
    )  # fmt: skip
    assert (args.against, args.steps, args.rounds, args.venvs) == (["litserve", "bentoml"], [1, 16], 1, tmp_path / "v")
    assert build_parser().parse_args(["bench", "server", "--model", str(tmp_path)]).against is None
    with pytest.raises(SystemExit) as exit_:
        build_parser().parse_args(["bench", "server", "--model", str(tmp_path), "--against", "triton"])
    assert exit_.value.code == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "unknown framework triton" in err[0] and "Traceback" not in err[0]


# A stand-in server: answers POST /predict like ours after ~1 ms of CPU, GET /health with 200.
SERVER = r"""
import http.server, json, sys, time
class H(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    def _send(self, data):  # one write: headers and body in separate packets wait for a delayed ACK
        head = f"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {len(data)}\r\n\r\n"
        self.wfile.write(head.encode() + data)
    def do_GET(self):
        self._send(b'{"status": "ok"}')
    def do_POST(self):
        self.rfile.read(int(self.headers["Content-Length"]))
        t = time.process_time()
        while time.process_time() - t < 0.001: pass
        self._send(json.dumps([{"label": "a", "model": {"version": "7"}}]).encode())
    def log_message(self, *a): pass
http.server.ThreadingHTTPServer(("127.0.0.1", int(sys.argv[1])), H).serve_forever()
"""


def _stand_in(port: int, scratch: Path) -> subprocess.Popen:
    proc = subprocess.Popen([sys.executable, "-c", SERVER, str(port)], start_new_session=True)
    wait_ready(f"http://127.0.0.1:{port}/health", proc, timeout=20)
    return proc


def test_a_step_run_counts_answers_and_the_servers_cpu_and_memory(tmp_path):
    c = Contender("stand-in", "one process", "/predict", b'{"sequence": []}', "application/json", _stand_in)
    out = run_steps(c, [1, 4], 1.0, tmp_path)
    assert out["setup"] == "one process" and out["start_s"] > 0 and set(out["steps"]) == {"1", "4"}
    for r in out["steps"].values():
        assert r["ok"] > 50 and r["errors"] == 0 and r["versions"] == ["7"]  # a list answer is read too
        # each answer cost the server at least its 1 ms busy loop: >= 1 CPU s per 1,000, counted from /proc
        assert 1.0 <= r["cpu_s_per_1000"] < 20
        assert len(r["rss_mb"]) == 1 and 3 < r["rss_mb"][0] < 200
        assert "mean_batch" not in r  # only our server says how it batched


def _results() -> dict:
    def step(rps, p99, errors=0, statuses=None, batch=None):
        r = {"rps": rps, "p50_ms": p99 / 2, "p99_ms": p99, "errors": errors, "statuses": statuses or {"200": 10},
             "cpu_s_per_1000": 1.5, "rss_mb": [400.0, 390.0, 60.0], "loadavg": (2.0, 3.0)}  # fmt: skip
        return {**r, "mean_batch": batch} if batch else r

    ours = {"setup": "gunicorn", "steps": {"16": step(600, 40, batch=3.6), "64": step(650, 90, 5, {"503": 5})}}
    lit = {"setup": "litserve setup", "steps": {"16": step(300, 80), "64": step(320, 200)}}
    bento = {"setup": "bentoml setup", "steps": {"16": step(400, 60), "64": step(100, 900)}}
    rnd = {"contenders": {"ours": ours, "litserve": lit, "bentoml": bento}, "ceiling": {"1": 500.0, "4": 1200.0}}
    return {"steps": [16, 64], "workers": 2, "rounds": [rnd], "not_run": {"mlserver": "mlserver did not install"}}


def test_the_report_gives_each_step_the_ratio_to_the_best_framework_and_the_ceiling():
    text = format_against(_results())
    rows = [line for line in text.splitlines() if line.startswith("| 1 |")]
    assert len(rows) == 6  # three servers x two steps
    ours16 = next(r for r in rows if r.startswith("| 1 | ours | 16 |"))
    assert "| 600.0 | 20.0 | 40.0 | 0 | 1.50 | 400 + 390 + 60 | 1.50 |" in ours16  # 600 / bentoml's 400
    ours64 = next(r for r in rows if r.startswith("| 1 | ours | 64 |"))
    assert "| 5 {'503': 5} |" in ours64 and "| 2.03 |" in ours64  # 650 / litserve's 320
    assert "ours at 16 clients: 600 windows/s = 50.0% of the ceiling at batch 4 (mean batch formed 3.60)" in text
    assert "mlserver: not run (mlserver did not install)" in text
    assert "bentoml: bentoml setup" in text


def test_a_venv_that_does_not_install_says_why_and_leaves_nothing(tmp_path, monkeypatch):
    frameworks = tmp_path / "frameworks"
    (frameworks / "litserve").mkdir(parents=True)
    (frameworks / "litserve" / "requirements.txt").write_text(f"{tmp_path / 'missing-1.0-py3-none-any.whl'}\n")
    monkeypatch.setattr(against, "FRAMEWORKS_DIR", frameworks)
    root = tmp_path / "venvs"
    with pytest.raises(against.VenvError, match=r"litserve did not install from .*: .*missing-1\.0"):
        against.ensure_venv("litserve", root, log=lambda _msg: None)
    assert list(root.iterdir()) == []  # no half-made venv is left to be taken for a good one
    before = against.venv_dir("litserve", root)
    (frameworks / "litserve" / "requirements.txt").write_text("numpy==2.4.6\n")
    assert against.venv_dir("litserve", root) != before  # new pins, new venv


@pytest.mark.slow
def test_the_ceiling_runs_the_model_at_a_batch_size_with_two_callers(tiny_bundle):
    from bench.server import in_process_throughput

    rate = in_process_throughput(tiny_bundle, seconds=0.5, batch=4, callers=2)
    assert 50 < rate < 1_000_000  # windows/s of features + SavedModel on this machine
    rate = in_process_throughput(tiny_bundle, seconds=0.5, batch=4, callers=2, runtime="tflite")
    assert 50 < rate < 1_000_000  # the same through LiteRT, an interpreter per caller
    ours = against.contenders(tiny_bundle, [], {}, runtime="tflite")[0]
    assert ours.name == "ours" and ours.setup.endswith("model runtime tflite")


@pytest.mark.slow
def test_litserve_serves_our_answers_from_its_cached_venv(tiny_bundle, tmp_path):
    venv = against.venv_dir("litserve", against.default_venvs())
    if not (venv / "bin" / "python").is_file():
        pytest.skip(f"needs LitServe's venv at {venv}: run `signstream bench server --against litserve` once")
    (c,) = [c for c in against.contenders(tiny_bundle, ["litserve"], {"litserve": venv}) if c.name == "litserve"]
    out = run_steps(c, [2], 1.0, tmp_path)
    r = out["steps"]["2"]
    version = json.loads((tiny_bundle / "manifest.json").read_text())["version"]
    assert r["ok"] > 10 and r["errors"] == 0 and r["versions"] == [version]
    assert len(r["rss_mb"]) >= 4  # the main process, 2 inference workers and 2 API servers (at least)
