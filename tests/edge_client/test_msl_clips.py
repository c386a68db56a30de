"""The real MSL clips through the real client: named against gunicorn serving a model trained on
msl_msl150.npz, and named again by the local TFLite model when no server answers.

Needs SIGN_DATA_DIR and TensorFlow (training, serving): skipped in the edge-only venv.
"""

import json
import os
import subprocess
import sys

import pytest

pytest.importorskip("tensorflow")

from edge_client.assembly import build_kiosk
from edge_client.settings import load_settings
from shared.app.processes import free_port, start_server, stop_server, wait_ready
from tests.shared.app.test_native_notices import NATIVE_NOISE

pytestmark = [pytest.mark.realdata, pytest.mark.slow]

CLIPS = ["ambulancia", "doctor", "dolor", "hoy", "yo"]


def _run_clip(clip, **settings):
    lines: list[str] = []
    s = load_settings(
        source=str(clip), display="none", web_port=0, json_events=True, counters_interval=3600, **settings
    )
    summary = build_kiosk(s, out=lines.append).run(install_signals=False)
    events = [json.loads(line) for line in lines]
    return [e for e in events if e["event"] == "label" and e["label"]], summary


@pytest.fixture(scope="module")
def msl_server(msl_bundle):
    port = free_port()
    proc = start_server(msl_bundle, port, workers=1)
    try:
        wait_ready(f"http://127.0.0.1:{port}/ready", proc)
        yield f"http://127.0.0.1:{port}"
    finally:
        stop_server(proc)


@pytest.mark.parametrize("sign", CLIPS)
def test_each_clip_is_named_by_the_server(sign, sign_data, msl_server, clean_env):
    labels, summary = _run_clip(sign_data / "videos" / f"{sign}_001.mp4", server=msl_server)
    assert [e["label"] for e in labels] == [sign], labels
    assert labels[0]["answered_by"] == "cloud" and labels[0]["model_version"] == "1"
    assert summary["frames_dropped"] == 0 and summary["frames_processed"] >= 50  # a file: every frame
    assert summary["answers_local"] == 0


@pytest.mark.parametrize("sign", CLIPS)
def test_each_clip_is_named_locally_with_no_server(sign, sign_data, msl_bundle, down_url, clean_env):
    labels, summary = _run_clip(sign_data / "videos" / f"{sign}_001.mp4", server=down_url, local_model=msl_bundle)
    assert [e["label"] for e in labels] == [sign], labels
    assert labels[0]["answered_by"] == "local"
    assert summary["answers_cloud"] == 0 and summary["answers_local"] >= 1 and summary["fallbacks"] >= 1


@pytest.mark.parametrize("sign", CLIPS)
def test_each_clip_is_named_locally_from_litert_landmarks(sign, sign_data, msl_bundle, clean_env):
    """A Raspberry Pi 4's path: hand landmarks on LiteRT (MediaPipe's library cannot run there)."""
    labels, _ = _run_clip(
        sign_data / "videos" / f"{sign}_001.mp4", local_only=True, local_model=msl_bundle, hand_backend="litert"
    )
    assert [e["label"] for e in labels] == [sign], labels
    assert labels[0]["answered_by"] == "local"


def test_the_cli_names_a_clip_local_only(sign_data, msl_bundle, tmp_path):
    env = {k: v for k, v in os.environ.items() if not k.startswith("SIGNSTREAM_EDGE_")}
    proc = subprocess.run(
        [sys.executable, "-m", "signstream.cli", "edge", "--source", str(sign_data / "videos" / "hoy_001.mp4"),
         "--local-model", str(msl_bundle), "--local-only", "--headless", "--web-port", "0", "--json-events"],
        capture_output=True, text=True, timeout=300, env=env, cwd=tmp_path,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-2000:]
    events = [json.loads(line) for line in proc.stdout.splitlines()]
    labels = [e for e in events if e["event"] == "label" and e["label"]]
    assert [e["label"] for e in labels] == ["hoy"] and labels[0]["answered_by"] == "local"
    assert events[-1]["event"] == "summary" and events[-1]["answers_local"] >= 1
    assert list(tmp_path.iterdir()) == []  # privacy: the run stored nothing
    assert [n for n in NATIVE_NOISE if n in proc.stderr] == [], proc.stderr[-2000:]  # no C++ start-up notices
