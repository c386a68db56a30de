"""``signstream enroll``: a new bundle version that also answers signs shown a few times (no training)."""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

from shared.app import cli_args as a
from shared.model.bundle import check_name

NAME = a.checked(check_name, "version")  # as the manifest and the registry accept it


def pick_examples(paths: list[Path], sessions: list[str] | None, classes: list[str] | None, per_sign: int | None):
    """The example files merged, keeping only ``sessions`` (people, as the files name them), ``classes``
    and the first ``per_sign`` sequences of each sign; a name found in no file fails in one line."""
    from shared.app.errors import DatasetError
    from shared.datasets.dataset import load_dataset, merge, suggest

    loaded = [(Path(p).stem, load_dataset(p)) for p in paths]  # a bad file fails here, in one line
    for option, wanted, names in (("--sessions", sessions, "session"), ("--classes", classes, "labels")):
        known = sorted({str(v) for _, ds in loaded for v in getattr(ds, names)})
        missing = [suggest(w, known) for w in wanted or [] if w not in known]
        if missing:
            shown = ", ".join(known[:12]) + (f" ... ({len(known)} in all)" if len(known) > 12 else "")
            raise DatasetError(f"{option}: {', '.join(missing)} not in the examples (they have: {shown})")
    picked = []
    for name, ds in loaded:  # people and signs by the files' own names, before merge prefixes the sessions
        keep = np.ones(len(ds), bool)
        if sessions:
            keep &= np.isin(ds.session, sessions)
        if classes:
            keep &= np.isin(ds.labels, classes)
        if keep.any():
            sub = ds.subset(keep)
            picked.append((name, sub.select_classes([c for c in sub.classes if (sub.labels == c).any()])))
    if not picked:
        raise DatasetError("no example is left after --sessions / --classes")
    merged = merge(picked)
    if per_sign:  # the first of each sign over all the files, in file order
        keep = np.zeros(len(merged), bool)
        for c in range(len(merged.classes)):
            keep[np.flatnonzero(merged.y == c)[:per_sign]] = True
        merged = merged.subset(keep)
    return merged


def cmd_enroll(args: argparse.Namespace) -> None:
    from shared.enrolment.bundle import enroll_bundle

    examples = pick_examples(args.examples, args.sessions, args.classes, args.per_sign)
    done = enroll_bundle(args.model, examples, args.out, args.replace, args.signing_key, args.version)
    m = done.manifest
    for r in done.enrolment.resemblances:
        print(
            f"enrolled {r.sign!r}: closest sign {r.known!r} (the model named the examples {r.known!r} at "
            f"{r.named:.2f}; the new sign takes {r.taken:.0%} of its windows; cosine {r.cosine:.2f})"
        )
    agreement = done.enrolment.int8_agreement
    print(
        f"wrote {args.out}: {m.name} {m.version}, {len(m.labels)} labels ({len(m.enrolled)} enrolled)"
        + (f", int8 agrees on {agreement:.0%} of the examples" if agreement is not None else "")
        + f", {done.seconds:.2f} s"
    )


def register(sub: argparse._SubParsersAction) -> None:
    """Add ``enroll`` to ``signstream``."""
    p = sub.add_parser("enroll", help="add signs from a few examples to a bundle, as a new version (no training)")
    p.add_argument(
        "--model", type=a.existing_dir, required=True, help="the bundle folder to start from (left unchanged)"
    )
    p.add_argument(
        "--examples",
        type=a.existing_file,
        action="append",
        required=True,
        help="dataset .npz of the new signs (repeatable; each sequence one example, at least 3 per sign)",
    )
    p.add_argument(
        "--sessions",
        type=lambda v: v.split(","),
        help="comma-separated people (sessions) whose recordings are the examples (default: all)",
    )
    p.add_argument(
        "--classes",
        type=lambda v: v.split(","),
        help="comma-separated signs of the examples to enrol (default: every sign in them)",
    )
    p.add_argument("--per-sign", type=a.positive,
                   help="at most this many examples of each sign, the first in file order (default: all)")  # fmt: skip
    p.add_argument("--out", type=Path, required=True, help="the new bundle folder (must not exist)")
    p.add_argument("--replace", action="store_true", help="replace enrolled signs of the same name")
    p.add_argument("--version", type=NAME, help="the new version (default: the time, as train names them)")
    p.add_argument(
        "--signing-key", type=a.existing_file, help="private key to sign the new version (needed for a signed bundle)"
    )
    p.set_defaults(func=cmd_enroll)
