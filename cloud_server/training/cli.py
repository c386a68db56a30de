"""``signstream train``: argument handling and a progress bar around train_bundle."""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from shared.app import cli_args as a
from shared.contract.spec import MAX_FPS
from shared.model.bundle import check_name

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

NAME = a.checked(check_name, "name")  # a model name or version as the manifest and the registry accept it
FPS = a.above_0_up_to(MAX_FPS, "frames per second")  # a frame rate the feature spec accepts


def run_train(args: argparse.Namespace) -> None:
    """Train from parsed arguments and print where the bundle went."""
    from tqdm import tqdm

    from cloud_server.training.train import TrainConfig, prepare_data
    from shared.datasets.dataset import load_many
    from shared.datasets.review import load_review

    if args.out.exists():
        raise FileExistsError(f"{args.out} already exists; choose a new --out")
    data = load_many(args.data)  # bad input fails here, in one line, before TensorFlow loads
    review = load_review(args.review) if getattr(args, "review", None) else None
    prepare_data(data, args.classes, review)  # a review of other data or an unknown class fails here too

    from cloud_server.training.train import train_bundle

    config = TrainConfig(seed=args.seed, refit=not getattr(args, "no_refit", False))
    if getattr(args, "keep_all", False):
        config.warmup_fraction = 0.0  # no warm-up, so no block is judged and none left out
    if args.epochs:
        config.epochs = args.epochs
    if getattr(args, "fps", None) is not None:  # 0 and negatives are refused by the parser, never ignored
        config.fps = args.fps
    with tqdm(unit="epoch", desc="training", dynamic_ncols=True, disable=None) as bar:  # None: off when not a TTY

        def progress(epoch: int, total: int, logs: dict) -> None:
            bar.total = total
            shown = {k: f"{v:.3f}" for k, v in logs.items() if k in ("loss", "accuracy", "val_accuracy")}
            bar.set_postfix(shown)
            bar.update(1)
            if bar.disable and (epoch % 5 == 0 or epoch == total):  # a log, not a terminal: a line now and then
                said = ", ".join(f"{k} {v}" for k, v in shown.items())
                print(f"training: epoch {epoch} of {total}" + (f" ({said})" if said else ""), file=sys.stderr,
                      flush=True)  # fmt: skip

        manifest = train_bundle(data, args.out, args.classes, config, name=args.name, version=args.version,
                                progress=progress, no_sign_label=getattr(args, "no_sign_label", "idle"),
                                review=review)  # fmt: skip
    m = manifest.metrics
    accuracy = m.get("val_accuracy")
    threshold = {"default": " (a default: nothing held out)", "signs_only": " (chosen on signs only: no no-sign class)"}
    print(
        f"wrote {args.out}: {manifest.name} {manifest.version}, {len(manifest.labels)} labels, "
        f"validation accuracy {'unknown' if accuracy is None else f'{accuracy:.3f}'}, "
        f"threshold {manifest.threshold:.2f}{threshold.get(m.get('threshold_basis'), '')}, "
        f"temperature {manifest.temperature:.2f}"
    )
    expected = expected_line(m.get("threshold_choice"))
    if expected:
        print(f"  {expected}")
    for block in m.get("left_out") or []:
        ev = block["evidence"]["another_sign"]
        print(f"  left out {block['sequences']} '{block['class']}' of {block['session']}: named '{ev['looks_like']}' "
              f"{ev['share']:.0%} (see report/left_out.json; --keep-all leaves out nothing)")  # fmt: skip
    if review:
        unused = m["review"]["not_applied"]
        print(f"  review {review.path} (sha256 {review.sha256[:12]}): "
              f"{len(review.decisions) - len(unused)} decisions applied")  # fmt: skip
        if unused:
            blocks = ", ".join(f"{u['action']} {u['block']}" for u in unused)
            print(f"  review: {len(unused)} decisions not applied (class not trained): {blocks}")


def _share(value: float | None) -> str:
    return "-" if value is None else f"{value:.3f}"


def expected_line(choice: dict | None) -> str:
    """One line: what the threshold was chosen on and what it should cost a stranger ('' for older bundles)."""
    if not choice or not choice.get("expected"):
        return ""
    e = choice["expected"]
    return (
        f"threshold chosen on {choice['people']} held-out people ({choice['windows']} windows; {choice['rule']}); "
        f"expected for a stranger: shown accuracy {_share(e['shown_accuracy'])} (people's 10th-90th percentile "
        f"{_share(e['shown_accuracy_p10'])}-{_share(e['shown_accuracy_p90'])}), false labels "
        f"{_share(e['false_label_rate'])} ({_share(e['false_label_rate_p10'])}-{_share(e['false_label_rate_p90'])})"
    )


def run_audit(args: argparse.Namespace) -> None:
    """Audit datasets by person-and-sign block; print a summary, or with --json one JSON object."""
    import json
    import sys

    from tqdm import tqdm

    from cloud_server.training.audit import AuditConfig, audit, audit_steps
    from cloud_server.training.train import prepare_data
    from shared.app.atomic import atomic_file
    from shared.datasets.dataset import load_many

    if args.html and args.html.exists():
        raise FileExistsError(f"{args.html} already exists; choose a new --html")
    ds = prepare_data(load_many(args.data), args.classes)
    config = AuditConfig(seed=args.seed, no_sign_label=args.no_sign_label)
    with tqdm(total=audit_steps(config), unit="step", desc="auditing", disable=not sys.stderr.isatty()) as bar:

        def progress(step: str, done: int) -> None:
            bar.set_postfix_str(step)
            bar.update(done - bar.n)

        result = audit(ds, config, progress)
    result["datasets"] = [str(p) for p in args.data]
    if args.html:
        from cloud_server.training.audit_report import render

        page = render(result, ds, f"Audit of {', '.join(p.name for p in args.data)}")
        with atomic_file(args.html, "w") as fh:
            fh.write(page)
        result["html"] = str(args.html)
    if args.json:
        print(json.dumps(result))
        return
    print(
        f"{result['blocks']} person-and-sign blocks, {result['flagged_blocks']} flagged "
        f"({result['flagged_share']:.1%}) "
        f"in {result['seconds']} s: " + ", ".join(f"{k} {v}" for k, v in result["kinds"].items() if v)
    )
    for f in result["flagged"]:
        print(f"  {f['session']} / {f['class']} ({f['sequences']}): {f['summary']}")
    for p in result["people_apart"]:
        print(f"  person {p['session']}: {p['why']}")
    if args.html:
        print(f"report: {args.html}")


def _report_dir(requested: Path | None, model: str, data: Path) -> Path:
    if requested:
        if requested.exists():
            raise FileExistsError(f"{requested} already exists; choose a new --report")
        return requested
    base = Path("reports") / f"{model}-{data.stem}"
    path, n = base, 1
    while path.exists():  # never overwrite an earlier report
        n += 1
        path = base.with_name(f"{base.name}-{n}")
    return path


def run_evaluate(args: argparse.Namespace) -> None:
    """Evaluate a bundle on a dataset; print a summary, or with --json a last line of JSON."""
    import json
    import sys

    from shared.app.atomic import atomic_dir
    from shared.datasets.dataset import load_dataset
    from shared.model.bundle import load_manifest

    manifest = load_manifest(args.model)  # bad input fails here, before TensorFlow loads
    ds = load_dataset(args.data)
    from cloud_server.training.evaluate import evaluate, plot_confusion, plot_coverage

    metrics, matrix = evaluate(args.model, ds, args.runtime)
    report = _report_dir(args.report, f"{manifest.name}-{manifest.version}", args.data)
    with atomic_dir(report) as tmp:
        plot_confusion(
            matrix, manifest.labels, tmp / "confusion.png", f"{manifest.name} {manifest.version} on {args.data.name}"
        )
        plot_coverage(metrics["coverage_curve"], tmp / "coverage.png", manifest.threshold)
        (tmp / "metrics.json").write_text(json.dumps({**metrics, "confusion": matrix.tolist()}, indent=1))
    metrics["report"] = str(report)
    metrics["confusion_png"] = str(report / "confusion.png")
    lines = [
        f"{manifest.name} {manifest.version} ({args.runtime}) on {args.data}: {metrics['n']} sequences, "
        f"{metrics['n_excluded']} excluded (unknown classes: {', '.join(metrics['excluded_classes']) or '-'})",
        f"accuracy {metrics['accuracy']:.3f}  macro F1 {metrics['macro_f1']:.3f}  ECE {metrics['ece']:.3f}",
        f"at the recommended threshold {metrics['threshold']:.2f}: {metrics['coverage_at_threshold']:.0%} answered, "
        f"accuracy {metrics['accuracy_at_threshold'] or 0:.3f}",
        "as shown by a kiosk: accuracy on signs "
        + (f"{metrics['shown_accuracy']:.3f}" if metrics["shown_accuracy"] is not None else "-")
        + ", false labels when nobody signs "
        + (f"{metrics['false_label_rate']:.3f}" if metrics["false_label_rate"] is not None else "- (no idle data)")
        + ", worst-decile session accuracy "
        + (
            f"{metrics['worst_decile_session_accuracy']:.3f}"
            if metrics["worst_decile_session_accuracy"] is not None
            else "-"
        ),
        f"confusion matrix: {metrics['confusion_png']}",
    ]
    expected = (manifest.metrics.get("threshold_choice") or {}).get("expected")
    if expected:  # what training expected for strangers, beside what these people got
        metrics["expected_at_threshold"] = expected
        lines.insert(
            -1,
            f"  training expected for strangers: shown accuracy {_share(expected['shown_accuracy'])}, false labels "
            f"{_share(expected['false_label_rate'])} (measured here: {_share(metrics['shown_accuracy'])}, "
            f"{_share(metrics['false_label_rate'])})",
        )
    if args.json:
        print("\n".join(lines), file=sys.stderr, flush=True)
        sys.stderr.flush()
        print(json.dumps(metrics), flush=True)
    else:
        for name, pc in metrics["per_class"].items():
            lines.insert(
                -1, f"  {name:<16} precision {pc['precision']:.3f}  recall {pc['recall']:.3f}  n {pc['support']}"
            )
        print("\n".join(lines))


def run_extract(args: argparse.Namespace) -> None:
    """Extract with a progress bar and a per-clip report."""
    import sys

    from tqdm import tqdm

    from cloud_server.training.extract import extract, find_clips

    if args.out.exists():
        raise FileExistsError(f"{args.out} already exists; choose a new --out")
    total = len(find_clips(args.inputs, args.label_from))
    with tqdm(total=total, unit="clip", desc="extracting", dynamic_ncols=True, disable=None) as bar:

        def progress(res) -> None:
            bar.update(1)
            note = (
                f"skipped: {res.skipped}" if res.skipped else f"{res.frames_with_hand}/{res.frames} frames with a hand"
            )
            bar.write(f"{res.path} [{res.label}]: {note}", file=sys.stdout)
            sys.stdout.flush()
            again = res.problem or (res.skipped if res.skipped and "no hand" in res.skipped else None)
            if again:  # at once, while the volunteer is still there to record it again
                bar.write(f"warning: record {res.path} [{res.label}] again: {again}", file=sys.stderr)

        def started(clip) -> None:
            bar.write(f"start {clip}", file=sys.stdout)
            sys.stdout.flush()

        ds, results = extract(
            args.inputs,
            args.out,
            args.workers,
            args.hand_model,
            args.label_from,
            progress,
            started,
            args.session,
            args.no_sign_label,
            args.model,
        )
    skipped = [r for r in results if r.skipped]
    print(
        f"wrote {args.out}: {len(ds)} clips, classes {', '.join(ds.classes)}; "
        f"sessions {', '.join(sorted(set(ds.session.tolist())))}; {len(skipped)} skipped"
    )
    for r in skipped:
        print(f"  skipped {r.path}: {r.skipped}")
    for r in results:
        if r.problem:
            print(f"  kept, worth recording again: {r.path}: {r.problem}")


def run_review(args: argparse.Namespace) -> None:
    """Serve an audit report on 127.0.0.1; its Save button appends decisions to the review file."""
    from cloud_server.training.review_server import make_server

    server = make_server(args.report, args.out, args.port)
    print(f"review {args.report} at http://127.0.0.1:{server.server_address[1]}/ ; decisions go to {args.out} "
          "(Ctrl-C to stop)", flush=True)  # fmt: skip
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()


def register(sub: argparse._SubParsersAction) -> None:
    """Add extract, train, audit and evaluate to ``signstream`` (docs/training.md)."""
    p = sub.add_parser("extract", help="extract hand landmarks from videos into a dataset")
    p.add_argument("inputs", type=Path, nargs="+", help="video files, or folders of LABEL/*.mp4")
    p.add_argument("--out", type=Path, required=True, help="dataset .npz to create")
    p.add_argument("--workers", type=a.positive, default=2, help="processes (default 2)")
    p.add_argument("--hand-model", choices=("full", "lite"), default="full", help="HandLandmarker model (default full)")
    p.add_argument(
        "--label-from",
        choices=("folder", "stem"),
        default="folder",
        help="label = the clip's folder (default) or its file name without a trailing _NNN",
    )
    p.add_argument(
        "--session",
        help="session of every clip (default: the folder above the label, else the recording day; never the label)",
    )
    p.add_argument("--no-sign-label", default="idle",
                   help="the class recorded without signing: its clips need no hand (default idle)")  # fmt: skip
    p.add_argument("--model", type=Path,
                   help="a bundle: warn about a clip whose label it confidently sees as another sign")  # fmt: skip
    p.set_defaults(func=run_extract)

    p = sub.add_parser("train", help="train a model and write a bundle")
    p.add_argument("--data", type=a.existing_file, action="append", required=True, help="dataset .npz (repeatable)")
    p.add_argument("--classes", type=a.classes, help="comma-separated classes to train on (default: all)")
    p.add_argument("--out", type=Path, required=True, help="bundle folder to create (must not exist)")
    p.add_argument("--epochs", type=a.positive, help="training epochs (default: the measured default)")
    p.add_argument(
        "--fps",
        type=FPS,
        help="frame rate a window assumes (default: the data's, else 15)",
    )
    p.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    p.add_argument("--name", type=NAME, default="signs", help="model name in the manifest (default signs)")
    p.add_argument("--version", type=NAME, help="model version (default: a UTC timestamp)")
    p.add_argument(
        "--no-sign-label",
        default="idle",
        help="the class meaning nobody signs: answered as no sign, never shown (default idle)",
    )
    p.add_argument(
        "--no-refit",
        action="store_true",
        help="ship the model trained without the validation people (half the time; by default a second "
        "model is trained on everyone once the threshold is chosen)",
    )
    p.add_argument(
        "--review",
        type=a.existing_file,
        help="review file (JSON lines from the audit report): drops and relabels blocks, the data files stay unchanged",
    )
    p.add_argument(
        "--keep-all",
        action="store_true",
        help="leave out nothing (by default blocks the warmed-up model names otherwise are left out)",
    )
    p.set_defaults(func=run_train)

    p = sub.add_parser("audit", help="find person-and-sign blocks that look wrong, with the evidence")
    p.add_argument("data", type=a.existing_file, nargs="+", help="dataset .npz files, merged as train merges them")
    p.add_argument("--classes", type=a.classes, help="comma-separated classes to audit (default: all, as train)")
    p.add_argument("--json", action="store_true", help="print one JSON object (flagged blocks and counts)")
    p.add_argument("--html", type=Path, help="write a self-contained HTML report with animations and review controls")
    p.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    p.add_argument("--no-sign-label", default="idle", help="the class meaning nobody signs (default idle)")
    p.set_defaults(func=run_audit)

    p = sub.add_parser("review", help="serve an audit report on 127.0.0.1 and save its decisions to a review file")
    p.add_argument("report", type=a.existing_file, help="the HTML report audit --html wrote")
    p.add_argument("--out", type=Path, required=True, help="review file (JSON lines) to append decisions to")
    p.add_argument("--port", type=int, default=0, help="port on 127.0.0.1 (default 0: a free one)")
    p.set_defaults(func=run_review)

    p = sub.add_parser("evaluate", help="evaluate a bundle on a dataset")
    p.add_argument("--model", type=a.existing_dir, required=True, help="bundle folder")
    p.add_argument("--data", type=a.existing_file, required=True, help="dataset .npz")
    p.add_argument("--runtime", choices=("savedmodel", "tflite", "int8"), default="savedmodel",
                   help="which of the bundle's models to run (default savedmodel)")  # fmt: skip
    p.add_argument("--report", type=Path, help="folder for the PNGs and metrics (default reports/<model>-<data>)")
    p.add_argument("--json", action="store_true", help="end with one JSON line of metrics on stdout")
    p.set_defaults(func=run_evaluate)
