"""``signstream bench accuracy``: our training against the two reference recipes (Signia's forest,
Helen's LSTM), on people and sessions the models never saw, each figure the mean over seeds.

Splits: ASL signer -> other signer in both directions on their shared classes; KSL with each session
held out in turn; and the 98-signer ASL file (``many``) with a fifth of its signers held out, on
hello / thanks / iloveyou and on the word vocabulary with the no-sign class ``idle``; that held-out
fifth is drawn again for each seed. For our model it also reports the int8 TFLite accuracy, bundle
size, training time and what a kiosk would show (shown accuracy, false labels on idle, worst-decile
signer). Needs SIGN_DATA_DIR (../shared/data).
"""

from __future__ import annotations

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
BLOCKS = "_blocks"  # per person and sign: kept in the runs, not averaged
CONFUSION = "_confusion"  # our runs' (labels, matrix): summed over seeds into a PNG, not a mean


def held_out_signers(sessions: np.ndarray, fraction: float = HELD_OUT_SIGNERS, seed: int = 0) -> np.ndarray:
    """(N,) bool: the sequences of a seeded fifth of the signers (sessions), the same for every method."""
    names = np.unique(sessions)
    rng = np.random.default_rng(seed)
    chosen = rng.choice(names, size=max(1, round(len(names) * fraction)), replace=False)
    return np.isin(sessions, chosen)


@dataclass
class Split:
    """A named evaluation split. ``people``, when set, draws a new held-out fifth of the signers for
    each seed (seed -> (train, test)); ``train``/``test`` are then seed 0's."""

    name: str
    train: Dataset
    test: Dataset
    people: Callable[[int], tuple[Dataset, Dataset]] | None = None

    def for_seed(self, seed: int) -> Split:
        if self.people is None:
            return self
        train, test = self.people(seed)
        return Split(self.name, train, test)


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
            draw = _by_signers(many.select_classes(classes))
            out.append(Split(f"ASL 98 signers, {name}", *draw(0), people=draw))
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
    kiosk = {k: m[k] for k in ("shown_accuracy", "false_label_rate", "worst_decile_session_accuracy")}
    kiosk = {k: v for k, v in kiosk.items() if v is not None}
    return {"accuracy": m["accuracy"], "macro_f1": m["macro_f1"], "int8_accuracy": m8["accuracy"],
            "train_seconds": seconds, "bundle_bytes": size, "threshold": manifest.threshold,
            "left_out_sequences": sum(b["sequences"] for b in manifest.metrics.get("left_out", [])), **kiosk,
            CONFUSION: (manifest.labels, confusion),
            BLOCKS: blocks(pred, y, split.test.session[keep], manifest.labels)}  # fmt: skip


def _baseline(fn: Callable) -> Callable[[Split, int, Path], dict]:
    def run(split: Split, seed: int, workdir: Path) -> dict:
        from sklearn.metrics import f1_score

        pred = fn(split.train.X, split.train.y, split.test.X, seed=seed)
        y = split.test.y
        out = {"accuracy": float((pred == y).mean()), "macro_f1": float(f1_score(y, pred, average="macro"))}
        out[BLOCKS] = blocks(pred, y, split.test.session, list(split.test.classes))
        if "idle" in split.test.classes:  # no threshold in the reference recipes: the top-1 is shown unless idle
            idle = split.test.classes.index("idle")
            out["shown_accuracy"] = float((pred == y)[y != idle].mean())
            if (y == idle).any():  # held-out people without idle: no false-label rate (not NaN)
                out["false_label_rate"] = float((pred != idle)[y == idle].mean())
        return out

    return run


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
    """The results as a markdown table (means over seeds); kiosk columns where the split has them."""
    methods = list(next(iter(results["splits"].values())).keys())
    extra = [("shown_accuracy", "ours shown acc"), ("false_label_rate", "ours false labels"),
             ("worst_decile_session_accuracy", "ours worst decile"), ("int8_accuracy", "ours int8"),
             ("train_seconds", "ours train s")]  # fmt: skip
    head = "| split | " + " | ".join(f"{m} acc" for m in methods) + " | ours - best reference recipe | "
    head += " | ".join(title for _, title in extra) + " | missed by every method |"
    lines = [head, "|" + " --- |" * (len(methods) + 3 + len(extra))]
    for name, per in results["splits"].items():
        best_seed = max((per[m]["accuracy"] for m in methods if m != "ours"), default=float("nan"))
        ours = per.get("ours", {})
        cells = [f"{per[m]['accuracy']:.3f}" for m in methods]
        cells.append(f"{ours.get('accuracy', float('nan')) - best_seed:+.3f}")
        for key, _ in extra:
            value = ours.get(key)
            cells.append("-" if value is None else f"{value:.0f}" if key == "train_seconds" else f"{value:.3f}")
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
