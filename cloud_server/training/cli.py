"""``signstream train``: argument handling and a progress bar around train_bundle."""

from __future__ import annotations

import argparse
import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")


def run_train(args: argparse.Namespace) -> None:
    """Train from parsed arguments and print where the bundle went."""
    from tqdm import tqdm

    from shared.dataset import load_many

    if args.out.exists():
        raise FileExistsError(f"{args.out} already exists; choose a new --out")
    data = load_many(args.data)  # bad input fails here, in one line, before TensorFlow loads
    if args.classes:
        data = data.select_classes(args.classes)

    from cloud_server.training.train import TrainConfig, train_bundle

    config = TrainConfig(seed=args.seed)
    if args.epochs:
        config.epochs = args.epochs
    with tqdm(total=config.epochs, unit="epoch", desc="training", dynamic_ncols=True) as bar:

        def progress(epoch: int, total: int, logs: dict) -> None:
            shown = {k: f"{v:.3f}" for k, v in logs.items() if k in ("loss", "accuracy", "val_accuracy")}
            bar.set_postfix(shown)
            bar.update(1)

        manifest = train_bundle(data, args.out, None, config, name=args.name, version=args.version, progress=progress)
    m = manifest.metrics
    print(
        f"wrote {args.out}: {manifest.name} {manifest.version}, {len(manifest.labels)} labels, "
        f"validation accuracy {m.get('val_accuracy')}, threshold {manifest.threshold:.2f}, "
        f"temperature {manifest.temperature:.2f}"
    )
