"""``signstream enroll``: a new bundle version that also answers signs shown a few times (no training)."""

from __future__ import annotations

import argparse
from pathlib import Path

from shared.app import cli_args as a
from shared.model.bundle import check_name

NAME = a.checked(check_name, "version")  # as the manifest and the registry accept it


def cmd_enroll(args: argparse.Namespace) -> None:
    from shared.datasets.dataset import load_many
    from shared.enrolment.bundle import enroll_bundle

    examples = load_many(args.examples)  # a bad file fails here, in one line
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
    p.add_argument("--out", type=Path, required=True, help="the new bundle folder (must not exist)")
    p.add_argument("--replace", action="store_true", help="replace enrolled signs of the same name")
    p.add_argument("--version", type=NAME, help="the new version (default: the time, as train names them)")
    p.add_argument(
        "--signing-key", type=a.existing_file, help="private key to sign the new version (needed for a signed bundle)"
    )
    p.set_defaults(func=cmd_enroll)
