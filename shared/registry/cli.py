"""``signstream push|pull|models|promote|rollback|signing-key``: thin wrappers that parse, call, print."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from shared.app import cli_args as a
from shared.app.errors import SignstreamError
from shared.model.bundle import MANIFEST, check_name, read_manifest
from shared.registry.registry import Registry, check_who, validation_note, whoami
from shared.registry.settings import RegistrySettings
from shared.registry.store import open_store

NAME = a.checked(check_name, "name")  # a model or dataset name or version as the registry accepts it


class RegistryCliError(SignstreamError):
    """A registry command cannot run as given."""


def _settings(args: argparse.Namespace) -> RegistrySettings:
    given = {
        field: getattr(args, field, None)
        for field in ("store", "signing_key", "public_key", "region", "profile")
        if getattr(args, field, None) is not None
    }
    settings = RegistrySettings(**given)
    if not settings.store:
        raise RegistryCliError("give --store URL or set SIGNSTREAM_STORE (s3://bucket/prefix or file:///path)")
    return settings


def _progress(description: str, total: int):
    from tqdm import tqdm

    # disable=None: no bar when stderr is not a terminal (logs, CI).
    return tqdm(desc=description, total=total, unit="B", unit_scale=True, unit_divisor=1024, disable=None)


def _registry(settings: RegistrySettings) -> Registry:
    store = open_store(settings.store, region=settings.region, profile=settings.profile)
    return Registry(store, progress=_progress)


def run_push(args: argparse.Namespace) -> None:
    """Push a bundle folder (has manifest.json), a dataset .npz file or, with --review, a dataset's review file."""
    settings = _settings(args)
    if args.review is not None:
        _push_review(args, settings)
        return
    if args.dataset is not None:
        raise RegistryCliError("--dataset names the dataset a --review file is for; a dataset file is named by --name")
    if args.path is None:
        raise RegistryCliError("push needs a PATH (a bundle folder or a dataset .npz), or --review FILE")
    path: Path = args.path
    if not path.exists():
        raise RegistryCliError(f"{path}: no such file or folder")
    registry = _registry(settings)
    if path.is_dir() and (path / MANIFEST).is_file():
        manifest = registry.push_bundle(path, args.name, args.version, settings.signing_key)
        signed = "signed" if settings.signing_key else "unsigned"
        print(f"pushed model {manifest.name} {manifest.version} ({signed}) to {registry.store.url}")
    else:
        if args.signing_key is not None:
            raise RegistryCliError("--signing-key signs model bundles; datasets are not signed")
        dataset = registry.push_dataset(path, args.name, args.version)
        print(f"pushed dataset {dataset.name} {dataset.version} ({len(dataset.files)} files) to {registry.store.url}")


def _push_review(args: argparse.Namespace, settings: RegistrySettings) -> None:
    if args.path is not None:
        raise RegistryCliError("push --review FILE takes no PATH: give the review file to --review")
    if not args.dataset or not args.version:
        raise RegistryCliError("push --review FILE needs --dataset NAME --version V (the dataset version it reviews)")
    if args.signing_key is not None or args.name is not None:
        raise RegistryCliError("push --review takes --dataset and --version, not --name or --signing-key")
    registry = _registry(settings)
    record, new = registry.push_review(args.review, args.dataset, args.version, check_who(args.by or whoami()))
    what = "pushed" if new else "already stored:"
    print(
        f"{what} review {record.sha256[:12]} ({record.decisions} decisions: {len(record.dropped)} dropped, "
        f"{len(record.relabelled)} relabelled) of dataset {args.dataset} {args.version} to {registry.store.url}"
    )


def run_pull(args: argparse.Namespace) -> None:
    """Pull a model version (default: current) or, with --dataset, a dataset version."""
    settings = _settings(args)
    registry = _registry(settings)
    if args.dataset:
        if not args.version:
            raise RegistryCliError("pull --dataset needs a VERSION")
        before = {p for p in Path(args.out).rglob("*") if p.is_file()} if Path(args.out).is_dir() else None
        out = registry.pull_dataset(args.name, args.version, args.out)
        reviews = sorted((out / "reviews").glob("*.jsonl")) if (out / "reviews").is_dir() else []
        added = "" if before is None else f" ({len({p for p in out.rglob('*') if p.is_file()} - before)} new files)"
        print(f"pulled dataset {args.name} {args.version} into {out}{added}"
              + (f" with {len(reviews)} reviews in {out / 'reviews'}" if reviews else ""))  # fmt: skip
        return
    out = registry.pull(args.name, args.version, args.out, settings.public_key)
    checked = "sha256 and signature verified" if settings.public_key else "sha256 verified"
    print(f"pulled {args.name} {read_manifest(out).version} into {out} ({checked})")


def _review_of(metrics: dict) -> str | None:
    """The sha256 of the review a version was trained with (its manifest's ``metrics.review``), if any."""
    review = metrics.get("review")
    sha = review.get("sha256") if isinstance(review, dict) else None
    return sha if isinstance(sha, str) and len(sha) == 64 else None


def _metric_text(metrics: dict, reviewed: dict[str, str] | None = None) -> str:
    parts = []
    for key in ("val_accuracy", "accuracy", "macro_f1", "val_ece"):
        value = metrics.get(key)
        if isinstance(value, int | float):
            parts.append(f"{key}={value:.3f}")
    sha = _review_of(metrics)
    if sha:
        where = (reviewed or {}).get(sha)
        parts.append(f"review={sha[:12]}" + (f" ({where})" if where else " (not in this store)"))
    note = validation_note(metrics)
    return " ".join(parts + ([f"({note})"] if note else []))


def run_models(args: argparse.Namespace) -> None:
    """List models (versions, current, metrics) and datasets."""
    settings = _settings(args)
    registry = _registry(settings)
    rows = registry.list_models()
    datasets = registry.list_datasets()
    reviews = {(d.name, d.version): registry.list_reviews(d.name, d.version) for d in datasets}
    reviewed = {r.sha256: f"dataset {n} {v}" for (n, v), rs in reviews.items() for r in rs}
    if args.json:
        print(
            json.dumps(
                {
                    "models": [
                        {
                            "name": r.name,
                            "current": r.current.model_dump() if r.current else None,
                            "versions": [
                                {**vars(v), "review": sha, "review_of": reviewed.get(sha or "")}
                                for v in r.versions
                                for sha in [_review_of(v.metrics)]
                            ],
                        }
                        for r in rows
                    ],
                    "datasets": [
                        {
                            **d.model_dump(exclude={"files"}),
                            "reviews": [x.model_dump() for x in reviews[d.name, d.version]],
                        }
                        for d in datasets
                    ],
                }
            )
        )
        return
    if not rows and not datasets:
        print(f"{registry.store.url}: {registry.store.describe_empty() or 'empty'}")
    for row in rows:
        if row.current:
            c = row.current
            signed = "signed" if c.signature else "unsigned"
            head = f"current {c.version} ({c.action} by {c.promoted_by} at {c.promoted_at}, {signed} pointer)"
        else:
            head = "nothing promoted"
        print(f"{row.name}: {len(row.versions)} versions, {head}")
        for v in row.versions:
            mark = "*" if row.current and row.current.version == v.version else " "
            signed = "signed" if v.signed else "unsigned"
            metrics = _metric_text(v.metrics, reviewed)
            if v.enrolled:  # the metrics were measured on the trained version it was enrolled from
                origin = (v.metrics.get("enrolled") or {}).get("from_version")
                metrics += f" enrolled: {', '.join(v.enrolled)}" + (f" (metrics of {origin})" if origin else "")
            print(f"  {mark} {v.version:<24} {v.created}  {v.size / 1e6:7.2f} MB  {signed:<8} {metrics}")
    for d in datasets:
        rs = reviews[d.name, d.version]
        print(f"dataset {d.name} {d.version} ({d.created}, {len(d.files)} files, {len(rs)} reviews)")
        for r in rs:
            print(f"  review {r.sha256[:12]} {r.file} by {r.pushed_by} at {r.pushed_at}: {r.decisions} decisions "
                  f"({len(r.dropped)} dropped, {len(r.relabelled)} relabelled)")  # fmt: skip


def _unsigned_warning(settings: RegistrySettings) -> None:
    if settings.signing_key is None:
        print(
            "warning: the pointer is unsigned (no --signing-key): servers and kiosks that check signatures "
            "keep their last good model until it is signed",
            file=sys.stderr,
        )


def run_promote(args: argparse.Namespace) -> None:
    """Verify a version completely, then make it current with a conditional write (signed with a key)."""
    settings = _settings(args)
    who = check_who(args.by or whoami())
    registry = _registry(settings)
    pointer = registry.promote(args.name, args.version, who, settings.public_key, settings.signing_key)
    signed = "signed" if pointer.signature else "unsigned"
    print(f"{args.name}: current is now {pointer.version} (was {pointer.replaced or 'nothing'}; {signed} pointer)")
    note = validation_note(registry.manifest(args.name, args.version).metrics)
    if note:
        print(f"warning: {args.name} {args.version}: {note}", file=sys.stderr)
    _unsigned_warning(settings)


def run_rollback(args: argparse.Namespace) -> None:
    """Point current back at the previous version (signed with a key)."""
    settings = _settings(args)
    who = check_who(args.by or whoami())
    registry = _registry(settings)
    pointer = registry.rollback(args.name, who, settings.signing_key)
    print(f"{args.name}: rolled back from {pointer.replaced} to {pointer.version}")
    _unsigned_warning(settings)


def run_signing_key(args: argparse.Namespace) -> None:
    """Create an ed25519 key pair for signing bundles."""
    from shared.model.signing import generate_keypair

    public = args.public or args.private.with_suffix(".pub")
    generate_keypair(args.private, public)
    print(f"wrote {args.private} (private, mode 0600: keep it off servers and kiosks) and {public} (public)")
    print(
        "push with --signing-key (or SIGNSTREAM_SIGNING_KEY); give servers and kiosks the public key", file=sys.stderr
    )


def register(sub: argparse._SubParsersAction) -> None:
    """push, pull, models, promote, rollback, signing-key (docs/registry.md)."""

    def store_options(p: argparse.ArgumentParser) -> None:
        p.add_argument("--store", help="s3://bucket/prefix or file:///abs/path (default $SIGNSTREAM_STORE)")
        p.add_argument("--region", help="AWS region (default: the AWS chain's)")
        p.add_argument("--profile", help="AWS profile (default: the AWS chain's)")

    p = sub.add_parser("push", help="push a model bundle, a dataset or a dataset's review file to the registry")
    p.add_argument("path", type=Path, nargs="?", help="bundle folder (has manifest.json) or dataset .npz file")
    store_options(p)
    p.add_argument("--name", type=NAME, help="bundles: must match the manifest; datasets: default the file's name")
    p.add_argument("--version", type=NAME, help="bundles: must match the manifest; datasets: default a UTC timestamp")
    p.add_argument("--signing-key", type=Path, help="ed25519 private key (default $SIGNSTREAM_SIGNING_KEY)")
    p.add_argument("--review", type=Path, help="a review file (JSON lines) to store with --dataset NAME --version V")
    p.add_argument("--dataset", type=NAME, help="with --review: the pushed dataset the review is of")
    p.add_argument("--by", help="with --review: who pushes it (default user@host)")
    p.set_defaults(func=run_push)

    p = sub.add_parser("pull", help="pull a model version (default: current) into a new folder")
    p.add_argument("name", help="model (or dataset) name")
    p.add_argument("version", nargs="?", help="version (default: the current one)")
    store_options(p)
    p.add_argument("--out", type=Path, required=True, help="folder to create (an identical verified copy is reused)")
    p.add_argument("--public-key", type=Path, help="refuse bundles not signed by this key ($SIGNSTREAM_PUBLIC_KEY)")
    p.add_argument("--dataset", action="store_true", help="pull a dataset instead of a model")
    p.set_defaults(func=run_pull)

    p = sub.add_parser("models", help="list models (versions, current, metrics) and datasets")
    store_options(p)
    p.add_argument("--json", action="store_true", help="one JSON document on stdout")
    p.set_defaults(func=run_models)

    p = sub.add_parser("promote", help="verify a version and make it current")
    p.add_argument("name")
    p.add_argument("version")
    store_options(p)
    p.add_argument("--by", help="who promotes: one printable line, at most 128 characters (default user@host)")
    p.add_argument("--public-key", type=Path, help="also require a valid signature ($SIGNSTREAM_PUBLIC_KEY)")
    p.add_argument("--signing-key", type=Path, help="ed25519 private key signing the pointer ($SIGNSTREAM_SIGNING_KEY)")
    p.set_defaults(func=run_promote)

    p = sub.add_parser("rollback", help="point current back at the previous version")
    p.add_argument("name")
    store_options(p)
    p.add_argument("--by", help="who rolls back: one printable line, at most 128 characters (default user@host)")
    p.add_argument("--signing-key", type=Path, help="ed25519 private key signing the pointer ($SIGNSTREAM_SIGNING_KEY)")
    p.set_defaults(func=run_rollback)

    p = sub.add_parser("signing-key", help="create an ed25519 key pair for signing bundles")
    p.add_argument("--private", type=Path, required=True, help="private key file to create (mode 0600)")
    p.add_argument("--public", type=Path, help="public key file to create (default: PRIVATE with .pub)")
    p.set_defaults(func=run_signing_key)
