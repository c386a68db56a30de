"""Picture sources: a camera that disappears is reopened, a video file gives every frame, picamera2 only when chosen."""

import sys
import threading
import types
from typing import ClassVar

import numpy as np
import pytest

from edge_client.sources import CameraSource, PiCameraSource, SourceError, VideoFileSource


class FakeCapture:
    """A cv2.VideoCapture stand-in: gives ``frames`` frames, then fails (the camera was unplugged)."""

    opened: ClassVar[list["FakeCapture"]] = []

    def __init__(self, device, frames: int = 3) -> None:
        self.device, self.left, self.released = device, frames, False
        self.props: dict = {}
        FakeCapture.opened.append(self)

    def isOpened(self):
        return True

    def set(self, prop, value):
        self.props[prop] = value

    def read(self):
        if self.left <= 0:
            return False, None
        self.left -= 1
        return True, np.full((48, 64, 3), 200, np.uint8)

    def release(self):
        self.released = True


def test_a_lost_camera_is_reopened():
    FakeCapture.opened = []
    cam = CameraSource("0", width=64, height=48, max_side=32, reopen_delay=0.01, opener=FakeCapture)
    stop = threading.Event()
    images = []
    for img in cam.frames(stop):
        images.append(img)
        if len(images) == 7:
            stop.set()
    assert len(images) == 7 and cam.reopens >= 2 and cam.failures >= 2
    assert [c.device for c in FakeCapture.opened][:1] == [0]
    assert all(c.released for c in FakeCapture.opened[:-1])
    assert images[0].rgb.shape == (24, 32, 3)  # shrunk to max_side
    assert [i.index for i in images] == list(range(7))


def _video(path, frames=12, fps=30):
    import cv2

    w = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"mp4v"), fps, (64, 48))
    for i in range(frames):
        img = np.zeros((48, 64, 3), np.uint8)
        img[:, :8] = (0, 0, 255)  # red on the left edge (BGR)
        img[0, 0] = i
        w.write(img)
    w.release()
    return path


def test_video_file_every_frame_in_order_rgb_and_mirrored(tmp_path):
    path = _video(tmp_path / "v.mp4")
    src = VideoFileSource(path)
    images = list(src.frames(threading.Event()))
    assert len(images) == 12 and not src.live
    assert [i.timestamp for i in images] == pytest.approx([i / 30 for i in range(12)], abs=1e-3)
    assert images[0].rgb[20, 2, 0] > 200 and images[0].rgb[20, 2, 2] < 50  # RGB: red in channel 0
    mirrored = list(VideoFileSource(path, mirror=True).frames(threading.Event()))
    assert mirrored[0].rgb[20, -3, 0] > 200  # the red edge is now on the right
    assert VideoFileSource(path, realtime=True).live


def test_missing_or_broken_video(tmp_path):
    with pytest.raises(SourceError, match="no such video"):
        VideoFileSource(tmp_path / "none.mp4")
    bad = tmp_path / "bad.mp4"
    bad.write_bytes(b"not a video")
    with pytest.raises(SourceError, match="cannot open"):
        VideoFileSource(bad)


def test_picamera2_is_imported_only_when_chosen(monkeypatch):
    calls = []

    class Picamera2:
        def create_video_configuration(self, main, controls):
            calls.append(("config", main, controls))
            return "cfg"

        def configure(self, cfg):
            calls.append(("configure", cfg))

        def start(self):
            calls.append(("start",))

        def stop(self):
            calls.append(("stop",))

        def close(self):
            calls.append(("close",))

        def capture_array(self, name):
            img = np.zeros((48, 64, 3), np.uint8)
            img[..., 0] = 255  # B in libcamera's RGB888 memory order
            return img

    monkeypatch.setitem(sys.modules, "picamera2", types.SimpleNamespace(Picamera2=Picamera2))
    cam = PiCameraSource(64, 48, 25)
    stop = threading.Event()
    img = next(iter(cam.frames(stop)))
    assert img.rgb[0, 0, 2] == 255 and img.rgb[0, 0, 0] == 0  # converted to RGB
    assert calls[0] == ("config", {"size": (64, 48), "format": "RGB888"}, {"FrameRate": 25.0})


def test_picamera2_missing_is_one_clear_error(monkeypatch):
    monkeypatch.setitem(sys.modules, "picamera2", None)
    with pytest.raises(SourceError, match="python3-picamera2"):
        PiCameraSource()
