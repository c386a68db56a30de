"""Teaching the kiosk a sign, on real recordings: the kiosk runs on a replayed dataset (the file source
stands in for the camera), records five examples of ``please`` from the windows its pipeline forms,
enrols them and answers the sign locally at once; no-hand examples are refused; a restart keeps the
sign; rename and remove make new versions; the HTTP actions need the admin token (and the PIN).

The base is the MSL model of tests/conftest.py (five Mexican signs); ``please`` is one person's of the
many-signer ASL file, a sign the base never saw.
"""

from __future__ import annotations

import json
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path

import numpy as np
import pytest

from shared.datasets.dataset import load_dataset, save_dataset

pytestmark = [pytest.mark.realdata, pytest.mark.slow]
pytest.importorskip("tensorflow", reason="the base model is trained here (not in the edge venv)")

WORD = "please"
TOKEN = "s3cret-admin"


@pytest.fixture(scope="module")
def please_replay(sign_data: Path, tmp_path_factory: pytest.TempPathFactory):
    """Twelve recordings of ``please`` by its most recorded signer (a file to replay), and 20 more of theirs."""
    ds = load_dataset(sign_data / "landmarks" / "asl_many_signers.npz")
    rows = np.flatnonzero(ds.labels == WORD)
    people, counts = np.unique(ds.session[rows], return_counts=True)
    mine = rows[ds.session[rows] == people[np.argmax(counts)]]
    path = tmp_path_factory.mktemp("teach") / "please.npz"
    save_dataset(path, ds.subset(mine[:12]).select_classes([WORD]))
    save_dataset(path.with_name("long.npz"), ds.subset(np.tile(mine[:12], 4)).select_classes([WORD]))
    rest = ds.subset(mine[12:32])
    return path, [x[:n] for x, n in zip(rest.X, rest.length, strict=True)]


@pytest.fixture(scope="module")
def second_signer(sign_data: Path) -> list[np.ndarray]:
    """The recordings of ``please`` by its second most recorded signer."""
    ds = load_dataset(sign_data / "landmarks" / "asl_many_signers.npz")
    rows = np.flatnonzero(ds.labels == WORD)
    people, counts = np.unique(ds.session[rows], return_counts=True)
    theirs = ds.subset(rows[ds.session[rows] == people[np.argsort(counts)[-2]]])
    return [x[:n] for x, n in zip(theirs.X, theirs.length, strict=True)]


def _call(url: str, body: dict | None = None, token: str | None = TOKEN, pin: str | None = None):
    headers = {"Content-Type": "application/json"}
    if token:
        headers["Authorization"] = f"Bearer {token}"
    if pin:
        headers["X-Teach-Pin"] = pin
    data = None if body is None else json.dumps(body).encode()
    req = urllib.request.Request(url, data=data, headers=headers, method="GET" if data is None else "POST")
    try:
        with urllib.request.urlopen(req, timeout=60) as resp:
            return resp.status, json.loads(resp.read())
    except urllib.error.HTTPError as err:
        return err.code, json.loads(err.read())


def _kiosk(source: Path, model: Path, teach_dir: Path, speed: float, **extra):
    from edge_client.assembly import build_kiosk
    from edge_client.settings import load_settings

    lines: list[tuple[float, dict]] = []
    s = load_settings(source=str(source), display="none", web_port=0, json_events=True, counters_interval=3600,
                      local_only=True, local_model=model, teach_dir=teach_dir, replay_speed=speed,
                      admin_token=TOKEN, **extra)  # fmt: skip
    runner = build_kiosk(s, out=lambda line: lines.append((time.monotonic(), json.loads(line))))
    return runner, lines


def test_a_sign_taught_from_the_pipelines_windows_is_answered_locally_at_once(
    msl_bundle, please_replay, tmp_path, clean_env
):
    source, held_out = please_replay
    runner, lines = _kiosk(source, msl_bundle, tmp_path / "teach", speed=1.5)
    thread = threading.Thread(target=runner.run, kwargs={"install_signals": False}, daemon=True)
    thread.start()
    url = runner.web.url
    try:
        assert _call(f"{url}/api/teach/start", {"name": WORD}, token=None)[0] == 401
        status, body = _call(f"{url}/api/teach/start", {"name": WORD})
        assert status == 200 and body["teaching"]["name"] == WORD and body["teaching"]["wanted"] == 5
        assert _call(f"{url}/api/teach/start", {"name": "doctor"})[0] == 409  # a trained sign
        for i in range(5):
            status, body = _call(f"{url}/api/teach/record", {})
            assert status == 200, body
            assert len(body["teaching"]["examples"]) == i + 1
        last_example = time.monotonic()
        examples = body["teaching"]["examples"]
        assert all(e["agreement"] is not None and -1 <= e["agreement"] <= 1 for e in examples)
        assert all(e["resembles"] in ("ambulancia", "doctor", "dolor", "hoy", "yo", None) for e in examples)
        assert _call(f"{url}/api/teach/record", {})[0] == 400  # five are enough
        before = [ev["label"] for t, ev in lines if ev.get("event") == "label" and ev["label"]]
        assert WORD not in before  # not known before "use it"
        status, body = _call(f"{url}/api/teach/use", {})
        assert status == 200, body
        assert body["taught"] == WORD and [s["name"] for s in body["signs"]] == [WORD]
        assert runner.slot.current.manifest.enrolled == [WORD]
        deadline = time.monotonic() + 30
        answered = None
        while answered is None and time.monotonic() < deadline:
            answered = next((t for t, ev in list(lines) if t > last_example and ev.get("event") == "label"
                             and ev["label"] == WORD and ev["answered_by"] == "local"), None)  # fmt: skip
            time.sleep(0.05)
        assert answered is not None, "the kiosk never showed the taught sign"
        print(f"from the last example to answering it: {answered - last_example:.2f} s (use: {body['seconds']} s)")
        kiosk = runner.slot.current
        assert [kiosk.predict(w).label for w in held_out].count(WORD) >= 16
        status, listed = _call(f"{url}/api/teach")
        assert status == 200 and listed["signs"][0]["name"] == WORD and listed["signs"][0]["answered"]
    finally:
        runner.stop.set()
        thread.join(30)
    saved = load_dataset(tmp_path / "teach" / body["examples_file"].split("/teach/", 1)[1])
    assert saved.classes == [WORD] and len(saved) == 5 and list(saved.session) == ["kiosk"] * 5

    again, _ = _kiosk(source, msl_bundle, tmp_path / "teach", speed=1.5)  # a restart: the taught version again
    thread = threading.Thread(target=again.run, kwargs={"install_signals": False}, daemon=True)
    thread.start()
    try:
        status, shown = _call(f"{again.web.url}/api/status")
        assert status == 200 and shown["local_model"]["version"] == body["version"]
        assert _call(f"{again.web.url}/api/teach")[1]["signs"][0]["answered"]
    finally:
        again.stop.set()
        thread.join(30)


def test_no_hand_examples_are_refused(msl_bundle, please_replay, tmp_path):
    from edge_client.answering import ModelSlot
    from edge_client.teach import NoHandError, Teacher

    slot = ModelSlot()
    slot.load(msl_bundle)
    teacher = Teacher(slot, tmp_path)
    teacher.start(WORD)
    window = please_replay[1][0].copy()
    empty = np.zeros_like(window)
    empty[0] = window[0]  # one frame of 30 with a hand
    with pytest.raises(NoHandError, match="no hand"):
        teacher.add_example(empty)
    with pytest.raises(NoHandError, match="no hand seen"):
        teacher.record(timeout=0.2)  # nothing taps a window
    assert teacher.draft.examples == []
    teacher.add_example(window)
    assert len(teacher.draft.examples) == 1


def test_an_example_is_a_window_of_frames_taken_after_record_was_pressed(msl_bundle, please_replay, tmp_path):
    """A hand already in view when "record" is pressed (the operator's, on the touch screen): the windows
    holding those frames are not the example; the first one made only of later frames is."""
    from edge_client.answering import ModelSlot
    from edge_client.teach import Teacher
    from edge_client.window import Window

    _, windows = please_replay
    slot = ModelSlot()
    slot.load(msl_bundle)
    teacher = Teacher(slot, tmp_path)
    teacher.start(WORD)

    def feed() -> None:
        assert teacher._armed.wait(10)
        now = time.monotonic()
        teacher.tap(Window(windows[0], 30, None, False, captured=now, began=now - 1.5))  # begun before the request
        teacher.tap(Window(windows[1], 60, None, False, captured=now + 2.0, began=now))

    feeder = threading.Thread(target=feed)
    feeder.start()
    teacher.record(timeout=10)
    feeder.join()
    [example] = teacher.draft.examples
    np.testing.assert_array_equal(example, np.asarray(windows[1], np.float32))


def test_a_restart_keeps_taught_signs_and_rename_and_remove_make_new_versions(msl_bundle, please_replay, tmp_path):
    from edge_client.answering import ModelSlot
    from edge_client.teach import NameTakenError, Teacher

    _, windows = please_replay
    slot = ModelSlot()
    slot.load(msl_bundle)
    teacher = Teacher(slot, tmp_path, session="ana")
    teacher.start(WORD)
    for w in windows[:5]:
        teacher.add_example(w)
    done = teacher.use()

    restarted = ModelSlot()
    restarted.load(msl_bundle)  # what the settings give at start
    assert Teacher(restarted, tmp_path).restore() is not None
    assert restarted.current.manifest.version == done["version"] and restarted.current.manifest.enrolled == [WORD]
    assert [restarted.current.predict(w).label for w in windows[5:]].count(WORD) >= 12

    again = Teacher(restarted, tmp_path)
    with pytest.raises(NameTakenError):
        again.start(WORD)
    renamed = again.rename(WORD, "por favor")
    assert restarted.current.manifest.enrolled == ["por favor"] and renamed["version"] != done["version"]
    assert [restarted.current.predict(w).label for w in windows[5:]].count("por favor") >= 12
    again.remove("por favor")
    assert restarted.current.manifest.enrolled == [] and restarted.current.folder == msl_bundle
    assert again.signs() == [] and len(list((tmp_path / "examples").glob("*.npz"))) == 1  # examples kept
    assert again.notice == "'por favor' removed: this kiosk no longer answers it (its examples stay on disk)"


def test_another_persons_examples_join_a_taught_sign_and_survive_a_restart_and_rename(
    msl_bundle, please_replay, second_signer, tmp_path
):
    from edge_client.answering import ModelSlot
    from edge_client.teach import Teacher, TeachError

    _, windows = please_replay
    slot, teacher, first = _taught(msl_bundle, windows, tmp_path)
    theirs, held = second_signer[:5], second_signer[5:]
    alone = [slot.current.predict(w).label for w in held].count(WORD)
    with pytest.raises(TeachError, match="not a sign taught"):
        teacher.more("doctor", session="ben")
    shown = teacher.more(WORD, session="ben")["teaching"]
    assert shown["adding"] and shown["session"] == "ben"
    for w in theirs:
        teacher.add_example(w)
    done = teacher.use()
    assert done["people"] == 2 and done["version"] != first["version"]
    assert slot.current.manifest.enrolled == [WORD]
    assert slot.current.manifest.metrics["enrolled"]["signs"][WORD]["examples"] == 10  # ana's 5 and ben's 5
    both = [slot.current.predict(w).label for w in held].count(WORD)
    print(f"the second person's other {len(held)} recordings named {WORD}: {alone} taught by one, {both} by both")
    assert both >= alone
    assert [slot.current.predict(w).label for w in windows[5:]].count(WORD) >= 12  # the first person still
    [sign] = teacher.signs()
    assert sign["people"] == ["ana", "ben"] and len(sign["files"]) == 2

    restarted = ModelSlot()
    restarted.load(msl_bundle)
    again = Teacher(restarted, tmp_path)
    again.restore()
    assert restarted.current.manifest.version == done["version"]
    again.rename(WORD, "por favor")  # enrolled again from both people's examples
    assert restarted.current.manifest.metrics["enrolled"]["signs"]["por favor"]["examples"] == 10
    assert [restarted.current.predict(w).label for w in held].count("por favor") == both
    assert again.signs()[0]["people"] == ["ana", "ben"]


def test_teach_actions_need_the_admin_token_and_the_pin(msl_bundle, sign_data, tmp_path):
    from edge_client.answering import ModelSlot
    from edge_client.control import KioskControl  # noqa: F401  (the app is built as the runner builds it)
    from edge_client.display.access import AccessPolicy
    from edge_client.display.hub import DisplayHub
    from edge_client.display.web import create_app
    from edge_client.teach import Teacher

    slot = ModelSlot()
    slot.load(msl_bundle)
    teacher = Teacher(slot, tmp_path)

    class Control:
        def status(self):
            return {}

        def labels(self):
            return {"labels": []}

    app, _ = create_app(DisplayHub(), Control(), policy=AccessPolicy.for_kiosk(token=TOKEN), teacher=teacher,
                        teach_pin="4321")  # fmt: skip
    client = app.test_client()
    start = {"json": {"name": WORD}, "headers": {"X-Teach-Pin": "4321"}}
    assert client.post("/api/teach/start", **start).status_code == 401  # no token
    auth = {"Authorization": f"Bearer {TOKEN}"}
    resp = client.post("/api/teach/start", json={"name": WORD}, headers={**auth, "X-Teach-Pin": "1234"})
    assert resp.status_code == 401 and "PIN" in resp.get_json()["error"]
    ok = {**auth, "X-Teach-Pin": "4321"}
    assert client.post("/api/teach/start", json={"name": WORD}, headers=ok).status_code == 200
    resp = client.post("/api/teach/drop", json={"index": 0}, headers=ok)
    assert resp.status_code == 400 and "no example 0" in resp.get_json()["error"]
    assert client.post("/api/teach/start", json={"name": ""}, headers=ok).status_code == 400
    assert client.post("/api/teach/use", headers=ok).status_code == 400  # too few examples
    assert client.post("/api/teach/nope", headers=ok).status_code == 404
    resp = client.post("/api/teach/more", json={"name": "doctor", "session": "ben"}, headers=ok)
    assert resp.status_code == 400 and "not a sign taught at this kiosk" in resp.get_json()["error"]
    assert client.post("/api/teach/more", json={"name": WORD, "people": 2}, headers=ok).status_code == 400
    assert client.get("/api/teach").get_json()["teaching"]["name"] == WORD
    doctor = load_dataset(sign_data / "landmarks" / "msl_msl150.npz")
    rows = np.flatnonzero(doctor.labels == "doctor")[:5]
    assert client.post("/api/teach/start", json={"name": "medico"}, headers=ok).status_code == 200
    for i in rows:
        teacher.add_example(doctor.X[i][: doctor.length[i]])
    resp = client.post("/api/teach/use", headers=ok)
    assert resp.status_code == 400 and "'medico' looks like the sign 'doctor'" in resp.get_json()["error"]
    assert teacher.signs() == [] and slot.current.folder == msl_bundle  # nothing taught, nothing swapped
    assert not (tmp_path / "models").exists() and len(teacher.draft.examples) == 5  # the draft stays to redo


# Every button of the teach panel inside the viewport, and no horizontal scroll.
FITS = """
const W = window.innerWidth, H = window.innerHeight, problems = [];
if (document.documentElement.scrollWidth > W) problems.push("page scrolls sideways");
const panel = document.getElementById("teach");
if (panel.hidden || panel.scrollWidth > panel.clientWidth + 1) problems.push("panel hidden or scrolls sideways");
for (const b of panel.querySelectorAll("button, input")) {
  if (b.hidden) continue;
  const r = b.getBoundingClientRect();
  if (r.width === 0 || r.left < 0 || r.top < 0 || r.right > W + 0.5 || r.bottom > H + 0.5)
    problems.push(`${b.id || b.textContent} not in view: ${r.left},${r.top},${r.right},${r.bottom}`);
}
return problems;
"""


def test_the_operator_mode_records_a_replayed_sign_and_lists_it_in_chromium(
    msl_bundle, please_replay, tmp_path, clean_env
):
    from selenium.webdriver.common.by import By

    from .browser import chromium, set_viewport
    from .test_kiosk_layout import wait_for

    source, _ = please_replay
    runner, _ = _kiosk(source.with_name("long.npz"), msl_bundle, tmp_path / "teach", speed=2.0, teach_pin="2468")
    thread = threading.Thread(target=runner.run, kwargs={"install_signals": False}, daemon=True)
    driver = chromium(tmp_path / "profile", 800, 480)
    try:
        thread.start()
        driver.get(f"{runner.web.url}/#teach")
        wait_for(driver, "return !document.getElementById('teach-pin').hidden")
        assert driver.execute_script(FITS) == []
        driver.save_screenshot(str(tmp_path / "teach-800x480.png"))
        driver.find_element(By.ID, "teach-token").send_keys(TOKEN)
        driver.find_element(By.ID, "teach-pin").send_keys("2468")
        driver.find_element(By.ID, "teach-name").send_keys(WORD)
        driver.find_element(By.ID, "teach-start").click()
        wait_for(driver, "return !document.getElementById('teach-record').disabled")
        for i in range(5):
            driver.find_element(By.ID, "teach-record").click()
            wait_for(driver, f"return document.querySelectorAll('#teach-examples li').length === {i + 1}", 30)
        assert driver.execute_script(FITS) == []
        driver.save_screenshot(str(tmp_path / "teach-800x480-recorded.png"))
        driver.get("about:blank")  # reopened mid-draft (not a reload, which may restore typed fields)
        driver.get(f"{runner.web.url}/#teach")
        wait_for(driver, "return document.querySelectorAll('#teach-examples li').length === 5")
        assert driver.find_element(By.ID, "teach-name").get_attribute("value") == WORD
        assert driver.find_element(By.ID, "teach-count").text == "5 / 5"
        driver.find_element(By.ID, "teach-use").click()
        wait_for(driver, f"return !!document.querySelector('#teach-signs li[data-sign=\"{WORD}\"]')", 30)
        assert "answers please now" in driver.find_element(By.ID, "teach-message").text
        # the draft is over: no count left, the name free for the next sign, and where the sign went
        assert driver.find_element(By.ID, "teach-count").text == ""
        assert driver.find_element(By.ID, "teach-name").get_attribute("value") == ""
        wait_for(driver, "return document.getElementById('teach-notice').textContent.includes('this kiosk only')")
        assert driver.execute_script(FITS) == []  # with a taught sign listed, its buttons too
        # another person's examples of the taught sign: "add a person" asks who, then a draft of more
        taught = driver.find_element(By.CSS_SELECTOR, f'#teach-signs li[data-sign="{WORD}"]')
        next(b for b in taught.find_elements(By.TAG_NAME, "button") if b.text == "add a person").click()
        prompt = driver.switch_to.alert
        prompt.send_keys("ben")
        prompt.accept()
        wait_for(driver, "return document.getElementById('teach-count').textContent === '0 / 5 more, from ben'")
        driver.find_element(By.ID, "teach-cancel").click()
        wait_for(driver, "return document.getElementById('teach-record').disabled")
        driver.find_element(By.ID, "teach-name").clear()
        driver.find_element(By.ID, "teach-name").send_keys("another")
        driver.find_element(By.ID, "teach-start").click()  # the notice is about the last sign, not this one
        wait_for(driver, "return !document.getElementById('teach-record').disabled")
        assert driver.find_element(By.ID, "teach-notice").text == ""
        assert runner.slot.current.manifest.enrolled == [WORD]
        set_viewport(driver, 1280, 720)
        wait_for(driver, "return window.innerWidth === 1280 && window.innerHeight === 720")
        assert driver.execute_script(FITS) == []
        driver.save_screenshot(str(tmp_path / "teach-1280x720.png"))
    finally:
        driver.quit()
        runner.stop.set()
        thread.join(30)


def _taught(msl_bundle, windows, folder, **teacher):
    from edge_client.answering import ModelSlot
    from edge_client.teach import Teacher

    slot = ModelSlot()
    slot.load(msl_bundle)
    t = Teacher(slot, folder, **teacher)
    t.start(WORD, session="ana")
    for w in windows[:5]:
        t.add_example(w)
    return slot, t, t.use()


def test_a_taught_sign_goes_to_the_registry_as_a_dataset_and_a_signed_version(msl_bundle, please_replay, tmp_path):
    from shared.model.signing import generate_keypair
    from shared.registry.registry import Registry
    from shared.registry.store import open_store

    generate_keypair(tmp_path / "key.pem", tmp_path / "key.pub")
    (tmp_path / "store").mkdir()
    registry = Registry(open_store(f"file://{tmp_path / 'store'}"))
    _, teacher, done = _taught(msl_bundle, please_replay[1], tmp_path / "teach", signing_key=tmp_path / "key.pem",
                               registry=registry)  # fmt: skip
    teacher.wait_pushed()
    assert "examples pushed as dataset taught-msl" in teacher.notice and "pushed (not promoted)" in teacher.notice
    [row] = [d for d in registry.list_datasets() if d.name == "taught-msl"]
    [npz] = Path(registry.pull_dataset("taught-msl", row.version, tmp_path / "pulled")).glob("*.npz")
    pulled = load_dataset(npz)
    assert pulled.classes == [WORD] and list(pulled.session) == ["ana"] * 5  # the session is the person
    assert registry.verify_version("msl", done["version"], tmp_path / "key.pub").enrolled == [WORD]


def test_without_a_store_the_sign_stays_on_the_kiosk_and_the_notice_says_so(msl_bundle, please_replay, tmp_path):
    _, teacher, _ = _taught(msl_bundle, please_replay[1], tmp_path)
    assert teacher.notice == f"{WORD!r} is taught on this kiosk only (no store it may write to)"


def test_signs_taught_here_are_answered_locally_until_the_server_serves_them(
    msl_bundle, please_replay, sign_data, tmp_path, fake_server
):
    from edge_client.answering import Answerer, ModelSlot
    from edge_client.transport import CloudClient

    windows = please_replay[1]
    slot, _, _ = _taught(msl_bundle, windows, tmp_path)
    cloud = CloudClient(fake_server.url)
    answerer = Answerer(cloud, slot)
    answers = [answerer.answer(w) for w in windows[5:]]
    assert [(a.label, a.answered_by) for a in answers].count((WORD, "local")) >= 12
    assert answerer.enrolled_local >= 12 and len(fake_server.requests) == len(answers)  # the server was asked
    msl = load_dataset(sign_data / "landmarks" / "msl_msl150.npz")
    doctor = [x[:n] for x, n in zip(msl.X[msl.labels == "doctor"][:5], msl.length[msl.labels == "doctor"][:5],
                                    strict=True)]  # fmt: skip
    assert {answerer.answer(w).answered_by for w in doctor} == {"cloud"}  # known signs: the server's answer
    plain = ModelSlot()
    plain.load(msl_bundle)
    assert {Answerer(cloud, plain).answer(w).answered_by for w in windows[5:]} == {"cloud"}
    cloud.close()


def _another_version(bundle: Path, dest: Path, version: str) -> Path:
    import shutil

    from shared.model.bundle import read_manifest, write_manifest

    shutil.copytree(bundle, dest)
    (dest / "manifest.json").unlink()
    write_manifest(dest, read_manifest(bundle).model_copy(update={"version": version}))
    return dest


def test_a_promotion_keeps_the_signs_taught_here(msl_bundle, please_replay, tmp_path, clean_env):
    """A kiosk following a registry: a sign taught on version 1 is enrolled into version 2 when 2 is promoted."""
    from shared.registry.registry import Registry
    from shared.registry.store import open_store

    (tmp_path / "store").mkdir()
    store = f"file://{tmp_path / 'store'}"
    registry = Registry(open_store(store))
    registry.push_bundle(msl_bundle)
    registry.promote("msl", "1", by="test")
    source, held_out = please_replay
    runner, _ = _kiosk(source, None, tmp_path / "teach", speed=1.0, store=store, model_name="msl",
                       poll_interval=0.3, cache_dir=tmp_path / "cache")  # fmt: skip
    thread = threading.Thread(target=runner.run, kwargs={"install_signals": False}, daemon=True)
    thread.start()
    try:
        teacher = runner.teacher
        teacher.start(WORD, session="ana")
        for w in held_out[:5]:
            teacher.add_example(w)
        teacher.use()
        assert runner.slot.current.manifest.enrolled == [WORD]
        registry.push_bundle(_another_version(msl_bundle, tmp_path / "v2", "2"))
        registry.promote("msl", "2", by="test")
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            m = runner.slot.current.manifest
            if m.enrolled == [WORD] and m.metrics["enrolled"]["from_version"] == "2":
                break
            time.sleep(0.1)
        else:
            raise AssertionError(f"the kiosk serves {m.version} (from {m.metrics.get('enrolled')}) without {WORD}")
        assert "enrolled into msl 2" in teacher.notice
        assert [runner.slot.current.predict(w).label for w in held_out[5:]].count(WORD) >= 12
        state = json.loads((tmp_path / "teach" / "teach.json").read_text())
        assert state["base"].endswith("2") and state["current"].startswith("models/taught-")
    finally:
        runner.stop.set()
        thread.join(30)
    again, _ = _kiosk(source, None, tmp_path / "teach", speed=1.0, store=store, model_name="msl",
                      poll_interval=30, cache_dir=tmp_path / "cache")  # fmt: skip
    try:
        assert again.slot.current.manifest.enrolled == [WORD]  # a restart: version 2 with the sign, not made again
        assert again.slot.current.manifest.version == state["current"].split("/")[-1]
        assert len(list((tmp_path / "teach" / "models").iterdir())) == 2
    finally:
        again.web.stop()


def test_with_the_teach_policy_a_kiosk_pushes_to_s3_but_cannot_promote(msl_bundle, please_replay, tmp_path,
                                                                        monkeypatch):  # fmt: skip
    """deploy/iam/kiosk-teach.json against an S3 API that enforces it: the kiosk adds its examples and its
    signed version; promoting stays the operator's; a kiosk with deploy/iam/kiosk.json alone says why its
    push failed and keeps answering the sign."""
    import os

    from shared.model.bundle import load_manifest
    from shared.model.signing import generate_keypair
    from shared.registry.registry import Registry
    from shared.registry.store import StoreError, open_store
    from tests.moto_server import s3_with_iam_users

    key, public = tmp_path / "key.pem", tmp_path / "key.pub"
    generate_keypair(key, public)
    users = {"operator": ["operator"], "kiosk": ["kiosk", "kiosk-teach"], "viewer": ["kiosk"]}
    with s3_with_iam_users("signs", users, tmp_path) as (url, credentials):
        for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_PROFILE"):
            monkeypatch.delenv(name, raising=False)
        for name, value in {"AWS_ENDPOINT_URL": url, "AWS_SHARED_CREDENTIALS_FILE": str(credentials),
                            "AWS_CONFIG_FILE": os.devnull, "AWS_DEFAULT_REGION": "us-east-1",
                            "AWS_EC2_METADATA_DISABLED": "true"}.items():  # fmt: skip
            monkeypatch.setenv(name, value)
        operator, kiosk, viewer = (Registry(open_store("s3://signs/fleet", profile=who)) for who in users)
        served = load_manifest(msl_bundle).version
        operator.push_bundle(msl_bundle, private_key=key)
        operator.promote("msl", served, by="operator", signing_key=key)

        _, teacher, done = _taught(msl_bundle, please_replay[1], tmp_path / "teach", signing_key=key,
                                   registry=kiosk)  # fmt: skip
        teacher.wait_pushed()
        assert "pushed (not promoted)" in teacher.notice, teacher.notice
        assert operator.verify_version("msl", done["version"], public).enrolled == [WORD]
        assert [d.name for d in operator.list_datasets()] == ["taught-msl"]
        with pytest.raises(StoreError, match="current: access denied"):
            kiosk.promote("msl", done["version"], by="kiosk", signing_key=key)
        assert operator.current("msl", public).version == served

        _, alone, _ = _taught(msl_bundle, please_replay[1], tmp_path / "teach2", signing_key=key, registry=viewer)
        alone.wait_pushed()
        assert "is taught on this kiosk only: pushing it failed" in alone.notice, alone.notice
        assert "access denied" in alone.notice
