"""Display names per label (translations), and the OpenCV window's picture (drawn without opening a window)."""

import json

import numpy as np
import pytest

from edge_client.assembly import read_display_names
from edge_client.display.hub import DisplayHub
from edge_client.display.window import render
from edge_client.events import LabelEvent
from edge_client.frames import Frame, Image
from edge_client.pipeline import Pipeline, PipelineOptions
from edge_client.settings import EdgeSettingsError
from edge_client.window import Windower

from .conftest import FakeFrameSource, FakeLocalModel, FakeSlot, frames_from, hand


def test_display_names_file(tmp_path):
    good = tmp_path / "names.json"
    good.write_text(json.dumps({"local-sign": "Señal local"}), encoding="utf-8")
    assert read_display_names(good) == {"local-sign": "Señal local"}
    assert read_display_names(None) == {}
    bad = tmp_path / "bad.json"
    bad.write_text("[1, 2]")
    with pytest.raises(EdgeSettingsError, match="JSON object"):
        read_display_names(bad)
    bad.write_text("{not json")
    with pytest.raises(EdgeSettingsError, match="cannot read"):
        read_display_names(bad)


def test_label_events_carry_the_display_name():
    from edge_client.answering import Answerer

    labels = []
    p = Pipeline(FakeFrameSource(frames_from("h" * 30 + "." * 8)), Windower(30, 5, 6, 4),
                 Answerer(None, FakeSlot(FakeLocalModel())), PipelineOptions(names={"local-sign": "Señal local"}),
                 on_label=labels.append)  # fmt: skip
    p.run()
    assert [(e.label, e.display_name) for e in labels] == [("local-sign", "Señal local")]


def test_opencv_window_picture_has_skeleton_and_label():
    hub = DisplayHub()
    assert render(hub, mirrored=False) is None  # nothing before the first frame
    lm = hand(0.0)
    lm[63:].reshape(21, 3)[:, :2] = np.linspace(0.1, 0.5, 21)[:, None]
    hub.set_frame(Image(0, 0.0, np.zeros((240, 320, 3), np.uint8)), Frame(0, 0.0, lm))
    plain = render(hub, mirrored=False)
    hub.latest_label = LabelEvent("hola", "Hello", 0.9, "local", "m", "1", 10.0, None)
    labelled = render(hub, mirrored=False)
    assert plain.shape == (240, 320, 3) and plain[:120, :160].max() > 0  # skeleton in the upper left
    assert np.any(labelled[-70:] != plain[-70:])  # the label band at the bottom
    mirrored = render(hub, mirrored=True)
    assert mirrored[:120, 160:].max() > 0  # a selfie view draws the hand on the other side
