"""``signstream synth`` and ``signstream import-mpdata``: datasets made without a camera."""

from __future__ import annotations

import argparse
from pathlib import Path

from shared.app import cli_args as a


def cmd_synth(args: argparse.Namespace) -> None:
    from shared.datasets.dataset import save_dataset
    from shared.datasets.synth import MAX_CLASSES, generate

    if not 2 <= args.classes <= MAX_CLASSES:
        raise a.CliError(f"--classes must be 2..{MAX_CLASSES}")
    ds = generate(args.classes, args.per_class, args.signers, args.frames, args.seed)
    save_dataset(args.out, ds)
    print(f"wrote {args.out}: {len(ds)} sequences, {len(ds.classes)} classes, {args.signers} signers")


def cmd_import_mpdata(args: argparse.Namespace) -> None:
    from shared.datasets.dataset import save_dataset
    from shared.datasets.mpdata import import_mpdata

    ds = import_mpdata(args.root, args.session)
    save_dataset(args.out, ds)
    print(f"wrote {args.out}: {len(ds)} sequences, classes: {', '.join(ds.classes)}")


def register(sub: argparse._SubParsersAction) -> None:
    """Add the dataset commands to ``signstream``."""
    p = sub.add_parser("synth", help="write a synthetic landmark dataset")
    p.add_argument("--out", type=Path, required=True, help="output .npz")
    p.add_argument("--classes", type=int, default=6, help="number of classes (2..12, default 6)")
    p.add_argument("--per-class", type=a.positive, default=40, help="sequences per class (default 40)")
    p.add_argument("--signers", type=a.positive, default=4, help="synthetic signers = sessions (default 4)")
    p.add_argument("--frames", type=a.positive, default=30, help="frames per sequence (default 30)")
    p.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    p.set_defaults(func=cmd_synth)

    p = sub.add_parser("import-mpdata", help="import an MP_Data/<class>/<seq>/<frame>.npy tree")
    p.add_argument("root", type=a.existing_dir, help="the folder holding one sub-folder per class")
    p.add_argument("--out", type=Path, required=True, help="output .npz")
    p.add_argument("--session", help="session name (default: the folder's name)")
    p.set_defaults(func=cmd_import_mpdata)
