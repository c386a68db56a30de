"""Native libraries' start-up notices are kept off stderr; every other line written meanwhile still reaches it."""

import os
import subprocess
import sys

import pytest

from shared.app.native_notices import drop_notices, native_notices_dropped

# What MediaPipe, LiteRT and TensorFlow print from C++ (seen on this machine), and what MediaPipe's
# landmarker prints at interpreter exit when nobody closed it: none of it may reach a user's terminal.
NATIVE_NOISE = (
    "absl::InitializeLog",
    "InitGoogle",
    "XNNPACK",
    "inference_feedback_manager",
    "landmark_projection_calculator",
    "unaligned buffer",
    "oneDNN",
    "cpu_feature_guard",
    "Exception ignored",
    "__del__",
)

SEEN = (
    "WARNING: All log messages before absl::InitializeLog() is called are written to STDERR\n"
    "WARNING: Read-only tensor #3 (model_1/model/up_sampling2d_1/mul) has an unaligned buffer (0x7f56, required "
    "alignment 4); copying to an aligned heap buffer.\n"
    "INFO: Created TensorFlow Lite XNNPACK delegate for CPU.\n"
    "WARNING: Logging before InitGoogle() is written to STDERR\n"
    "W0000 00:00:1796626657.592220   22349 inference_feedback_manager.cc:121] Feedback manager requires a model "
    "with a single signature inference. Disabling support for feedback tensors.\n"
    "W0000 00:00:1796626657.749778   22348 landmark_projection_calculator.cc:81] Using NORM_RECT without "
    "IMAGE_DIMENSIONS is only supported for the square ROI.\n"
    "I0000 00:00:1796626643.552494   22065 cpu_feature_guard.cc:227] This TensorFlow binary is optimized\n"
)


def test_the_notices_seen_here_are_dropped_and_other_lines_kept():
    errors = "E0000 00:00:1.0   1 graph.cc:1] could not open the model\nWARNING: something else\n"
    assert drop_notices(SEEN + errors) == errors


def test_what_native_code_writes_to_fd_2_in_the_block_is_filtered_not_lost(capfd):
    with native_notices_dropped():
        os.write(2, SEEN.encode())
        os.write(2, b"E0000 00:00:1.0   1 graph.cc:1] could not open the model\n")
        os.write(2, b"a log line of ours\n")  # another thread's, written meanwhile
    os.write(2, b"INFO: Created TensorFlow Lite XNNPACK delegate for CPU.\n")  # outside the block: untouched
    err = capfd.readouterr().err
    assert err == (
        "E0000 00:00:1.0   1 graph.cc:1] could not open the model\na log line of ours\n"
        "INFO: Created TensorFlow Lite XNNPACK delegate for CPU.\n"
    )


def test_an_error_raised_in_the_block_still_restores_stderr(capfd):
    with pytest.raises(RuntimeError), native_notices_dropped():
        os.write(2, b"native: bad model\n")
        raise RuntimeError("bad model")
    os.write(2, b"after\n")
    assert capfd.readouterr().err == "native: bad model\nafter\n"


def test_the_litert_hand_landmarker_starts_without_a_word_on_stderr():
    """The Raspberry Pi 4's backend: LiteRT's delegate and buffer notices used to appear at each start."""
    code = "from shared.hands.landmarker import HandLandmarks\nHandLandmarks('full', backend='litert').close()\n"
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert proc.stderr == ""


def test_a_first_import_keeps_its_notices_off_stderr_and_nothing_else(tmp_path, monkeypatch, capfd):
    from shared.app.native_notices import import_quietly

    (tmp_path / "noisy_native.py").write_text(
        "import os\n"
        "os.write(2, b'WARNING: All log messages before absl::InitializeLog() is called are written to STDERR\\n')\n"
        "os.write(2, b'I0000 00:00:1796669558.335989   13207 port.cc:153] oneDNN custom operations are on.\\n')\n"
        "os.write(2, b'a real error\\n')\n"
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    module = import_quietly("noisy_native")
    assert module.__name__ == "noisy_native" and import_quietly("noisy_native") is module
    assert capfd.readouterr().err == "a real error\n"
