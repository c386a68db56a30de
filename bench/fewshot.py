"""``signstream bench fewshot``: signs enrolled from a few examples of one person, on the many-signer file.

The base model learns the word vocabulary of ``bench accuracy`` (13 words and ``idle``) less some
held-out words; every person who signed a held-out word is hidden from it too (the hidden people).
Each held-out word is enrolled from n examples of one of its signers (the teacher; every signer
takes a turn), or with ``--people K`` from n examples taken in turn from the teacher and K - 1 other
signers of the word, and measured on:

- the teacher's other recordings of the word, and the word's other signers (never seen by the model);
- the known signs of the hidden people, before and after (top-1 accuracy, as ``evaluate``);
- ``idle`` of the hidden people: the share that would show a label (``evaluate``'s false_label_rate).

Beside it, with the same examples: the fitted head of ``shared/model/enroll.py`` as ``enroll`` runs it,
with augmented copies of the examples ("head"), the same without copies ("head_no_copies"),
prototypes scaled and offset against the same trained logits ("prototype"), and the nearest-mean
baseline on the hand features of the reference forest (known classes from the base training data,
the new word from its n examples). An enrolled sign is shown from its own threshold, as the bundle
``enroll`` writes says.
"""

from __future__ import annotations

import json
import os
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from bench.accuracy import WORDS
from shared.app.errors import SignstreamError
from shared.datasets.augment import augment
from shared.datasets.dataset import Dataset, load_dataset
from shared.model.bundle import TFLITE_FLOAT
from shared.model.enroll import (
    EnrolledHead,
    EnrollError,
    Reference,
    check_examples,
    enrol,
    example_windows,
    fit_head,
    load_reference,
    manifest_with,
)
from shared.model.open_bundle import open_bundle

MANY = "asl_many_signers.npz"
HELD_OUT = ("please", "good", "goodbye")
SHOTS = (1, 3, 5, 10)
METHODS = ("head", "head_no_copies", "prototype", "nearest_mean")
DUPLICATES = ("hello", "thanks", "iloveyou", "yes", "no", "i", "you")
KEYS = ("teacher_accuracy", "unseen_accuracy", "teacher_shown", "unseen_shown", "known_accuracy", "false_label_rate")
PER_PERSON_CLASS = 20  # sequences of one person and class the base model trains on (time, not accuracy)


@dataclass
class Split:
    """The base model's data, the hidden people's data, and the held-out words."""

    train: Dataset
    hidden: Dataset
    held_out: list[str]


def split(ds: Dataset, held_out: list[str], seed: int = 0) -> Split:
    """Keep the word vocabulary; hide the held-out words and everyone who signed one; cap what the
    base model trains on."""
    ds = ds.select_classes(WORDS)
    labels = ds.labels
    hidden_people = np.unique(ds.session[np.isin(labels, held_out)])
    hidden = np.isin(ds.session, hidden_people)
    rng = np.random.default_rng(seed)
    keep = []
    for key in np.unique(np.char.add(ds.session[~hidden].astype(str), "/" + labels[~hidden])):
        person, label = key.split("/", 1)
        rows = np.flatnonzero(~hidden & (ds.session == person) & (labels == label))
        keep.extend(rng.permutation(rows)[:PER_PERSON_CLASS].tolist())
    known = [c for c in ds.classes if c not in held_out]
    train = ds.subset(np.sort(keep)).select_classes([c for c in known if (ds.subset(np.sort(keep)).labels == c).any()])
    return Split(train, ds.subset(hidden), list(held_out))


def prototype_head(reference: Reference, classes: list[str], examples, example_logits, example_labels) -> EnrolledHead:
    """Prototypes: each new row is a scale times the class's centred mean embedding, plus an offset,
    the two numbers fitted like the head (the alternative the fitted head is measured against)."""
    centre = reference.embeddings.mean(axis=0)
    directions = np.stack([examples[example_labels == j].mean(axis=0) - centre for j in range(len(classes))])
    directions /= np.linalg.norm(directions, axis=1, keepdims=True) + 1e-12
    # Fit on the projections onto each direction: the head's own fitter over a (K, K) embedding.
    proj_ref = (reference.embeddings - centre) @ directions.T
    proj_ex = (examples - centre) @ directions.T
    # One number per sign takes less decay than a whole row: at the head's 0.01 the teacher fell to
    # 0.614 (n=5), at 0.001 0.861.
    small = fit_head(
        Reference(proj_ref, reference.logits, reference.labels),
        classes,
        proj_ex,
        example_logits,
        example_labels,
        l2=1e-3,
    )
    # Only the diagonal carries a prototype: row j uses its own direction alone.
    weights = np.diag(small.weights)[:, None] * directions
    bias = small.bias - weights @ centre
    return EnrolledHead(
        classes, weights.astype(np.float32), bias.astype(np.float32), examples, example_logits, example_labels
    )


def choose_examples(orders: list[np.ndarray], n: int, min_rest: int = 3) -> tuple[np.ndarray, np.ndarray] | None:
    """n examples taken in turn from each person's recordings (``orders``: one shuffled row list per
    person, the teacher first) and the rows left over, or None when someone runs short: every person
    must give at least one example and keep one recording, and ``min_rest`` must be left in all."""
    k = len(orders)
    shares = [n // k + (i < n % k) for i in range(k)]
    if min(shares) < 1 or any(len(o) <= s for o, s in zip(orders, shares, strict=True)):
        return None
    ex = np.concatenate([o[:s] for o, s in zip(orders, shares, strict=True)])
    rest = np.concatenate([o[s:] for o, s in zip(orders, shares, strict=True)])
    return (ex, rest) if len(rest) >= min_rest else None


def class_means(feats: np.ndarray, y: np.ndarray) -> np.ndarray:
    """(C, F) mean feature vector of each class 0..C-1."""
    return np.stack([feats[y == c].mean(axis=0) for c in range(int(y.max()) + 1)])


def squared_distances(feats: np.ndarray, means: np.ndarray) -> np.ndarray:
    """(N, C) squared Euclidean distances, without an (N, C, F) array."""
    return (feats**2).sum(1)[:, None] - 2 * feats @ means.T + (means**2).sum(1)[None]


def nearest_mean(known: np.ndarray, new_mean: np.ndarray, feats: np.ndarray) -> np.ndarray:
    """Nearest class mean: ``known`` (N, C) squared distances to the known classes' means, class C = ``new_mean``."""
    new = ((feats - new_mean) ** 2).sum(1)
    return np.concatenate([known, new[:, None]], axis=1).argmin(1)


def run_bench(
    data_dir: Path,
    workdir: Path,
    base: Path | None,
    shots=SHOTS,
    seed: int = 0,
    held_out=HELD_OUT,
    people: int = 1,
    log=print,
) -> dict:
    """Train (or reuse) the base model, enrol every held-out word from every teacher at every n.

    With ``people`` > 1 the n examples come from the teacher and ``people - 1`` other signers of the
    word drawn at random, in turn; "teacher" then means all of them and "unseen" everyone else.
    """
    from bench.baselines import signia_features
    from cloud_server.training.evaluate import shown_labels
    from shared.model.tflite import TFLiteRunner

    ds = load_dataset(data_dir / "landmarks" / MANY)
    sp = split(ds, list(held_out), seed)
    if base is None:
        from cloud_server.training.train import TrainConfig, train_bundle

        base = workdir / f"fewshot-base-{'-'.join(held_out)}-{seed}"
        started = time.perf_counter()
        train_bundle(sp.train, base, config=TrainConfig(seed=seed, refit=False), name="fewshot", version=str(seed))
        log(f"base model trained in {time.perf_counter() - started:.0f} s")
    manifest = open_bundle(base)
    reference = load_reference(base)
    runner = TFLiteRunner(base / TFLITE_FLOAT)
    labels = list(manifest.labels)
    hid = sp.hidden
    windows = example_windows(hid.X, hid.length, hid.fps, manifest.spec)
    from shared.contract.normalize import features_batch

    started = time.perf_counter()
    base_logits, emb = runner.logits_and_embeddings(features_batch(windows, manifest.spec))
    log(f"{len(windows)} hidden windows through the model in {time.perf_counter() - started:.1f} s")
    truth = hid.labels
    known_rows = np.isin(truth, labels) & (truth != manifest.no_sign_label)
    idle_rows = truth == manifest.no_sign_label
    y_known = np.array([labels.index(t) if t in labels else -1 for t in truth])
    no_sign = labels.index(manifest.no_sign_label) if manifest.no_sign_label in labels else None
    no_hand = np.array([not (np.any(w != 0, axis=1).mean() > 0.1) for w in windows])

    def answers(logits: np.ndarray, head: EnrolledHead | None = None) -> tuple[np.ndarray, np.ndarray]:
        """Top-1 and what a kiosk shows, with the thresholds of the bundle ``enroll`` would write."""
        z = logits / manifest.temperature
        p = np.exp(z - z.max(1, keepdims=True))
        p /= p.sum(1, keepdims=True)
        shipped = manifest if head is None else manifest_with(manifest, head, "bench", manifest.created, {})
        return p.argmax(1), shown_labels(p, shipped.thresholds(), no_sign, no_hand)

    top0, shown0 = answers(base_logits)
    before = {
        "known_accuracy": float((top0[known_rows] == y_known[known_rows]).mean()),
        "false_label_rate": float((shown0[idle_rows] != -1).mean()) if idle_rows.any() else None,
    }
    log(f"before: {before}")
    train_windows = example_windows(sp.train.X, sp.train.length, sp.train.fps, manifest.spec)
    hid_feats = signia_features(np.stack(windows))
    known_distances = squared_distances(hid_feats, class_means(signia_features(np.stack(train_windows)), sp.train.y))
    rng = np.random.default_rng(seed)
    rows = []
    for word in sp.held_out:
        signers = sorted(set(hid.session[truth == word].tolist()))
        for teacher in signers:
            group = [teacher]
            if people > 1:  # (no draw for one person: the same examples as runs before --people)
                group += rng.permutation([s for s in signers if s != teacher])[: people - 1].tolist()
            others = (truth == word) & ~np.isin(hid.session, group)
            if not others.any():  # everyone who signed the word teaches it: nobody left to judge it on
                continue
            orders = [rng.permutation(np.flatnonzero((truth == word) & (hid.session == s))) for s in group]
            for n in shots:
                chosen = choose_examples(orders, n)
                if chosen is None:
                    continue
                ex, rest = chosen
                try:  # an example without a hand is refused for every method alike
                    check_examples([word], {word: [windows[i] for i in ex]}, min_examples=1)
                    refused = None
                except EnrollError as err:
                    refused = str(err)
                for method in METHODS:
                    row = {"word": word, "teacher": teacher, "people": group, "n": n, "method": method}
                    row["refused"] = refused
                    if refused:
                        rows.append(row)
                        continue
                    t0 = time.perf_counter()
                    if method == "nearest_mean":
                        pred = nearest_mean(known_distances, hid_feats[ex].mean(axis=0), hid_feats)
                        new_index = len(sp.train.classes)
                        known_y = np.array([sp.train.classes.index(t) if t in sp.train.classes else -1 for t in truth])
                        row["teacher_accuracy"] = float((pred[rest] == new_index).mean())
                        row["unseen_accuracy"] = float((pred[others] == new_index).mean())
                        row["known_accuracy"] = float((pred[known_rows] == known_y[known_rows]).mean())
                        rows.append(row)
                        continue
                    try:
                        if method == "head":
                            enrolment = enrol(
                                manifest,
                                reference,
                                None,
                                runner,
                                {word: [windows[i] for i in ex]},
                                min_examples=1,
                                similar_share=1.01,
                                named_limit=1.01,
                                no_sign_limit=1.01,  # every method judged on the same example sets
                                augment=augment,
                            )
                            head = enrolment.head
                            row["closest"] = _closest(enrolment.resemblances[0])
                        elif method == "head_no_copies":
                            head = fit_head(reference, [word], emb[ex], base_logits[ex], np.zeros(len(ex), int))
                        else:
                            head = prototype_head(reference, [word], emb[ex], base_logits[ex], np.zeros(len(ex), int))
                    except EnrollError as err:
                        row["refused"] = str(err)
                        rows.append(row)
                        continue
                    row["seconds"] = time.perf_counter() - t0
                    top, shown = answers(np.concatenate([base_logits, head.logits(emb)], axis=1), head)
                    new_index = len(labels)
                    row["teacher_accuracy"] = float((top[rest] == new_index).mean())
                    row["unseen_accuracy"] = float((top[others] == new_index).mean())
                    row["teacher_shown"] = float((shown[rest] == new_index).mean())
                    row["unseen_shown"] = float((shown[others] == new_index).mean())
                    row["known_accuracy"] = float((top[known_rows] == y_known[known_rows]).mean())
                    row["false_label_rate"] = float((shown[idle_rows] != -1).mean()) if idle_rows.any() else None
                    rows.append(row)
            log(f"{word} / {teacher}: done")
    # Known signs of the hidden people enrolled under another name: what the refusal must catch.
    duplicates = []
    for word in DUPLICATES:
        for person in sorted(set(hid.session[truth == word].tolist())):
            mine = rng.permutation(np.flatnonzero((truth == word) & (hid.session == person)))[:5]
            if len(mine) < 5:
                continue
            copy = {f"copy-{word}": [windows[i] for i in mine]}
            try:
                enrolment = enrol(
                    manifest,
                    reference,
                    None,
                    _Cached(base_logits, emb, mine),
                    copy,
                    similar_share=1.01,
                    named_limit=1.01,
                    no_sign_limit=1.01,
                )
            except EnrollError as err:  # an example without a hand: refused before any resemblance
                duplicates.append({"word": word, "person": person, "refused": str(err)})
                continue
            duplicates.append({"word": word, "person": person, "closest": _closest(enrolment.resemblances[0])})
    return {
        "base": str(base),
        "labels": labels,
        "held_out": sp.held_out,
        "people": people,
        "before": before,
        "rows": rows,
        "duplicates": duplicates,
    }


def _closest(r) -> dict:
    return {
        "known": r.known,
        "named": r.named,
        "taken": r.taken,
        "kept": r.kept,
        "cosine": r.cosine,
        "refused": r.too_close(),
    }


class _Cached:
    """The model's outputs for windows already run (the bench runs every hidden window once)."""

    def __init__(self, logits: np.ndarray, emb: np.ndarray, rows: np.ndarray) -> None:
        self._logits, self._emb = logits[rows], emb[rows]

    def logits(self, features: np.ndarray) -> np.ndarray:
        return self._logits

    def logits_and_embeddings(self, features: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        return self._logits, self._emb


def summary(results: dict) -> dict:
    """Mean of each measure per method and n (refusals counted apart)."""
    out: dict = {}
    for row in results["rows"]:
        key = f"{row['method']} n={row['n']}"
        cell = out.setdefault(key, {"runs": 0, "refused": 0, "values": {}})
        cell["runs"] += 1
        if row["refused"]:
            cell["refused"] += 1
            continue
        for k in (*KEYS, "seconds"):
            if row.get(k) is not None:
                cell["values"].setdefault(k, []).append(row[k])
    for cell in out.values():
        cell["means"] = {k: float(np.mean(v)) for k, v in cell.pop("values").items()}
    return out


def markdown(results: dict) -> str:
    """The table for docs/benchmarks.md."""
    b = results["before"]
    lines = [
        f"Known signs before: top-1 {b['known_accuracy']:.3f}, false_label_rate {b['false_label_rate']:.3f}",
        f"Examples of each new sign from {results.get('people', 1)} person(s) (the teacher first)",
        "",
        "| method | n | runs (refused) | teacher | unseen people | teacher shown | unseen shown | known signs "
        "| false labels |",
        "| --- | --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    for key, cell in summary(results).items():
        method, n = key.split(" n=")
        m = cell["means"]
        values = " | ".join(f"{m[k]:.3f}" if k in m else "-" for k in KEYS)
        lines.append(f"| {method} | {n} | {cell['runs']} ({cell['refused']}) | {values} |")
    return "\n".join(lines)


def main(args) -> None:
    """``signstream bench fewshot``."""
    data_dir = Path(args.data_dir or os.environ.get("SIGN_DATA_DIR", ""))
    if not (data_dir / "landmarks" / MANY).is_file():
        raise SignstreamError(f"bench fewshot needs landmarks/{MANY}: set SIGN_DATA_DIR or pass --data-dir")
    workdir = Path(args.workdir)
    workdir.mkdir(parents=True, exist_ok=True)
    unknown = sorted(set(args.held_out) - set(WORDS) | ({"idle"} & set(args.held_out)))
    if unknown:
        raise SignstreamError(f"--held-out: {', '.join(unknown)} not among the words ({', '.join(WORDS[:-1])})")
    results = run_bench(
        data_dir, workdir, args.base, tuple(args.shots), args.seed, tuple(args.held_out), people=args.people
    )
    name = "fewshot.json" if args.people == 1 else f"fewshot-people{args.people}.json"
    (workdir / name).write_text(json.dumps(results, indent=1))
    print(markdown(results))
