"""Teaching the kiosk a sign: a few examples recorded from the live windows, then a new local model.

The pipeline hands every window it forms to ``Teacher.tap`` (from the landmarks thread: it never
waits; a window arriving while nobody records, or with the small queue full, is dropped). An
operator starts a draft (``start(name)``), records examples (``record``: the next window the
pipeline forms whose frames all came after the request, so a hand already in view while the operator
pressed "record" is not the example; a window with a hand in at most 10% of its frames is refused),
drops the ones that do not agree (``drop``), then ``use``: the examples are saved as a dataset
(``examples/<name>-<time>.npz``, written atomically, never deleted), the current local bundle gets
the sign enrolled as a new version (``models/<version>``, ``shared.enrolment.bundle.enroll_bundle``)
and the local model slot swaps to it, so the kiosk answers the sign at once.

More examples of a taught sign, from another person, come the same way (``more(name, session=...)``):
``use`` then enrols the sign again from everyone's examples (a sign taught by one person is that
person's way of signing it; ``bench fewshot --people`` measures what a second and third person add).

Enrolled signs can be listed, renamed and removed: a rename or a removal enrols the kept signs
again, from their saved examples, into the bundle they were taught on (``base``). When the
registry gives the kiosk another version (a promotion), ``follow`` enrols the signs taught here into
it again, so a promotion does not take them away. The state (``teach.json``: base, the version in
use, each sign's examples file) is written atomically; a restart loads the version in use
(``restore``).
"""

from __future__ import annotations

import contextlib
import json
import logging
import queue
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from shared.app.atomic import atomic_file
from shared.app.errors import SignstreamError
from shared.datasets.dataset import Dataset, load_dataset, save_dataset
from shared.enrolment.bundle import enroll_bundle
from shared.model.bundle import TFLITE_FLOAT, load_manifest
from shared.model.enroll import (
    MIN_EXAMPLES,
    EnrollError,
    check_names,
    embed_windows,
    example_consistency,
    load_reference,
)
from shared.model.predictor import NO_HAND_MAX_FRACTION, hand_fraction
from shared.model.tflite import TFLiteRunner

log = logging.getLogger(__name__)

STATE_FILE = "teach.json"
DEFAULT_EXAMPLES = 5
RECORD_TIMEOUT_S = 10.0


class TeachError(SignstreamError):
    """A teaching request the kiosk refuses (bad input or the wrong moment); the message says why."""

    http_status, reason = 400, "teach_refused"


class NoHandError(TeachError):
    """The recorded window shows no hand (or none came within the wait)."""

    http_status, reason = 422, "no_hand"


class NameTakenError(TeachError):
    """The sign's name is already one the model answers."""

    http_status, reason = 409, "name_exists"


@dataclass
class Draft:
    """A sign being taught: its name, how many examples are wanted, the examples kept so far."""

    name: str
    wanted: int
    session: str
    examples: list[np.ndarray] = field(default_factory=list)  # raw windows (T_i, 126)
    adding: bool = False  # more examples of a sign taught here already (from another person, say)


def example_files(info: dict[str, Any]) -> list[tuple[str, str]]:
    """(examples file, session) of each recording round of a taught sign in ``teach.json``, first one first."""
    return [(info["examples"], info["session"])] + [(m["examples"], m["session"]) for m in info.get("more", [])]


def _check_wanted(examples: int) -> None:
    """TeachError unless a draft may want ``examples`` examples."""
    if not MIN_EXAMPLES <= examples <= 20:
        raise TeachError(f"examples must be between {MIN_EXAMPLES} and 20, got {examples}")


class Teacher:
    """The kiosk's enrolment service (see the module).

    Args:
        slot: the kiosk's local model slot (``edge_client.answering.ModelSlot``); it must hold a model.
        folder: the kiosk's teaching state (examples, new versions, ``teach.json``).
        session: the default session (person) name stored with the examples.
        record_timeout: seconds ``record`` waits for a window with a hand.
        signing_key: signs each new version (needed when the kiosk only loads signed bundles); with a
            ``registry`` the new version is pushed too (never promoted: an operator does that).
        registry: a ``shared.registry.Registry`` this kiosk may write to: each taught sign's examples are
            pushed as a dataset version (``taught-<model name>``, the session as the person), in the
            background, after the kiosk already answers the sign. None: kept on this kiosk (``notice`` says so).
    """

    def __init__(
        self, slot: Any, folder: str | Path, *, session: str = "kiosk", record_timeout: float = RECORD_TIMEOUT_S,
        signing_key: Path | None = None, registry: Any | None = None,
    ) -> None:  # fmt: skip
        self.slot, self.folder, self.registry = slot, Path(folder), registry
        self.notice: str | None = None  # what /api/status says about the last taught sign's way to the cloud
        self._pushing: threading.Thread | None = None
        self.session, self.record_timeout, self.signing_key = session, record_timeout, signing_key
        self.draft: Draft | None = None
        self.last_use_seconds: float | None = None
        self._windows: queue.Queue = queue.Queue(maxsize=4)
        self._armed = threading.Event()
        self._lock = threading.Lock()  # one teaching action at a time (recording, enrolling)
        self._embed_lock = threading.Lock()
        self._runner: tuple[Path, TFLiteRunner, Any] | None = None

    # --- the pipeline's tap -------------------------------------------------------------------------

    def tap(self, window: Any) -> None:
        """Offer a pipeline ``Window``; kept only while an example is being recorded. Never waits."""
        if not self._armed.is_set():
            return
        with contextlib.suppress(queue.Full):  # the operator gets the next one
            self._windows.put_nowait(window)

    # --- state on disk ------------------------------------------------------------------------------

    @property
    def _state_path(self) -> Path:
        return self.folder / STATE_FILE

    def _state(self) -> dict[str, Any]:
        if not self._state_path.is_file():
            return {"base": None, "current": None, "signs": {}}
        return json.loads(self._state_path.read_text(encoding="utf-8"))

    def _save_state(self, state: dict[str, Any]) -> None:
        with atomic_file(self._state_path, "w") as fh:
            json.dump(state, fh, indent=2)

    def restore(self) -> str | None:
        """Load the version in use after a restart (None when nothing was taught); returns its folder."""
        current = self._state().get("current")
        if current is None:
            return None
        path = self.folder / current
        model = self.slot.current
        if model is None or Path(model.folder).resolve() != path.resolve():
            self.slot.load(path)
        return str(path)

    # --- teaching -----------------------------------------------------------------------------------

    def _model(self):
        model = self.slot.current
        if model is None:
            raise TeachError("the kiosk has no local model to teach (give it --local-model or a store)")
        return model

    def start(self, name: str, examples: int = DEFAULT_EXAMPLES, session: str | None = None) -> dict[str, Any]:
        """Begin a draft for ``name`` (replacing any draft); refused for a name the model already answers."""
        _check_wanted(examples)
        name = name.strip()
        manifest = self._model().manifest
        try:
            check_names(manifest, [name], replace=False)
        except EnrollError as err:
            error = NameTakenError if name in manifest.labels else TeachError
            raise error(str(err).replace("; pass --replace to replace it", "")) from err
        return self._begin(Draft(name, examples, self._person(session)))

    def more(self, name: str, examples: int = DEFAULT_EXAMPLES, session: str | None = None) -> dict[str, Any]:
        """Begin a draft of more examples for ``name``, a sign taught here (from ``session``, another person);
        ``use`` then enrols it from all its examples."""
        _check_wanted(examples)
        name = name.strip()
        if name not in self._state()["signs"]:
            raise TeachError(f"{name!r} is not a sign taught at this kiosk: teach it first")
        self._model()  # a kiosk without a local model has nothing to teach (TeachError)
        return self._begin(Draft(name, examples, self._person(session), adding=True))

    def _person(self, session: str | None) -> str:
        """Who signs: the name typed, else the kiosk's default session."""
        return (session or self.session).strip() or self.session

    def _begin(self, draft: Draft) -> dict[str, Any]:
        with self._lock:
            self.draft = draft
        return self.describe()

    def _need_draft(self) -> Draft:
        if self.draft is None:
            raise TeachError("no sign is being taught: start one first")
        return self.draft

    def record(self, timeout: float | None = None) -> dict[str, Any]:
        """Take the next window the pipeline forms from frames captured after this call as the draft's next
        example (a sign still going on gives its first full window, one that ends sooner its frames); returns
        the draft."""
        draft = self._need_draft()
        if len(draft.examples) >= draft.wanted:
            raise TeachError(f"{draft.wanted} examples are recorded: drop one to record it again, or use them")
        wait = self.record_timeout if timeout is None else timeout
        with self._lock:
            while not self._windows.empty():
                self._windows.get_nowait()
            armed_at = time.monotonic()
            deadline = armed_at + wait
            self._armed.set()
            try:
                while True:
                    window = self._windows.get(timeout=max(deadline - time.monotonic(), 0.0))
                    if window.began >= armed_at:
                        break
            except queue.Empty as err:
                said = f"no hand seen in {wait:.0f} s: sign in front of the camera, then record again"
                raise NoHandError(said) from err
            finally:
                self._armed.clear()
        return self.add_example(window.frames)

    def add_example(self, window: np.ndarray) -> dict[str, Any]:
        """Keep one raw window (T, 126) as the draft's next example; refused without a hand."""
        draft = self._need_draft()
        window = np.asarray(window, np.float32)
        if window.ndim != 2 or window.shape[1] != 126 or len(window) < 2:
            raise TeachError(f"an example is a (T, 126) window, got shape {window.shape}")
        if hand_fraction(window) <= NO_HAND_MAX_FRACTION:
            raise NoHandError("the example shows no hand: sign in front of the camera, then record again")
        draft.examples.append(window)
        return self.describe()

    def drop(self, index: int) -> dict[str, Any]:
        """Forget example ``index`` (0-based) of the draft, to record it again."""
        draft = self._need_draft()
        if not 0 <= index < len(draft.examples):
            raise TeachError(f"there is no example {index}: the draft has {len(draft.examples)}")
        del draft.examples[index]
        return self.describe()

    def cancel(self) -> None:
        """Forget the draft (nothing was saved)."""
        self.draft = None

    def _embedder(self):
        """The current bundle's float32 runner and its reference windows (cached per bundle)."""
        model = self._model()
        if self._runner is None or self._runner[0] != model.folder:
            self._runner = (model.folder, TFLiteRunner(model.folder / TFLITE_FLOAT), load_reference(model.folder))
        return model, self._runner[1], self._runner[2]

    def describe(self) -> dict[str, Any]:
        """The draft as the page shows it: each example's agreement with the others and what the
        current model names it (the known sign it resembles)."""
        draft = self.draft
        if draft is None:
            return {"teaching": None}
        examples = []
        if draft.examples:
            with self._embed_lock:  # an interpreter is not thread-safe; requests come from several threads
                model, runner, reference = self._embedder()
                _, emb = embed_windows(runner, model.manifest.spec, draft.examples)
            agreement = example_consistency(reference, emb) if len(draft.examples) >= 2 else [None]
            for window, agree in zip(draft.examples, agreement, strict=True):
                answer = model.predict(window)
                examples.append({
                    "frames": len(window),
                    "agreement": None if agree is None else round(float(agree), 3),
                    "no_sign": answer.no_sign,  # no hand, or the no-sign class: "use" refuses a sign made of these
                    "resembles": None if answer.no_sign else answer.label,
                    "resembles_confidence": round(answer.confidence, 3),
                })  # fmt: skip
        return {"teaching": {"name": draft.name, "wanted": draft.wanted, "session": draft.session,
                             "adding": draft.adding, "examples": examples,
                             "ready": len(draft.examples) >= draft.wanted}}  # fmt: skip

    def use(self) -> dict[str, Any]:
        """Save the draft's examples, enrol the sign into a new version, swap the local model to it."""
        draft = self._need_draft()
        if len(draft.examples) < max(MIN_EXAMPLES, draft.wanted):
            raise TeachError(f"{draft.name!r} has {len(draft.examples)} of {draft.wanted} examples: record the rest")
        with self._lock:
            started = time.perf_counter()
            model = self._model()
            state = self._state()
            out = self._new_version_path()
            if draft.adding:  # every taught sign again, this one from everyone's examples, into their base
                signs, base = self._examples(state["signs"]), Path(state["base"])
                signs[draft.name] = signs[draft.name] + draft.examples
            else:
                signs, base = {draft.name: draft.examples}, model.folder
            done = enroll_bundle(base, signs, out, signing_key=self.signing_key, version=out.name)
            examples_file = self._save_examples(draft, model.manifest.spec.fps)  # kept even if the swap fails
            self.slot.load(out)
            if state["base"] is None:
                state["base"] = str(model.folder)
            state["current"] = str(out.relative_to(self.folder))
            saved = {"examples": str(examples_file.relative_to(self.folder)), "session": draft.session}
            if draft.adding:
                state["signs"][draft.name].setdefault("more", []).append(saved)
            else:
                state["signs"][draft.name] = saved
            self._save_state(state)
            self.last_use_seconds = time.perf_counter() - started
            self.draft = None
        log.info("taught %r: version %s in %.2f s (enrol %.2f s)", draft.name, out.name, self.last_use_seconds,
                 done.seconds)  # fmt: skip
        self._publish(draft.name, examples_file, out)
        found = next((r for r in done.enrolment.resemblances if r.sign == draft.name), None)
        return {
            "taught": draft.name,
            "people": len({s for _, s in example_files(state["signs"][draft.name])}),
            "version": out.name,
            "seconds": round(self.last_use_seconds, 3),
            "examples_file": str(examples_file),
            "closest_known": found.known if found else None,
            "closest_overlap": round(found.overlap, 3) if found else None,
            "signs": self.signs(),
        }

    def _publish(self, name: str, examples_file: Path, version: Path) -> None:
        """Push the examples (and, signed, the new version) to the registry in the background; say how it went."""
        if self.registry is None:
            self.notice = f"{name!r} is taught on this kiosk only (no store it may write to)"
            return
        self.notice = f"pushing {name!r} to the registry"

        def push() -> None:
            model = load_manifest(version)
            try:
                ds = self.registry.push_dataset(examples_file, name=f"taught-{model.name}", version=version.name)
                said = f"{name!r}: examples pushed as dataset {ds.name} {ds.version}"
                if self.signing_key is not None:
                    self.registry.push_bundle(version)
                    said += f"; model {model.name} {model.version} pushed (not promoted)"
                else:
                    said += "; the model version stays on this kiosk (no signing key)"
                self.notice = said
            except Exception as err:  # the store is down or refuses: the sign stays answered here
                log.warning("pushing %r failed: %s", name, err)
                self.notice = f"{name!r} is taught on this kiosk only: pushing it failed ({err})"

        self._pushing = threading.Thread(target=push, name="teach-push", daemon=True)
        self._pushing.start()

    def wait_pushed(self, timeout: float = 30.0) -> None:
        """Until the last push ended (tests, shutdown)."""
        if self._pushing is not None:
            self._pushing.join(timeout)

    def _save_examples(self, draft: Draft, fps: float) -> Path:
        """The draft's examples as a one-class dataset npz (zero-padded to the longest), never overwritten."""
        n, t = len(draft.examples), max(len(w) for w in draft.examples)
        X = np.zeros((n, t, 126), np.float32)
        for i, w in enumerate(draft.examples):
            X[i, : len(w)] = w
        path = _fresh_path(self.folder / "examples", draft.name, ".npz")
        ds = Dataset(X, np.zeros(n, np.int64), [draft.name], np.asarray([f"{draft.session}/{draft.name}/{i}" for i in
                     range(n)]), np.asarray([draft.session] * n), np.asarray([len(w) for w in draft.examples]),
                     ["recorded at the kiosk"], [], fps)  # fmt: skip
        save_dataset(path, ds)
        return path

    def _new_version_path(self) -> Path:
        return _fresh_path(self.folder / "models", "taught")

    # --- enrolled signs -----------------------------------------------------------------------------

    def signs(self) -> list[dict[str, Any]]:
        """The signs taught at this kiosk (name, who taught it, examples files) and whether the model answers them."""
        state = self._state()
        model = self.slot.current
        enrolled = set(model.manifest.enrolled) if model is not None else set()
        out = []
        for name, info in state["signs"].items():
            rounds = example_files(info)
            people = list(dict.fromkeys(s for _, s in rounds))
            out.append({"name": name, "session": info["session"], "people": people, "examples": info["examples"],
                        "files": [f for f, _ in rounds], "answered": name in enrolled})  # fmt: skip
        return out

    def rename(self, old: str, new: str) -> dict[str, Any]:
        """Teach ``old``'s examples under ``new`` (a new version without ``old``)."""
        state = self._state()
        if old not in state["signs"]:
            raise TeachError(f"{old!r} is not a sign taught at this kiosk")
        new = new.strip()
        if new in state["signs"]:
            raise NameTakenError(f"{new!r} is already taught at this kiosk")
        check_names(load_manifest(Path(state["base"])), [new], replace=False)
        signs = {(new if k == old else k): v for k, v in state["signs"].items()}
        return self._rebuild(state, signs)

    def remove(self, name: str) -> dict[str, Any]:
        """A new version without ``name`` (its examples stay on disk)."""
        state = self._state()
        if name not in state["signs"]:
            raise TeachError(f"{name!r} is not a sign taught at this kiosk")
        done = self._rebuild(state, {k: v for k, v in state["signs"].items() if k != name})
        self.notice = f"{name!r} removed: this kiosk no longer answers it (its examples stay on disk)"
        return done

    def follow(self, folder: str | Path) -> None:
        """Take a version the registry gives (the kiosk's ``on_update``): load it, then enrol the signs
        taught here into it again and swap to that, so a promotion keeps them.

        A sign the new version already answers (trained from the examples this kiosk pushed, say) is
        left to it. When the new version cannot take the others (no embedding, a refusal), it is
        answered as it is and ``notice`` names the signs no longer answered. Raises what the slot
        raises for a version it refuses (the sync keeps its last good one).
        """
        folder = Path(folder)
        with self._lock:
            state = self._state()
            if state["base"] == str(folder) and state["current"] is not None:
                self.slot.load(self.folder / state["current"])  # this version with the signs: made already
                return
            self.slot.load(folder)
            if not state["signs"]:
                return
            manifest = self.slot.current.manifest
            keep = {k: v for k, v in state["signs"].items() if k not in manifest.labels}
            state["base"], state["current"] = str(folder), None
            if keep:
                try:
                    out = self._new_version_path()
                    enroll_bundle(folder, self._examples(keep), out, signing_key=self.signing_key, version=out.name)
                    self.slot.load(out)
                    state["current"] = str(out.relative_to(self.folder))
                    self.notice = f"{', '.join(keep)} taught here, enrolled into {manifest.name} {manifest.version}"
                except SignstreamError as err:
                    self.notice = (f"{manifest.name} {manifest.version} cannot take the signs taught here ({err}): "
                                   f"{', '.join(keep)} are not answered")  # fmt: skip
                    log.warning("%s", self.notice)
            self._save_state(state)
        log.info("following %s %s: signs taught here %s", manifest.name, manifest.version,
                 "answered" if state["current"] or not keep else "not answered")  # fmt: skip

    def _examples(self, signs: dict[str, Any]) -> dict[str, list[np.ndarray]]:
        """name -> the raw windows saved for it (every recording round)."""
        examples: dict[str, list[np.ndarray]] = {}
        for name, info in signs.items():
            for file, _ in example_files(info):
                ds = load_dataset(self.folder / file)
                examples.setdefault(name, []).extend(x[:n] for x, n in zip(ds.X, ds.length, strict=True))
        return examples

    def _rebuild(self, state: dict[str, Any], signs: dict[str, Any]) -> dict[str, Any]:
        """Enrol ``signs`` (name -> saved examples) into the base bundle as a new version and swap to it."""
        with self._lock:
            base = Path(state["base"])
            if signs:
                out = self._new_version_path()
                enroll_bundle(base, self._examples(signs), out, signing_key=self.signing_key, version=out.name)
                self.slot.load(out)
                state["current"] = str(out.relative_to(self.folder))
            else:  # nothing taught any more: the bundle the kiosk was taught on answers again
                self.slot.load(base)
                state["current"] = None
            state["signs"] = signs
            self._save_state(state)
        return {"signs": self.signs(), "version": self.slot.current.manifest.version}


def _fresh_path(folder: Path, stem: str, suffix: str = "") -> Path:
    """``folder/<stem>-<UTC time><suffix>``, with ``-1``, ``-2``... added until nothing has that name."""
    stamp = time.strftime("%Y%m%dT%H%M%S", time.gmtime())
    path, k = folder / f"{stem}-{stamp}{suffix}", 1
    while path.exists():
        path, k = folder / f"{stem}-{stamp}-{k}{suffix}", k + 1
    return path
