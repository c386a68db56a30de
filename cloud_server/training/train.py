"""Train a sign classifier on landmark datasets and write a verified bundle."""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from cloud_server.training.model import ModelConfig, build_model
from cloud_server.training.noise import SuspectBlock, suspect_blocks
from cloud_server.training.split import check_split, holdout_sessions
from shared.app.atomic import atomic_dir
from shared.app.errors import DatasetError, SpecMismatchError
from shared.app.native_notices import import_quietly
from shared.contract.normalize import clip_windows, feature_dim, feature_mirror, features_batch
from shared.contract.spec import MAX_FPS, FeatureSpec
from shared.datasets.augment import augment
from shared.datasets.dataset import Dataset, load_many
from shared.datasets.review import Review, apply_review
from shared.model.bundle import Manifest, check_name, now_iso, write_manifest
from shared.model.calibration import (
    ThresholdChoice,
    choose_threshold,
    expected_calibration_error,
    fit_temperature,
    kiosk_threshold,
    softmax,
)
from shared.model.enroll import REFERENCE_PER_CLASS
from shared.model.predictor import NO_HAND_MAX_FRACTION, hand_fraction

log = logging.getLogger(__name__)

# Large datasets (the 98-signer file: 170-270 steps an epoch) train at least 20 epochs: 10 gave 0.852
# and 20 gave 0.862 on held-out people of the word vocabulary (worst tenth 0.583 -> 0.623), in about
# 6 min on 2 cores. Small ones get about `steps` optimiser steps, at most 80 epochs.
MIN_EPOCHS, MAX_EPOCHS = 20, 80


@dataclass
class TrainConfig:
    """Training hyper-parameters; the defaults are the ones measured in docs/training.md."""

    epochs: int | None = None  # None: about `steps` optimiser steps, MIN_EPOCHS..MAX_EPOCHS epochs
    steps: int = 1000
    batch_size: int = 32
    learning_rate: float = 2e-3
    val_fraction: float = 0.2
    seed: int = 0
    frames: int = 30
    normalization_version: int = FeatureSpec.model_fields["normalization_version"].default
    fps: float | None = None  # None: the dataset's frame rate where known, else 15
    model: ModelConfig = field(default_factory=ModelConfig)
    # 0: every sequence weighs the same; 1: classes balanced. Balanced weights made the rare words
    # (4-7 signers) pull common signs on held-out people: accuracy 0.810 -> 0.855 and 0.822 -> 0.830
    # on two folds of the word vocabulary at 0, macro F1 unchanged (docs/benchmarks.md).
    class_weight_power: float = 0.0
    # Label noise by person (cloud_server/training/noise.py): after this share of the epochs, a
    # person's recordings of a class the model names right under `suspect_below` of the time are left
    # out, in classes with at least `suspect_min_sessions` people. 0 turns it off.
    warmup_fraction: float = 0.4
    suspect_below: float = 0.5
    suspect_min_sessions: int = 8
    # After the temperature and threshold are chosen on the validation people, train the same recipe
    # again on every person (validation included) and ship that model, calibrated by the first: on
    # held-out people of the word vocabulary, 0.845 -> 0.862, 0.834 -> 0.840, 0.777 -> 0.785 (three
    # seeds), for twice the training time (docs/benchmarks.md).
    refit: bool = True


def threshold_basis(val_windows: int, no_sign_label: str | None) -> str:
    """How the kiosk threshold was chosen, logged as a warning when it says less than it seems.

    ``held_out``: on held-out windows, no-sign ones included. ``signs_only``: on held-out windows of
    signs only, trading wrong labels against missed ones; how often a label shows while nobody signs
    was not measured. ``default``: nothing was held out, so the accuracy is unknown and the
    threshold is the default 0.
    """
    if val_windows == 0:
        log.warning(
            "no validation people (no held-out window with a hand in view): the accuracy on new people is unknown "
            "and the threshold is the default 0.00; record more people or sessions"
        )
        return "default"
    if no_sign_label is None:
        log.warning(
            "no no-sign class in the data: the threshold was chosen on signs only; how often a label shows while "
            "nobody signs is unknown (record an 'idle' class)"
        )
        return "signs_only"
    return "held_out"


def plot_curves(history: dict[str, list[float]], path: Path) -> None:
    """Loss and accuracy per epoch, training and validation, as a PNG."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 2, figsize=(9, 3.5))
    for ax, key in zip(axes, ("loss", "accuracy"), strict=True):
        for prefix, style in (("", "-"), ("val_", "--")):
            if prefix + key in history:
                ax.plot(range(1, len(history[prefix + key]) + 1), history[prefix + key], style, label=prefix + key)
        ax.set_xlabel("epoch")
        ax.set_title(key)
        ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def _class_weights(y: np.ndarray, n: int, power: float = 1.0) -> dict[int, float]:
    """Per-class loss weights: ``power`` 1 balances the classes, 0 weighs every sequence alike."""
    counts = np.bincount(y, minlength=n).astype(float)
    counts[counts == 0] = 1.0
    w = (len(y) / (n * counts)) ** power
    return {i: float(w[i]) for i in range(n)}


def _has_people_to_judge(ds: Dataset, min_sessions: int) -> bool:
    """Whether some class has enough people (sessions) for the label-noise check to judge a block."""
    return any(len(np.unique(ds.session[ds.y == c])) >= min_sessions for c in np.unique(ds.y))


def _predict(model, x: np.ndarray, batch: int = 512) -> np.ndarray:
    """Top-1 of the model (inference mode) on (N, frames, F) features, in batches."""
    out = [model(x[i : i + batch], training=False).numpy().argmax(1) for i in range(0, len(x), batch)]
    return np.concatenate(out) if out else np.zeros(0, np.int64)


def _make_sequence(ds: Dataset, spec: FeatureSpec, batch: int, seed: int):
    import keras

    class Augmented(keras.utils.PyDataset):
        """Batches of freshly augmented, normalised windows; a new shuffle every epoch."""

        def __init__(self) -> None:
            super().__init__()
            self.rng = np.random.default_rng(seed)
            self.order = self.rng.permutation(len(ds))

        def __len__(self) -> int:
            return int(np.ceil(len(ds) / batch))

        def __getitem__(self, i: int):
            idx = self.order[i * batch : (i + 1) * batch]
            raws = [augment(crop(ds, j, spec, self.rng), self.rng) for j in idx]
            return features_batch(raws, spec), ds.y[idx]

        def on_epoch_end(self) -> None:
            self.order = self.rng.permutation(len(ds))

    return Augmented()


def crop(ds: Dataset, i: int, spec: FeatureSpec, rng: np.random.Generator | None = None) -> np.ndarray:
    """Sequence ``i`` at the spec's frame rate; a recording longer than a window is cut to one
    window, at random with ``rng``, else its middle."""
    windows = clip_windows(ds.X[i, : ds.length[i]], ds.fps, spec)
    if len(windows) == 1:
        return windows[0]
    return windows[rng.integers(len(windows))] if rng is not None else windows[len(windows) // 2]


def plain_features(ds: Dataset, spec: FeatureSpec) -> np.ndarray:
    """Normalised features of every sequence (one window each), unaugmented: (N, frames, F)."""
    return features_batch([crop(ds, i, spec) for i in range(len(ds))], spec)


def _fit(ds: Dataset, spec: FeatureSpec, config: TrainConfig, n: int, epochs: int, validation, callbacks):
    """A new model trained on ``ds`` for ``epochs``: (model, history, blocks left out as label noise).

    After ``warmup_fraction`` of the epochs, a person's block of a class the model still names wrong
    is left out (cloud_server/training/noise.py) and training goes on without it.
    """
    import keras

    model = build_model(spec.frames, feature_dim(spec), n, config.model, feature_mirror(spec))
    steps = int(np.ceil(len(ds) / config.batch_size)) * epochs
    schedule = keras.optimizers.schedules.CosineDecay(config.learning_rate, max(steps, 1))
    model.compile(
        optimizer=keras.optimizers.AdamW(schedule, weight_decay=1e-4),
        loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
        metrics=["accuracy"],
    )
    fit = {
        "validation_data": validation,
        "class_weight": _class_weights(ds.y, n, config.class_weight_power),
        "callbacks": callbacks,
        "verbose": 0,
    }
    warm = round(epochs * config.warmup_fraction)
    history: dict[str, list[float]] = {}
    left_out: list[SuspectBlock] = []
    kept = ds
    if 0 < warm < epochs and _has_people_to_judge(ds, config.suspect_min_sessions):
        first = model.fit(_make_sequence(ds, spec, config.batch_size, config.seed), epochs=warm, **fit)
        history = dict(first.history)
        pred = _predict(model, plain_features(ds, spec))
        keep, left_out = suspect_blocks(
            pred, ds.y, ds.session, list(ds.classes), config.suspect_below, config.suspect_min_sessions
        )
        for block in left_out:
            log.warning("%s", block.describe())
        kept = ds.subset(keep)
    rest = model.fit(
        _make_sequence(kept, spec, config.batch_size, config.seed + 1 if history else config.seed),
        epochs=epochs,
        initial_epoch=warm if history else 0,
        **fit,
    )
    for key, values in rest.history.items():
        history[key] = history.get(key, []) + list(values)
    return model, history, left_out


def prepare_data(data: list[str | Path] | Dataset, classes: list[str] | None, review: Review | None = None) -> Dataset:
    """The sequences ``train`` learns from: the files merged, a review's decisions applied, the classes chosen."""
    ds = data if isinstance(data, Dataset) else load_many(list(data))
    if review is not None:
        ds = apply_review(ds, review)
    return ds.select_classes(classes) if classes else ds


def _left_out_report(ds: Dataset, left_out: list[SuspectBlock]) -> list[dict]:
    """Each block training left out, with the audit's evidence (the handshape's where it differs)."""
    from cloud_server.training.audit import handshape_evidence

    out = []
    for block in left_out:
        row = block.evidence()
        shape = handshape_evidence(ds, block.session, block.label)
        if shape:
            row["kinds"].append("handshape")
            row["evidence"]["handshape"] = shape
        out.append(row)
    return out


def train_bundle(
    data: list[str | Path] | Dataset,
    out: str | Path,
    classes: list[str] | None = None,
    config: TrainConfig | None = None,
    name: str = "signs",
    version: str | None = None,
    progress: Callable[[int, int, dict], None] | None = None,
    no_sign_label: str | None = "idle",
    review: Review | None = None,
) -> Manifest:
    """Train on ``data`` and write the complete bundle to ``out`` (which must not exist).

    Args:
        data: dataset files, merged (sessions kept apart by file), or a loaded Dataset.
        classes: train on these classes only, in this order (default: all).
        progress: called after every epoch with (epoch, epochs, logs).
        no_sign_label: the class meaning nobody signs (recorded in the manifest when the data has it).
        review: decisions (drop, relabel) applied to the loaded data, never to its files; the manifest's
            ``metrics.review`` names the file and its sha256.
    """
    config = config or TrainConfig()
    check_name(name, "model name")  # a bad name or version must fail before the training, not after it
    if version is not None:
        check_name(version, "model version")
    if config.fps is not None and not 0 < config.fps <= MAX_FPS:
        raise SpecMismatchError(f"fps {config.fps} must be greater than 0 and at most {MAX_FPS:g}")
    out = Path(out)
    if out.exists():
        raise FileExistsError(f"{out} already exists; train never overwrites a bundle")
    ds = prepare_data(data, classes, review)
    if len(ds.classes) < 2:
        raise DatasetError("training needs at least two classes")
    spec = FeatureSpec(
        frames=config.frames, fps=config.fps or ds.fps or 15.0, normalization_version=config.normalization_version
    )
    train_mask, val_mask = holdout_sessions(ds, config.val_fraction, config.seed)
    for warning in check_split(ds, train_mask, val_mask):  # a refused split fails here, before TensorFlow loads
        log.warning("%s", warning)
    import_quietly("tensorflow")  # its start-up notices kept off stderr
    import keras
    import tensorflow as tf

    from cloud_server.training.export import (
        agreement,
        export_saved_model,
        export_tflite,
        reference_rows,
        write_enroll_reference,
    )

    keras.utils.set_random_seed(config.seed)
    train, val = ds.subset(train_mask), ds.subset(val_mask)
    n = len(ds.classes)
    steps_per_epoch = int(np.ceil(len(train) / config.batch_size))
    epochs = config.epochs or int(np.clip(round(config.steps / steps_per_epoch), MIN_EPOCHS, MAX_EPOCHS))
    refit = config.refit and len(val) > 0
    x_val = plain_features(val, spec)

    class Progress(keras.callbacks.Callback):
        def __init__(self, before: int, total: int) -> None:
            super().__init__()
            self.before, self.total = before, total

        def on_epoch_end(self, epoch, logs=None):
            if progress:
                progress(self.before + epoch + 1, self.total, dict(logs or {}))

    total = epochs * (2 if refit else 1)
    with atomic_dir(out) as tmp:  # everything, logs included, appears at once or not at all
        report = tmp / "report"
        report.mkdir()
        tensorboard = keras.callbacks.TensorBoard(str(report / "tensorboard"), write_graph=False, profile_batch=0)
        model, history, left_out = _fit(
            train, spec, config, n, epochs, (x_val, val.y) if len(val) else None, [Progress(0, total), tensorboard]
        )
        val_logits = model(x_val, training=False).numpy() if len(val) else np.zeros((0, n))
        # With no validation error the NLL keeps falling as the temperature drops, so a fit would only
        # return the search's lower bound and make the model overconfident on new sessions: keep 1.
        separable = len(val) > 0 and bool((val_logits.argmax(1) == val.y).all())
        temperature = 1.0 if separable else fit_temperature(val_logits, val.y)
        val_probs = softmax(val_logits, temperature)
        no_sign = list(ds.classes).index(no_sign_label) if no_sign_label in ds.classes else None
        answered = np.array([hand_fraction(val.X[i, : val.length[i]]) > NO_HAND_MAX_FRACTION for i in range(len(val))])
        choice = (
            choose_threshold(val_probs, val.y, val.session, no_sign, ~answered, seed=config.seed)
            if answered.any()
            else ThresholdChoice(0.0, "default: nothing held out", 0, 0, {})
        )
        if refit:  # the calibration above stays: it was measured on people the first model never saw
            model, refit_history, left_out = _fit(ds, spec, config, n, epochs, None, [Progress(epochs, total)])
            history.update({f"refit_{k}": v for k, v in refit_history.items()})
        metrics = {
            "val_accuracy": float((val_probs.argmax(1) == val.y).mean()) if len(val) else None,
            "val_ece": expected_calibration_error(val_probs, val.y) if len(val) else None,
            "val_sequences": len(val),
            "train_sequences": len(ds) if refit else len(train),
            "refit": refit,
            "left_out": _left_out_report(ds, left_out),
            "left_out_policy": "label noise by person (noise.py)" if config.warmup_fraction > 0 else "nothing left out",
            "review": review.describe(classes) if review else None,
            "val_sessions": sorted(set(val.session.tolist())),
            "epochs": epochs,
            "threshold_basis": threshold_basis(int(answered.sum()), no_sign_label if no_sign is not None else None),
            "threshold_choice": {k: v for k, v in choice.as_dict().items() if k != "threshold"}
            # the best net on the pooled windows, for comparison: a few people's blocks can raise it
            | {"pooled": kiosk_threshold(val_probs[answered], val.y[answered], no_sign) if answered.any() else None},
        }
        export_saved_model(model, tmp, spec.frames, feature_dim(spec))
        export_tflite(tmp)
        sample = x_val[:64] if len(val) else plain_features(train.subset(np.arange(min(64, len(train)))), spec)
        metrics["export"] = agreement(tmp, sample)
        reference = ds.subset(reference_rows(ds.y, ds.session, REFERENCE_PER_CLASS, config.seed))
        write_enroll_reference(tmp, plain_features(reference, spec), reference.y)
        metrics["enroll_reference"] = len(reference)
        (report / "left_out.json").write_text(json.dumps(metrics["left_out"], indent=1))
        (report / "history.json").write_text(json.dumps(history, default=float, indent=1))
        plot_curves(history, report / "curves.png")
        (report / "training.json").write_text(
            json.dumps({"config": asdict(config), "metrics": metrics, "tensorflow": tf.__version__}, indent=1)
        )
        manifest = Manifest(
            name=name,
            version=version or now_iso().replace(":", "").replace("-", ""),
            created=now_iso(),
            spec=spec,
            labels=list(ds.classes),
            temperature=temperature,
            threshold=choice.threshold,
            no_sign_label=no_sign_label if no_sign_label in ds.classes else None,
            sources=ds.sources,
            licences=ds.licences,
            architecture=config.model.as_dict(),
            metrics=metrics,
        )
        manifest = write_manifest(tmp, manifest)
    return manifest
