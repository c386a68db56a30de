"""The runner's JSON lines (``--json-events``): the hub's typed events printed in their wire form."""

import dataclasses
import json

from edge_client.events import AnswerEvent, LabelEvent


def test_json_events_print_every_answer_and_shown_label(fake_server, clean_env, tmp_path):
    from edge_client.assembly import build_kiosk
    from edge_client.settings import load_settings
    from shared.datasets.dataset import save_dataset
    from shared.datasets.synth import generate

    replay = tmp_path / "replay.npz"
    save_dataset(replay, generate(classes=2, per_class=1, signers=1, seed=5))
    settings = load_settings(source=str(replay), server=fake_server.url, display="none", web_port=0,
                             json_events=True, replay_speed=0, counters_interval=3600)  # fmt: skip
    lines: list[str] = []
    build_kiosk(settings, out=lines.append).run(install_signals=False)
    events = [json.loads(line) for line in lines]
    kinds = [e["event"] for e in events]
    assert set(kinds) == {"answer", "label"}, kinds
    fields = {cls.kind: ["event", *(f.name for f in dataclasses.fields(cls))] for cls in (AnswerEvent, LabelEvent)}
    for e in events:
        assert list(e) == fields[e["event"]], e  # every field, in the documented order
    shown = [e for e in events if e["event"] == "label" and e["label"]]
    assert shown and shown[0]["label"] == "cloud-sign" and shown[0]["answered_by"] == "cloud"
