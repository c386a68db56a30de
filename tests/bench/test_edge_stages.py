"""``bench edge``'s stages: one kiosk run on a real clip reports every stage, the local model's split included."""

from __future__ import annotations

import pytest

from bench.edge import stage_run

pytestmark = [pytest.mark.realdata, pytest.mark.slow]


def test_a_kiosk_run_reports_every_stage_from_its_own_threads(tiny_bundle, sign_data, clean_env):
    run = stage_run(sign_data / "videos" / "dolor_001.mp4", tiny_bundle, "litert", "lite")
    s = run["summary"]
    assert run["backend"] == "litert" and run["frames"] >= 50 and run["windows"] >= 1
    assert set(s) == {"decode", "landmarks", "window", "answer", "features", "model"}
    assert all(s[stage]["n"] == run["frames"] for stage in ("decode", "landmarks", "window"))
    # every window the local model answered (build_kiosk hands the slot the pipeline's stage times)
    assert s["answer"]["n"] == s["features"]["n"] == s["model"]["n"] == run["windows"]
    assert s["features"]["total_s"] + s["model"]["total_s"] <= s["answer"]["total_s"]  # parts of the answer
    assert s["landmarks"]["total_s"] + s["window"]["total_s"] <= run["wall_s"]
    assert len(run["stages"]["landmarks"]) == run["frames"]
