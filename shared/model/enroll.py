"""Teaching a bundle new signs without training: enrolled classes answered beside the trained ones.

A bundle exported by the current ``train`` gives, beside its logits, the embedding the logits are
made from (one more output of the same model) and a reference sample of its training windows'
embeddings and logits (``enroll_reference.npz``). Enrolling fits one more logit row per new sign,
``logit = embedding @ w + b``, by cross-entropy against the frozen trained logits on the reference
windows and the new examples (every class weighted equally). The new rows live in ``enrolled.npz``;
``EnrolledRunner`` appends their logits to the model's, so the one predictor answers enrolled signs
with the same temperature, softmax, threshold and no-sign logic as trained ones, on every runtime.

Pure numpy: it runs where only LiteRT is installed (the kiosk).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

import numpy as np

from shared.app.errors import BundleError, SignstreamError
from shared.contract.normalize import clip_windows, features_batch
from shared.contract.spec import FeatureSpec
from shared.model.bundle import Manifest
from shared.model.calibration import softmax
from shared.model.predictor import NO_HAND_MAX_FRACTION, hand_fraction

ENROLL_REFERENCE = "enroll_reference.npz"
ENROLLED = "enrolled.npz"
MIN_EXAMPLES = 3
# A new sign whose row would take at least this share of another sign's windows, or whose examples
# stay that sign at least this often, is that sign under another name.
SIMILAR_SHARE = 0.5
# ... and so is one whose examples the trained model already names one sign at this mean probability.
# Measured (bench fewshot, word vocabulary, 5 examples): a known sign shown by a new person under a
# new name reads a median 0.94 (0.43-1.00), a held-out word 0.86 (0.50-0.99; `good` reads as
# `thanks`, `goodbye` as `hello`, as in ASL they nearly are): 0.95 refuses 18 of 41 copies and 4 of
# 19 new words.
NAMED_LIMIT = 0.95
# A new sign whose examples the trained model takes for its no-sign class at this mean probability
# (likelier than every sign together) was not signed where the camera sees it: enrolled, its row would
# claim what a kiosk sees while nobody signs and show the sign to people walking by.
NO_SIGN_LIMIT = 0.5
# The int8 file must name at least this share of the examples as the float32 file does.
MIN_INT8_AGREEMENT = 0.8
REFERENCE_PER_CLASS = 32
# Each example also enters the fit as this many augmented copies (the training augmentation: mirror,
# scale / rotation / shift, time warp, dropped frames), so the row learns the example's sign rather
# than one person's exact movement. Measured (bench fewshot, 5 examples of please / good / goodbye):
# the teacher's other recordings 0.913 -> 0.939, other people 0.242 -> 0.255; 45 more windows through
# the model (about 0.02 s here).
AUGMENTED_COPIES = 8
# An enrolled sign is shown from min(the bundle's threshold, this): the bundle's threshold was chosen on
# validation people for the trained signs, and an enrolled row fitted to one person's few windows is
# less sure of that person's next windows (bench fewshot, 5 examples: a median 0.73 left out in turn).
# 0.5 means "likelier than every other sign together". Measured on the word vocabulary (please, good,
# goodbye enrolled): the teacher's shown share 0.78 -> 0.91, unseen people 0.09 -> 0.18, idle false
# labels +0.006, known signs' windows shown as the new sign 0.2% -> 1.0%.
ENROLLED_THRESHOLD = 0.5
NO_EMBEDDING = (
    "the bundle has no embedding output: re-export it (train it again with the current `train`) to enrol signs"
)


class EnrollError(SignstreamError):
    """Examples or a bundle that enrolment refuses; the message says which and why."""

    http_status = 400
    reason = "enrol_refused"


class EmbeddingRunner(Protocol):
    """A runner that gives (N, C) logits and (N, D) embeddings for (N, frames, F) features."""

    def logits(self, features: np.ndarray) -> np.ndarray: ...

    def logits_and_embeddings(self, features: np.ndarray) -> tuple[np.ndarray, np.ndarray]: ...


@dataclass(frozen=True)
class Reference:
    """Training windows seen through the model: embeddings (N, D), trained logits (N, C), labels (N,)."""

    embeddings: np.ndarray
    logits: np.ndarray
    labels: np.ndarray


@dataclass(frozen=True)
class EnrolledHead:
    """The enrolled signs of a bundle: one logit row each, and the examples they were fitted on.

    ``weights`` (K, D), ``bias`` (K,); ``examples`` (M, D) embeddings with the model's own
    ``example_logits`` (M, C) and ``example_labels`` (M,) indices into ``classes`` (kept so that a
    later enrolment can fit every row again); ``example_copies`` (M,) True for an augmented copy of
    an example (None: none are).
    """

    classes: list[str]
    weights: np.ndarray
    bias: np.ndarray
    examples: np.ndarray
    example_logits: np.ndarray
    example_labels: np.ndarray
    example_copies: np.ndarray | None = None

    @property
    def copies(self) -> np.ndarray:
        """(M,) True for the augmented copies among the examples."""
        return np.zeros(len(self.example_labels), bool) if self.example_copies is None else self.example_copies

    def examples_of(self, sign: str) -> int:
        """How many recorded examples (not copies) ``sign`` was fitted on."""
        return int(((self.example_labels == self.classes.index(sign)) & ~self.copies).sum())

    def logits(self, embeddings: np.ndarray) -> np.ndarray:
        """(N, D) embeddings -> (N, K) logits of the enrolled signs."""
        return np.asarray(embeddings, np.float32) @ self.weights.T + self.bias


# ---------------------------------------------------------------------------------------------- files


def save_reference(folder: Path, reference: Reference) -> None:
    """Write ``folder/enroll_reference.npz`` (embeddings stored as float16: half the bytes, same fit)."""
    np.savez_compressed(
        folder / ENROLL_REFERENCE,
        embeddings=reference.embeddings.astype(np.float16),
        logits=reference.logits.astype(np.float32),
        labels=reference.labels.astype(np.int64),
    )


def load_reference(folder: Path) -> Reference:
    """The reference sample of a bundle; EnrollError (one line) for a bundle exported without it."""
    path = Path(folder) / ENROLL_REFERENCE
    if not path.is_file():
        raise EnrollError(f"{folder}: {NO_EMBEDDING}")
    with np.load(path, allow_pickle=False) as z:
        return Reference(z["embeddings"].astype(np.float32), z["logits"].astype(np.float32), z["labels"].astype(int))


def save_head(folder: Path, head: EnrolledHead) -> None:
    """Write ``folder/enrolled.npz``."""
    np.savez_compressed(
        folder / ENROLLED,
        classes=np.asarray(head.classes, dtype=str),
        weights=head.weights.astype(np.float32),
        bias=head.bias.astype(np.float32),
        examples=head.examples.astype(np.float32),
        example_logits=head.example_logits.astype(np.float32),
        example_labels=head.example_labels.astype(np.int64),
        example_copies=head.copies,
    )


def load_head(folder: Path, manifest: Manifest) -> EnrolledHead:
    """The enrolled signs of a bundle, checked against its manifest."""
    if not manifest.enrolled:
        raise BundleError(f"{folder}: no enrolled signs")
    path = Path(folder) / ENROLLED
    try:
        with np.load(path, allow_pickle=False) as z:
            head = EnrolledHead(
                [str(c) for c in z["classes"]],
                z["weights"].astype(np.float32),
                z["bias"].astype(np.float32),
                z["examples"].astype(np.float32),
                z["example_logits"].astype(np.float32),
                z["example_labels"].astype(int),
                z["example_copies"].astype(bool) if "example_copies" in z.files else None,
            )
    except (OSError, KeyError, ValueError) as err:
        raise BundleError(f"{folder}: cannot read {ENROLLED} ({err})") from err
    if head.classes != manifest.enrolled or manifest.labels[-len(head.classes) :] != head.classes:
        raise BundleError(f"{folder}: {ENROLLED} names {head.classes}, the manifest {manifest.enrolled}")
    if head.weights.shape[0] != len(head.classes) or head.bias.shape != (len(head.classes),):
        raise BundleError(f"{folder}: {ENROLLED} has {head.weights.shape[0]} rows for {len(head.classes)} signs")
    return head


# --------------------------------------------------------------------------------------------- running


class EnrolledRunner:
    """A runner whose logits are the model's, then one per enrolled sign: (N, frames, F) -> (N, C + K)."""

    def __init__(self, base: EmbeddingRunner, head: EnrolledHead) -> None:
        self.base, self.head = base, head

    def logits(self, features: np.ndarray) -> np.ndarray:
        return self.logits_and_embeddings(features)[0]

    def logits_and_embeddings(self, features: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        logits, emb = self.base.logits_and_embeddings(features)
        return np.concatenate([logits, self.head.logits(emb)], axis=1).astype(np.float32), emb


def with_enrolled(runner, folder: str | Path, manifest: Manifest):
    """``runner`` itself for a bundle without enrolled signs, else an ``EnrolledRunner`` around it.

    Every loader calls this once it made the model's runner, so every runtime answers the same labels.
    """
    if not manifest.enrolled:
        return runner
    return EnrolledRunner(runner, load_head(Path(folder), manifest))


# ------------------------------------------------------------------------------------------ examples


def example_windows(X: np.ndarray, length: np.ndarray, fps: float | None, spec: FeatureSpec) -> list[np.ndarray]:
    """One window per example sequence, as training takes it: (T_i, 126) each, the middle one of a long clip."""
    out = []
    for x, n in zip(X, length, strict=True):
        windows = clip_windows(np.asarray(x[:n], np.float32), fps, spec)
        out.append(windows[len(windows) // 2])
    return out


def check_examples(
    names: list[str], windows_by_name: dict[str, list[np.ndarray]], min_examples: int = MIN_EXAMPLES
) -> None:
    """Refuse (EnrollError) a sign with fewer than ``min_examples`` examples or an example with no hand."""
    for name in names:
        windows = windows_by_name.get(name, [])
        if len(windows) < min_examples:
            raise EnrollError(f"{name!r} has {len(windows)} example(s); enrolling a sign needs at least {min_examples}")
        empty = [i for i, w in enumerate(windows) if hand_fraction(w) <= NO_HAND_MAX_FRACTION]
        if empty:
            which = ", ".join(str(i + 1) for i in empty)
            raise EnrollError(f"{name!r}: example(s) {which} of {len(windows)} show no hand; record them again")


def check_signed(
    manifest: Manifest, names: list[str], labels: list[str], logits: np.ndarray, limit: float = NO_SIGN_LIMIT
) -> None:
    """Refuse (EnrollError) a sign whose examples (``labels``, with the trained ``logits`` (M, C)) the model
    takes for its no-sign class at a mean calibrated probability of at least ``limit``."""
    if manifest.no_sign_label not in manifest.labels:
        return
    idle = manifest.labels.index(manifest.no_sign_label)
    probs = softmax(logits, manifest.temperature)
    for name in names:
        mine = probs[[i for i, label in enumerate(labels) if label == name], idle]
        if mine.mean() >= limit:
            raise EnrollError(
                f"{name!r}: the model sees no sign in its examples ({manifest.no_sign_label!r} at {mine.mean():.2f} "
                f"on average; {int((mine >= 0.5).sum())} of {len(mine)} examples): sign with the hands in view "
                "and record them again"
            )


def embed_windows(
    runner: EmbeddingRunner, spec: FeatureSpec, windows: list[np.ndarray]
) -> tuple[np.ndarray, np.ndarray]:
    """Raw windows (T_i, 126) -> the model's (N, C) logits and (N, D) embeddings."""
    return runner.logits_and_embeddings(features_batch(windows, spec))


def example_consistency(reference: Reference, embeddings: np.ndarray) -> np.ndarray:
    """(M,) how well each of a sign's M examples agrees with the others: the cosine of its embedding
    with the mean of the others, both around the reference's mean (1: the same; about 0: unrelated).
    An operator redoes the low ones."""
    emb = np.asarray(embeddings, np.float64) - reference.embeddings.mean(axis=0)
    if len(emb) < 2:
        return np.ones(len(emb))
    others = (emb.sum(axis=0, keepdims=True) - emb) / (len(emb) - 1)
    norms = np.linalg.norm(emb, axis=1) * np.linalg.norm(others, axis=1) + 1e-12
    return (emb * others).sum(axis=1) / norms


# ------------------------------------------------------------------------------------------- fitting


def fit_head(
    reference: Reference,
    classes: list[str],
    examples: np.ndarray,
    example_logits: np.ndarray,
    example_labels: np.ndarray,
    l2: float = 1e-2,
    steps: int = 300,
    example_copies: np.ndarray | None = None,
) -> EnrolledHead:
    """One logit row per enrolled sign, fitted against the frozen trained logits.

    Args:
        reference: the bundle's reference windows (labels index its trained classes, C of them).
        classes: the enrolled signs' names (K).
        examples: (M, D) embeddings of their examples; ``example_logits`` (M, C) the trained logits;
            ``example_labels`` (M,) indices into ``classes``.
        l2: weight decay on the new rows (keeps them from growing to fit five windows exactly). On
            bench fewshot (5 examples) 0.01 against 0.001: the teacher 0.890 vs 0.882, unseen
            people 0.223 vs 0.207, false labels 0.177 vs 0.184; 0.1 loses the teacher (0.872).
        steps: full-batch Adam steps (the problem is convex and small: milliseconds).

    Returns:
        The head; trained classes and enrolled signs weigh the same in the loss whatever their counts.
    """
    n_known = reference.logits.shape[1]
    k = len(classes)
    emb = np.concatenate([reference.embeddings, examples]).astype(np.float32)
    known = np.concatenate([reference.logits, example_logits]).astype(np.float64)
    y = np.concatenate([reference.labels, n_known + np.asarray(example_labels)])
    counts = np.bincount(y, minlength=n_known + k).astype(np.float64)
    weight = 1.0 / counts[y]
    weight /= weight.sum()
    # Centre and scale the embedding for the optimiser; folded back into (w, b) at the end.
    mean, scale = emb.mean(axis=0), emb.std(axis=0) + 1e-6
    z = (emb - mean) / scale  # float32: the two products per step read it whole, half the bytes
    onehot = np.zeros((len(y), k))
    new = y >= n_known
    onehot[np.flatnonzero(new), y[new] - n_known] = 1.0
    w, b = np.zeros((k, z.shape[1]), np.float32), np.full(k, float(np.median(known)))
    m_w, v_w, m_b, v_b = np.zeros_like(w), np.zeros_like(w), np.zeros_like(b), np.zeros_like(b)
    lr, beta1, beta2 = 0.05, 0.9, 0.999
    # The trained logits are fixed: their log-sum-exp is computed once, each step costs O(N * K).
    top = known.max(axis=1)
    lse = top + np.log(np.exp(known - top[:, None]).sum(axis=1))
    for t in range(1, steps + 1):
        scores = np.einsum("nd,kd->nk", z, w) + b  # einsum: no BLAS threads (they spin on a busy machine)
        m = np.maximum(lse, scores.max(axis=1))
        e = np.exp(scores - m[:, None])
        p = e / (np.exp(lse - m) + e.sum(axis=1))[:, None]
        g = (p - onehot) * weight[:, None]
        gw, gb = np.einsum("nk,nd->kd", g.astype(np.float32), z) + l2 * w, g.sum(axis=0)
        m_w, v_w = beta1 * m_w + (1 - beta1) * gw, beta2 * v_w + (1 - beta2) * gw**2
        m_b, v_b = beta1 * m_b + (1 - beta1) * gb, beta2 * v_b + (1 - beta2) * gb**2
        corr = np.sqrt(1 - beta2**t) / (1 - beta1**t)
        w -= lr * corr * m_w / (np.sqrt(v_w) + 1e-8)
        b -= lr * corr * m_b / (np.sqrt(v_b) + 1e-8)
    weights = w / scale
    bias = b - weights @ mean
    return EnrolledHead(
        list(classes),
        weights.astype(np.float32),
        bias.astype(np.float32),
        examples,
        example_logits,
        example_labels,
        example_copies,
    )


@dataclass(frozen=True)
class Resemblance:
    """How much an enrolled sign overlaps another sign (trained or enrolled)."""

    sign: str
    known: str
    named: float  # the trained model's mean calibrated probability of ``known`` on the examples (0: enrolled)
    taken: float  # share of the other sign's windows the new sign would be answered for
    kept: float  # share of the new sign's examples still answered as the other sign
    cosine: float  # cosine similarity of the two mean embeddings, around the reference's mean

    @property
    def overlap(self) -> float:
        """The largest of ``named``, ``taken`` and ``kept`` (orders the resemblances)."""
        return max(self.named, self.taken, self.kept)

    def too_close(self, share: float = SIMILAR_SHARE, named: float = NAMED_LIMIT) -> bool:
        """Whether this is the other sign under a new name (the refusal's rule)."""
        return self.named >= named or max(self.taken, self.kept) >= share

    def describe(self) -> str:
        return (
            f"{self.sign!r} looks like the sign {self.known!r}: "
            + (
                f"the model already names its examples {self.known!r} at {self.named:.2f} on average; "
                if self.named > 0
                else ""
            )  # 0 for an enrolled sign: only trained signs are named by the model
            + f"the new sign would take {self.taken:.0%} of the windows of {self.known!r} "
            f"(cosine of the mean embeddings {self.cosine:.2f})"
        )


def resemblances(
    reference: Reference, known_labels: list[str], head: EnrolledHead, temperature: float = 1.0
) -> list[Resemblance]:
    """For each enrolled sign, the other sign (trained or enrolled) it overlaps most; most overlapping first.

    Trained signs are judged on the reference windows and the trained model's answers for the
    examples (calibrated by ``temperature``), enrolled ones on their examples.
    """
    n_known = reference.logits.shape[1]
    names = list(known_labels) + list(head.classes)
    emb = np.concatenate([reference.embeddings, head.examples])
    trained = np.concatenate([reference.logits, head.example_logits])
    labels = np.concatenate([reference.labels, n_known + head.example_labels])
    answer = np.concatenate([trained, head.logits(emb)], axis=1).argmax(1)
    probs = softmax(head.example_logits, temperature)
    # Embeddings after a ReLU all point into one orthant: cosines are taken around the reference mean.
    centre = reference.embeddings.mean(axis=0)
    means = {int(c): emb[labels == c].mean(axis=0) - centre for c in np.unique(labels)}
    out = []
    for j, sign in enumerate(head.classes):
        own = n_known + j
        mine = labels == own
        found = []
        for c, mean in means.items():
            if c == own:
                continue
            cosine = float(means[own] @ mean / (np.linalg.norm(means[own]) * np.linalg.norm(mean) + 1e-12))
            named = float(probs[head.example_labels == j, c].mean()) if c < n_known else 0.0
            taken = float((answer[labels == c] == own).mean())
            found.append(Resemblance(sign, names[c], named, taken, float((answer[mine] == c).mean()), cosine))
        if found:
            out.append(max(found, key=lambda r: (r.overlap, r.cosine)))
    return sorted(out, key=lambda r: -r.overlap)


def too_similar(
    found: list[Resemblance], share: float = SIMILAR_SHARE, named: float = NAMED_LIMIT
) -> Resemblance | None:
    """The first resemblance that is too close (``Resemblance.too_close``), else None."""
    return next((r for r in found if r.too_close(share, named)), None)


# ------------------------------------------------------------------------------------------ enrolling


@dataclass(frozen=True)
class Enrolment:
    """An accepted enrolment: the new head (every enrolled sign), how each new sign resembles the
    known ones, and the share of examples the int8 file names as the float32 file does (None: not checked)."""

    head: EnrolledHead
    resemblances: list[Resemblance]
    int8_agreement: float | None


def check_names(manifest: Manifest, names: list[str], replace: bool) -> None:
    """Refuse (EnrollError) an empty or overlong name, the no-sign class, or a name the bundle has
    (unless ``replace`` and it is an enrolled sign: trained signs are never replaced)."""
    for name in names:
        if not name.strip() or len(name) > 64 or not name.isprintable():
            raise EnrollError(f"invalid sign name {name!r}: 1-64 printable characters")
        if name == manifest.no_sign_label:
            raise EnrollError(f"{name!r} is the bundle's no-sign class; it cannot be enrolled")
        if name in manifest.enrolled and not replace:
            raise EnrollError(
                f"{name!r} is already enrolled in {manifest.name} {manifest.version}; pass --replace to replace it"
            )
        if name in manifest.labels and name not in manifest.enrolled:
            raise EnrollError(
                f"{name!r} is a trained sign of {manifest.name} {manifest.version}; enrol it under another name"
            )


def enrol(
    manifest: Manifest,
    reference: Reference,
    current: EnrolledHead | None,
    runner: EmbeddingRunner,
    examples: dict[str, list[np.ndarray]],
    replace: bool = False,
    int8_runner: EmbeddingRunner | None = None,
    min_examples: int = MIN_EXAMPLES,
    similar_share: float = SIMILAR_SHARE,
    named_limit: float = NAMED_LIMIT,
    no_sign_limit: float = NO_SIGN_LIMIT,
    augment: Callable[[np.ndarray, np.random.Generator], np.ndarray] | None = None,
    copies: int = AUGMENTED_COPIES,
    seed: int = 0,
) -> Enrolment:
    """Enrol the signs of ``examples`` (name -> raw windows (T_i, 126)) into a bundle's head.

    ``runner`` gives the trained logits and embeddings (the bundle's float32 TFLite); ``current`` is
    the bundle's enrolled head (None when it has none). A replaced sign loses its old examples; other
    enrolled signs keep theirs and every row is fitted again. With ``augment`` (raw window, generator
    -> raw window) each new example is fitted with ``copies`` augmented copies too (drawn from
    ``seed``: the same examples give the same bundle); the checks and refusals see the examples only.

    Raises:
        EnrollError, one line: a bad or taken name, too few examples, an example with no hand, examples
        the model takes for no sign, a new sign that looks like a known one (which, how close), int8
        disagreeing with float32.
    """
    names = list(examples)
    check_names(manifest, names, replace)
    check_examples(names, examples, min_examples)
    n_known = len(manifest.labels) - len(manifest.enrolled)
    known_labels = manifest.labels[:n_known]
    windows = [w for name in names for w in examples[name]]
    rng = np.random.default_rng(seed)
    extra = [augment(w, rng) for w in windows for _ in range(copies)] if augment is not None else []
    all_logits, all_emb = embed_windows(runner, manifest.spec, windows + extra)
    logits, emb = all_logits[: len(windows)], all_emb[: len(windows)]
    if logits.shape[1] != n_known:
        raise BundleError(f"the model gives {logits.shape[1]} logits, the manifest has {n_known} trained signs")
    check_signed(manifest, names, [name for name in names for _ in examples[name]], logits, no_sign_limit)
    kept = [c for c in (current.classes if current else []) if c not in names]
    classes = kept + names
    keep_rows = (
        np.isin(current.example_labels, [current.classes.index(c) for c in kept]) if current else np.zeros(0, bool)
    )
    old_labels = (
        np.array([classes.index(current.classes[i]) for i in current.example_labels[keep_rows]], int)
        if current
        else np.zeros(0, int)
    )
    new_labels = np.array([classes.index(name) for name in names for _ in examples[name]], int)
    new_labels = np.concatenate([new_labels, np.repeat(new_labels, len(extra) // max(len(windows), 1))])
    new_copies = np.arange(len(new_labels)) >= len(windows)
    head = fit_head(
        reference,
        classes,
        np.concatenate([current.examples[keep_rows], all_emb]) if current else all_emb,
        np.concatenate([current.example_logits[keep_rows], all_logits]) if current else all_logits,
        np.concatenate([old_labels, new_labels]),
        example_copies=np.concatenate([current.copies[keep_rows], new_copies]) if current else new_copies,
    )
    found = [r for r in resemblances(reference, known_labels, head, manifest.temperature) if r.sign in names]
    similar = too_similar(found, similar_share, named_limit)
    if similar is not None:
        raise EnrollError(similar.describe())
    agreement = None
    if int8_runner is not None:
        int8_logits, int8_emb = embed_windows(int8_runner, manifest.spec, windows)
        full = np.concatenate([logits, head.logits(emb)], axis=1).argmax(1)
        full8 = np.concatenate([int8_logits, head.logits(int8_emb)], axis=1).argmax(1)
        agreement = float((full == full8).mean())
        if agreement < MIN_INT8_AGREEMENT:
            raise EnrollError(f"the int8 model names only {agreement:.0%} of the examples as the float32 model does")
    return Enrolment(head, found, agreement)


def manifest_with(manifest: Manifest, head: EnrolledHead, version: str, created: str, details: dict) -> Manifest:
    """The manifest of the bundle with ``head`` as its enrolled signs (labels: trained, then enrolled)."""
    n_known = len(manifest.labels) - len(manifest.enrolled)
    metrics = {**manifest.metrics, "enrolled": details}
    trained = {k: v for k, v in manifest.sign_thresholds.items() if k in manifest.labels[:n_known]}
    own = min(manifest.threshold, ENROLLED_THRESHOLD)
    return manifest.model_copy(
        update={
            "labels": manifest.labels[:n_known] + head.classes,
            "enrolled": list(head.classes),
            "sign_thresholds": {**trained, **{c: own for c in head.classes}},
            "version": version,
            "created": created,
            "metrics": metrics,
            "files": {},
        }
    )
