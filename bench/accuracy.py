"""``signstream bench accuracy``: our training against the two reference recipes (Signia's forest,
Helen's LSTM), on people and sessions the models never saw, each figure the mean over seeds.

Splits: ASL signer -> other signer in both directions on their shared classes; KSL with each session
held out in turn; and the 98-signer ASL file (``many``) with a fifth of its signers held out, on
hello / thanks / iloveyou and on the word vocabulary with the no-sign class ``idle``; that held-out
fifth is drawn again for each seed. For our model it also reports the int8 TFLite accuracy, bundle
size, training time and what a kiosk would show (shown accuracy, false labels on idle, worst-decile
signer). On the ``many`` splits every recipe is also scored on the held-out people as a reviewer would
leave them (``audited_*``): the split's people audited by ``signstream audit`` and the blocks whose
recordings are not their label (``REVIEWER_DROPS``) removed. Needs SIGN_DATA_DIR (../shared/data).
"""

from __future__ import annotations

import functools
import json
import os
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from shared.datasets.dataset import Dataset, load_dataset
from shared.model.enroll import with_enrolled

ASL_SHARED = ["hello", "help", "iloveyou", "no", "please", "thanks", "yes"]
MANY_SIGNERS = "asl_many_signers.npz"
GREETINGS = ["hello", "thanks", "iloveyou"]
WORDS = ["hello", "thanks", "iloveyou", "no", "yes", "please", "good", "goodbye", "help", "i", "you", "welcome",
         "sorry", "idle"]  # fmt: skip
HELD_OUT_SIGNERS = 0.2
# The audit's kinds a reviewer drops: the recording is not its label (made like another sign, swapped
# with another of the person's blocks, a handshape unlike everybody's) or holds no sign to judge (no
# hand, a hand in too few frames, a frozen hand, too short). Kept: duplicates (the label is true, the
# clip is there twice) and a person apart (the other hand, a mirrored camera: people a kiosk meets).
REVIEWER_DROPS = frozenset({"another_sign", "swapped", "handshape", "no_hand", "few_hands", "frozen", "too_short"})
AUDITED = "audited_"  # prefix of the scores on the held-out people a reviewer keeps
BLOCKS = "_blocks"  # per person and sign: kept in the runs, not averaged
CONFUSION = "_confusion"  # our runs' (labels, matrix): summed over seeds into a PNG, not a mean


def held_out_signers(sessions: np.ndarray, fraction: float = HELD_OUT_SIGNERS, seed: int = 0) -> np.ndarray:
    """(N,) bool: the sequences of a seeded fifth of the signers (sessions), the same for every method."""
    names = np.unique(sessions)
    rng = np.random.default_rng(seed)
    chosen = rng.choice(names, size=max(1, round(len(names) * fraction)), replace=False)
    return np.isin(sessions, chosen)


def reviewed(ds: Dataset, flagged: list[dict]) -> np.ndarray:
    """(N,) bool: the sequences a reviewer keeps, given the audit's ``flagged`` blocks (dicts with
    ``session``, ``class`` and ``kinds``): a block goes when one of its kinds is in REVIEWER_DROPS."""
    drop = {(f["session"], f["class"]) for f in flagged if REVIEWER_DROPS & set(f["kinds"])}
    return np.array([(str(s), str(c)) not in drop for s, c in zip(ds.session, ds.labels, strict=True)], bool)


def _reviewer(ds: Dataset) -> Callable[[Dataset], np.ndarray]:
    """test -> what a reviewer keeps of it, from one audit of ``ds`` (every person of the split, so each
    block is judged by models that never saw its person), run the first time it is asked for."""

    @functools.cache
    def flagged() -> list[dict]:
        from cloud_server.training.audit import audit

        return audit(ds)["flagged"]

    return lambda test: reviewed(test, flagged())


@dataclass
class Split:
    """A named evaluation split. ``people``, when set, draws a new held-out fifth of the signers for
    each seed (seed -> (train, test)); ``train``/``test`` are then seed 0's. ``reviewer``, when set,
    says which test sequences a reviewer keeps after the audit (the audited scores)."""

    name: str
    train: Dataset
    test: Dataset
    people: Callable[[int], tuple[Dataset, Dataset]] | None = None
    reviewer: Callable[[Dataset], np.ndarray] | None = None

    def for_seed(self, seed: int) -> Split:
        if self.people is None:
            return self
        train, test = self.people(seed)
        return Split(self.name, train, test, reviewer=self.reviewer)


def _by_signers(ds: Dataset) -> Callable[[int], tuple[Dataset, Dataset]]:
    def draw(seed: int) -> tuple[Dataset, Dataset]:
        test = held_out_signers(ds.session, seed=seed)
        return ds.subset(~test), ds.subset(test)

    return draw


def splits(data_dir: Path, which: set[str]) -> list[Split]:
    """The evaluation splits, by name: asl (two directions), ksl (one per session), many (a new
    fifth of the 98 signers held out for each seed, the same people for every method)."""
    out: list[Split] = []
    lm = data_dir / "landmarks"
    if "asl" in which:
        a = load_dataset(lm / "asl_laya303.npz").select_classes(ASL_SHARED)
        b = load_dataset(lm / "asl_ayaanniaz.npz").select_classes(ASL_SHARED)
        out += [Split("ASL laya303 -> ayaanniaz", a, b), Split("ASL ayaanniaz -> laya303", b, a)]
    if "ksl" in which:
        k = load_dataset(lm / "ksl_yunlisa96.npz")
        for s in sorted(set(k.session)):
            out.append(Split(f"KSL hold out {s}", k.subset(k.session != s), k.subset(k.session == s)))
    if "many" in which:
        many = load_dataset(lm / MANY_SIGNERS)
        for name, classes in (("hello/thanks/iloveyou", GREETINGS), ("words + idle", WORDS)):
            chosen = many.select_classes(classes)
            draw = _by_signers(chosen)
            out.append(Split(f"ASL 98 signers, {name}", *draw(0), people=draw, reviewer=_reviewer(chosen)))
    return out


def blocks(pred: np.ndarray, y: np.ndarray, sessions: np.ndarray, labels: list[str]) -> dict[str, list]:
    """{"session/label": [sequences, top-1 accuracy]} for every person's recordings of every sign."""
    out = {}
    for s in np.unique(sessions):
        for c in np.unique(y[sessions == s]):
            m = (sessions == s) & (y == c)
            out[f"{s}/{labels[c]}"] = [int(m.sum()), float((pred[m] == c).mean())]
    return out


def agreed_misses(per_method: list[dict[str, list]], no_sign: str | None = "idle") -> float:
    """Share of the sign sequences in blocks that every method names right under half the time: what
    no recipe learns from the training people (another form of the sign, or mislabelled)."""
    total = sum(n for key, (n, _) in per_method[0].items() if key.split("/")[-1] != no_sign)
    missed = sum(
        n
        for key, (n, _) in per_method[0].items()
        if key.split("/")[-1] != no_sign and all(m[key][1] < 0.5 for m in per_method)
    )
    return missed / total if total else 0.0


def _ours(split: Split, seed: int, workdir: Path) -> dict:
    from cloud_server.training.evaluate import clip_probabilities, evaluate, match_classes, runner_for
    from cloud_server.training.train import TrainConfig, train_bundle

    out = workdir / f"ours-{abs(hash(split.name))}-{seed}"
    t0 = time.perf_counter()
    manifest = train_bundle(split.train, out, config=TrainConfig(seed=seed), name="bench", version=str(seed))
    seconds = time.perf_counter() - t0
    m, confusion = evaluate(out, split.test, "savedmodel")
    m8, _ = evaluate(out, split.test, "int8")
    keep, y = match_classes(manifest, split.test)
    pred = clip_probabilities(
        with_enrolled(runner_for(out, "savedmodel"), out, manifest), manifest, split.test, np.flatnonzero(keep)
    ).argmax(1)
    size = sum(e.size for e in manifest.files.values())
    audited = {}
    if split.reviewer is not None:
        kept = split.reviewer(split.test)
        a, _ = evaluate(out, split.test.subset(kept), "savedmodel")
        audited = {f"{AUDITED}{k}": v for k, v in _kiosk(a).items()}
        audited[f"{AUDITED}sequences"] = int(kept.sum())
    pooled = (manifest.metrics.get("threshold_choice") or {}).get("pooled")  # the old rule's, for comparison
    extra = {"pooled_threshold": pooled} if pooled is not None else {}
    return {"macro_f1": m["macro_f1"], "int8_accuracy": m8["accuracy"],
            "train_seconds": seconds, "bundle_bytes": size, "threshold": manifest.threshold,
            "left_out_sequences": sum(b["sequences"] for b in manifest.metrics.get("left_out", [])),
            **_kiosk(m), **audited, **extra, CONFUSION: (manifest.labels, confusion),
            BLOCKS: blocks(pred, y, split.test.session[keep], manifest.labels)}  # fmt: skip


def _kiosk(m: dict) -> dict:
    """Accuracy and what a kiosk shows, from evaluate's metrics; those it could not measure left out."""
    keys = ("accuracy", "shown_accuracy", "false_label_rate", "worst_decile_session_accuracy")
    return {k: m[k] for k in keys if m.get(k) is not None}


def _baseline(fn: Callable) -> Callable[[Split, int, Path], dict]:
    def run(split: Split, seed: int, workdir: Path) -> dict:
        from sklearn.metrics import f1_score

        pred = fn(split.train.X, split.train.y, split.test.X, seed=seed)
        y = split.test.y
        idle = list(split.test.classes).index("idle") if "idle" in split.test.classes else None
        out = {"macro_f1": float(f1_score(y, pred, average="macro")), **_shown(pred, y, idle)}
        if split.reviewer is not None:
            kept = split.reviewer(split.test)
            out |= {f"{AUDITED}{k}": v for k, v in _shown(pred[kept], y[kept], idle).items()}
            out[f"{AUDITED}sequences"] = int(kept.sum())
        out[BLOCKS] = blocks(pred, y, split.test.session, list(split.test.classes))
        return out

    return run


def _shown(pred: np.ndarray, y: np.ndarray, idle: int | None) -> dict:
    """Accuracy, and with a no-sign class what a kiosk shows: the reference recipes have no threshold,
    so their top-1 is shown unless it is idle. No false-label rate without idle windows (not NaN)."""
    out = {"accuracy": float((pred == y).mean())}
    if idle is not None:
        out["shown_accuracy"] = float((pred == y)[y != idle].mean())
        if (y == idle).any():
            out["false_label_rate"] = float((pred != idle)[y == idle].mean())
    return out


def run_bench(
    data_dir: Path, seeds: list[int], which: set[str], methods: list[str], say=print, report: Path | None = None
) -> dict:
    """Run every method on every split and seed; returns {split: {method: {metric: mean}}} plus runs.

    With ``report``, our model's confusion matrix on each split, summed over the seeds, is written there
    as ``<split>-confusion.png``.
    """
    from bench.baselines import helen_predict, signia_predict

    runners = {"ours": _ours, "signia": _baseline(signia_predict), "helen": _baseline(helen_predict)}
    results: dict = {"seeds": seeds, "splits": {}, "runs": [], "agreed_misses": {}}
    summed: dict[str, tuple[list[str], np.ndarray]] = {}
    with tempfile.TemporaryDirectory(prefix="signstream-bench-") as tmp:
        for split in splits(data_dir, which):
            per_method: dict = {}
            for method in methods:
                runs = []
                for seed in seeds:
                    r = runners[method](split.for_seed(seed), seed, Path(tmp))
                    if CONFUSION in r:
                        labels, matrix = r.pop(CONFUSION)
                        summed[split.name] = (labels, summed.get(split.name, (labels, 0))[1] + matrix)
                    results["runs"].append({"split": split.name, "method": method, "seed": seed, **r})
                    r = {k: v for k, v in r.items() if k != BLOCKS}
                    runs.append(r)
                    say(f"{split.name:<28} {method:<7} seed {seed}: accuracy {r['accuracy']:.3f}")
                keys = dict.fromkeys(k for r in runs for k in r)  # a seed without idle has no false_label_rate
                per_method[method] = {k: float(np.mean([r[k] for r in runs if k in r])) for k in keys}
            results["splits"][split.name] = per_method
            mine = [r for r in results["runs"] if r["split"] == split.name]
            results["agreed_misses"][split.name] = float(
                np.mean([agreed_misses([r[BLOCKS] for r in mine if r["seed"] == seed]) for seed in seeds])
            )
    if report is not None:
        from cloud_server.training.evaluate import plot_confusion

        for name, (labels, matrix) in summed.items():
            slug = "".join(c if c.isalnum() else "-" for c in name.lower()).strip("-")
            title = f"{name}: held-out signers, seeds {','.join(map(str, seeds))}"
            plot_confusion(matrix, labels, report / f"{slug}-confusion.png", title)
    return results


def markdown(results: dict) -> str:
    """The results as a markdown table (means over seeds); kiosk columns where the split has them, and
    where a split was audited, an audited column beside each raw one (``raw`` / ``audited``)."""
    methods = list(next(iter(results["splits"].values())).keys())
    audited = any(AUDITED + "accuracy" in per.get(m, {}) for per in results["splits"].values() for m in methods)
    variants = [("", "")] + ([(AUDITED, ", audited")] if audited else [])
    extra = [("shown_accuracy", "ours shown acc"), ("false_label_rate", "ours false labels"),
             ("worst_decile_session_accuracy", "ours worst decile")]  # fmt: skip
    speed = [("int8_accuracy", "ours int8"), ("train_seconds", "ours train s")]
    titles = [f"{m} acc{v}" for m in methods for _, v in variants]
    titles += [f"ours - best reference recipe{v}" for _, v in variants]
    titles += [f"{t}{v}" for _, t in extra for _, v in variants] + [t for _, t in speed]
    lines = ["| split | " + " | ".join(titles) + " | missed by every method |", "|" + " --- |" * (len(titles) + 2)]
    for name, per in results["splits"].items():
        ours = per.get("ours", {})

        def cell(row: dict, key: str) -> str:
            value = row.get(key)
            return "-" if value is None else f"{value:.0f}" if key == "train_seconds" else f"{value:.3f}"

        cells = [cell(per[m], p + "accuracy") for m in methods for p, _ in variants]
        for p, _ in variants:
            scores = [per[m][p + "accuracy"] for m in methods if m != "ours" and p + "accuracy" in per[m]]
            best = max(scores, default=float("nan"))
            gain = ours.get(p + "accuracy", float("nan")) - best
            cells.append("-" if np.isnan(gain) else f"{gain:+.3f}")
        cells += [cell(ours, p + key) for key, _ in extra for p, _ in variants]
        cells += [cell(ours, key) for key, _ in speed]
        cells.append(f"{results.get('agreed_misses', {}).get(name, float('nan')):.3f}")
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def main(args) -> None:
    """Entry point for ``signstream bench accuracy``."""
    data = Path(args.data_dir or os.environ.get("SIGN_DATA_DIR", ""))
    if not (data / "landmarks").is_dir():
        from shared.app.errors import SignstreamError

        raise SignstreamError("bench accuracy needs the real data: set SIGN_DATA_DIR or pass --data-dir")
    results = run_bench(data, args.seeds, set(args.splits), args.methods, report=getattr(args, "report", None))
    table = markdown(results)
    print(table)
    if args.out:
        from shared.app.atomic import atomic_file

        with atomic_file(args.out, "w") as fh:
            json.dump({**results, "markdown": table}, fh, indent=1)
