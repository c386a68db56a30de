"""The registry commands through signstream.cli.main, as an operator types them."""

from __future__ import annotations

import json
import subprocess
import sys

from shared.model.bundle import load_manifest
from signstream.cli import main


def test_operator_workflow(store_url, make_bundle, tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("SIGNSTREAM_STORE", store_url)
    private, public = tmp_path / "keys" / "op.pem", tmp_path / "keys" / "op.pub"
    assert main(["signing-key", "--private", str(private), "--public", str(public)]) == 0
    assert main(["signing-key", "--private", str(private)]) == 2  # never overwrites a key
    assert "already exists" in capsys.readouterr().err
    monkeypatch.setenv("SIGNSTREAM_SIGNING_KEY", str(private))

    for version in ("1", "2"):
        assert main(["push", str(make_bundle("tiny", version))]) == 0
    assert "pushed model tiny 2 (signed)" in capsys.readouterr().out
    assert main(["push", str(make_bundle("tiny", "2"))]) == 2
    assert "immutable" in capsys.readouterr().err

    assert main(["promote", "tiny", "1", "--by", "ann", "--public-key", str(public)]) == 0
    assert main(["promote", "tiny", "2", "--by", "bob"]) == 0
    capsys.readouterr()
    assert main(["models", "--json"]) == 0
    listing = json.loads(capsys.readouterr().out)
    (model,) = listing["models"]
    assert model["current"]["version"] == "2" and model["current"]["previous"] == "1"
    assert [v["version"] for v in model["versions"]] == ["1", "2"] and all(v["signed"] for v in model["versions"])
    assert main(["models"]) == 0
    text = capsys.readouterr().out
    assert "* 2" in text and "val_accuracy=0.900" in text and "by bob at" in text and "signed pointer" in text

    out = tmp_path / "pulled"
    assert main(["pull", "tiny", "--out", str(out), "--public-key", str(public)]) == 0
    assert load_manifest(out).version == "2"
    assert "pulled tiny 2 into" in capsys.readouterr().out
    assert main(["rollback", "tiny", "--by", "cat"]) == 0
    assert "rolled back from 2 to 1" in capsys.readouterr().out
    assert main(["pull", "tiny", "--out", str(out)]) == 2  # holds 2 now; never overwritten
    assert "not overwriting" in capsys.readouterr().err


def test_datasets_through_the_cli(tmp_path, synth_path, capsys):
    (tmp_path / "store").mkdir()
    store = (tmp_path / "store").as_uri()
    assert main(["push", str(synth_path), "--store", store, "--version", "v1"]) == 0
    assert main(["pull", "synth", "v1", "--dataset", "--store", store, "--out", str(tmp_path / "ds")]) == 0
    assert (tmp_path / "ds" / "synth.npz").read_bytes() == synth_path.read_bytes()
    assert main(["models", "--store", store]) == 0
    assert "dataset synth v1" in capsys.readouterr().out


def _run(*args):
    return subprocess.run([sys.executable, "-m", "signstream.cli", *args], capture_output=True, text=True, timeout=120)


def test_errors_are_one_line(tmp_path):
    store = (tmp_path / "store").as_uri()
    cases = [
        (["push", str(tmp_path / "nothing"), "--store", store], "no such file or folder"),
        (["pull", "tiny", "--store", store, "--out", str(tmp_path / "o")], "no such folder"),
        (["pull", "../etc", "1", "--store", store, "--out", str(tmp_path / "o")], "invalid name"),
        (["promote", "tiny", "1", "--store", "ftp://x"], "must be s3://bucket/prefix or file:///"),
        (["rollback", "tiny", "--store", store], "no such folder"),
    ]
    for args, message in cases:
        proc = _run(*args)
        assert proc.returncode == 2, (args, proc.stderr)
        assert message in proc.stderr and "Traceback" not in proc.stderr
        assert proc.stderr.strip().count("\n") == 0, proc.stderr


def test_an_unreachable_s3_store_is_one_line(tmp_path):
    import os

    from tests.moto_server import free_port, s3_environment

    env = {**os.environ, **s3_environment(f"http://127.0.0.1:{free_port()}"), "AWS_MAX_ATTEMPTS": "1"}
    proc = subprocess.run(
        [sys.executable, "-m", "signstream.cli", "models", "--store", "s3://nobody/registry"],
        capture_output=True,
        text=True,
        timeout=120,
        env=env,
    )
    assert proc.returncode == 2
    assert "s3://nobody/registry" in proc.stderr and "Traceback" not in proc.stderr
    assert proc.stderr.strip().count("\n") == 0, proc.stderr


def test_models_of_a_store_that_is_not_there_is_an_error_not_empty(tmp_path):
    """Before: ``models --store file:///missing`` said "empty"."""
    proc = _run("models", "--store", (tmp_path / "missing").as_uri())
    assert proc.returncode == 2, proc.stdout
    assert proc.stderr.strip() == f"signstream models: error: {(tmp_path / 'missing').as_uri()}: no such folder " + str(
        tmp_path / "missing"
    )
    (tmp_path / "there").mkdir()
    proc = _run("models", "--store", (tmp_path / "there").as_uri())
    assert proc.returncode == 0 and proc.stdout.strip().endswith(": empty")


def test_writes_to_a_store_folder_that_is_not_there_are_refused(tmp_path, make_bundle, synth_path):
    """Before: a typo in ``--store file:///...`` started a new registry there, silently."""
    (tmp_path / "store").mkdir()
    store = (tmp_path / "store").as_uri()
    assert _run("push", str(make_bundle("tiny", "1")), "--store", store).returncode == 0
    typo = tmp_path / "stroe"
    review = _review_file(tmp_path / "review.jsonl", ("synth:signer1", "wave"))
    cases = [
        ["push", str(make_bundle("tiny", "1"))],
        ["push", str(synth_path), "--version", "v1"],
        ["push", "--review", str(review), "--dataset", "synth", "--version", "v1"],
        ["promote", "tiny", "1"],
        ["rollback", "tiny"],
    ]
    for args in cases:
        proc = _run(*args, "--store", typo.as_uri())
        assert proc.returncode == 2, (args, proc.stdout, proc.stderr)
        (line,) = proc.stderr.splitlines()
        assert line.endswith(f"{typo.as_uri()}: no such folder {typo} (to start a new registry there, "
                             f"create the folder first: mkdir -p {typo})"), line  # fmt: skip
    assert not typo.exists()
    typo.mkdir()  # starting a new registry on purpose
    assert _run("push", str(make_bundle("tiny", "1")), "--store", typo.as_uri()).returncode == 0


def test_push_refuses_what_is_neither_a_bundle_nor_a_dataset_file(tmp_path):
    """Before: a peer's SavedModel + labels.json was uploaded as a dataset, for good."""
    peer = tmp_path / "peer_model"
    (peer / "variables").mkdir(parents=True)
    (peer / "saved_model.pb").write_bytes(b"\x08\x01")
    (peer / "labels.json").write_text('["a", "b"]')
    clip = tmp_path / "clip.mp4"
    clip.write_bytes(b"\x00\x00\x00\x18ftypmp42")
    text = tmp_path / "notes.npz"
    text.write_text("X,y\n1,2\n")
    folder = tmp_path / "clips"
    folder.mkdir()
    (folder / "a.mp4").write_bytes(b"x")
    store = tmp_path / "store"
    cases = [
        (peer, "a folder holding a SavedModel but no manifest.json: not a signstream model bundle"),
        (clip, "a .mp4 file, not a dataset .npz"),
        (text, "not a readable npz file"),
        (folder, "a folder without manifest.json (1 entries: a.mp4): not a model bundle"),
    ]
    for path, what in cases:
        proc = _run("push", str(path), "--store", store.as_uri())
        assert proc.returncode == 2, (path, proc.stdout, proc.stderr)
        (line,) = proc.stderr.splitlines()
        assert line.startswith(f"signstream push: error: {path}") and what in line, line
        assert line.endswith("push accepts a model bundle folder (with manifest.json, as train writes it) "
                             "or a dataset .npz file"), line  # fmt: skip
    assert not store.exists() or not [p for p in store.rglob("*") if p.is_file() and not p.name.startswith(".")]


def test_who_and_which_model_errors_are_one_line(tmp_path, make_bundle):
    (tmp_path / "store").mkdir()
    store = (tmp_path / "store").as_uri()
    assert _run("push", str(make_bundle("tiny", "1")), "--store", store).returncode == 0
    cases = [
        (["promote", "tiny", "1", "--store", store, "--by", "ann\nINFO forged"], "invalid --by 'ann\\nINFO forged'"),
        (["rollback", "tiny", "--store", store, "--by", "a\rb"], "give one printable line"),
        (["pull", "tny", "--store", store, "--out", str(tmp_path / "o")], "no model 'tny' (its models: tiny)"),
        (["rollback", "tny", "--store", store], "no model 'tny' (its models: tiny)"),
    ]
    for args, message in cases:
        proc = _run(*args)
        assert proc.returncode == 2, (args, proc.stderr)
        assert message in proc.stderr and proc.stderr.strip().count("\n") == 0, proc.stderr


def test_a_wrong_name_is_answered_with_what_the_store_holds(tmp_path, make_bundle, synth_path, capsys):
    """Before: a dataset pulled without --dataset, or a misspelt name given to promote or push --review, said only
    "no model NAME version V" / "no dataset NAME version V"."""
    (tmp_path / "store").mkdir()
    store = ["--store", (tmp_path / "store").as_uri()]
    assert main(["push", str(make_bundle("signs", "1")), *store]) == 0
    assert main(["push", str(synth_path), "--version", "v1", *store]) == 0
    review = _review_file(tmp_path / "review.jsonl", ("synth:signer1", "wave"))
    url = (tmp_path / "store").as_uri()
    cases = [
        (["pull", "synth", "v1", "--out", str(tmp_path / "o")],
         f"{url}: no model 'synth', but a dataset of that name exists (add --dataset to pull it)"),
        (["pull", "synth", "--out", str(tmp_path / "o")],
         f"{url}: no model 'synth', but a dataset of that name exists (add --dataset to pull it)"),
        (["promote", "sings", "1"], f"{url}: no model 'sings' (its models: signs)"),
        (["push", "--review", str(review), "--dataset", "asl_many_signer", "--version", "v1"],
         f"{url}: no dataset 'asl_many_signer' (its datasets: synth)"),
        (["pull", "signs", "1", "--dataset", "--out", str(tmp_path / "o")],
         f"{url}: no dataset 'signs', but a model of that name exists"),
    ]  # fmt: skip
    capsys.readouterr()
    for args, message in cases:
        assert main([*args, *store]) == 2, args
        assert capsys.readouterr().err.strip().endswith(f"error: {message}"), args
    assert not (tmp_path / "o").exists()


def test_models_under_a_misspelt_s3_prefix_says_what_is_there(s3_env, make_bundle):
    from tests.shared.registry.conftest import new_bucket

    bucket = new_bucket()
    assert _run("push", str(make_bundle("tiny", "1")), "--store", f"s3://{bucket}/registry").returncode == 0
    proc = _run("models", "--store", f"s3://{bucket}/regsitry")
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == (
        f"s3://{bucket}/regsitry: nothing under the prefix 'regsitry' in bucket {bucket}; "
        f"prefixes in bucket {bucket}: registry"
    )


def test_models_and_promote_say_when_a_version_was_not_validated(tmp_path, make_bundle):
    from shared.model.bundle import read_manifest, write_manifest

    (tmp_path / "store").mkdir()
    store = (tmp_path / "store").as_uri()
    bundle = make_bundle("tiny", "1")
    metrics = {"val_accuracy": None, "val_sequences": 0, "threshold_basis": "default"}
    write_manifest(bundle, read_manifest(bundle).model_copy(update={"metrics": metrics}))
    assert _run("push", str(bundle), "--store", store).returncode == 0
    listing = _run("models", "--store", store)
    assert "(not validated: accuracy on new people unknown, threshold a default)" in listing.stdout
    proc = _run("promote", "tiny", "1", "--store", store)
    assert proc.returncode == 0, proc.stderr
    assert "warning: tiny 1: not validated: accuracy on new people unknown, threshold a default" in proc.stderr


def test_models_names_the_signs_a_version_was_taught_and_whose_metrics_it_shows(tmp_path, make_bundle):
    from shared.model.bundle import read_manifest, write_manifest

    (tmp_path / "store").mkdir()
    store = (tmp_path / "store").as_uri()
    bundle = make_bundle("tiny", "2")
    m = read_manifest(bundle)
    metrics = {**m.metrics, "enrolled": {"from_version": "1", "signs": {}}}
    write_manifest(bundle, m.model_copy(update={"labels": [*m.labels, "swipe"], "enrolled": ["swipe"],
                                                "metrics": metrics}))  # fmt: skip
    assert _run("push", str(bundle), "--store", store).returncode == 0
    listing = _run("models", "--store", store)
    assert listing.returncode == 0, listing.stderr
    assert "enrolled: swipe (metrics of 1)" in listing.stdout


def _review_file(path, *blocks):
    path.write_text("".join(json.dumps({"session": s, "class": c, "action": "drop", "who": "ana", "when": "now"}) + "\n"
                            for s, c in blocks))  # fmt: skip
    return path


def test_a_review_pushed_with_its_dataset_is_listed_and_pulled(store_url, synth_path, make_bundle, tmp_path, capsys):
    import hashlib

    from shared.model.bundle import write_manifest

    store = ["--store", store_url]
    review = _review_file(tmp_path / "review.jsonl", ("synth:signer1", "wave"))
    sha = hashlib.sha256(review.read_bytes()).hexdigest()
    assert main(["push", str(synth_path), "--version", "v1", *store]) == 0
    assert main(["push", "--review", str(review), "--dataset", "synth", "--version", "v1", "--by", "ana", *store]) == 0
    said = capsys.readouterr().out
    assert f"pushed review {sha[:12]} (1 decisions: 1 dropped, 0 relabelled) of dataset synth v1" in said
    assert main(["push", "--review", str(review), "--dataset", "synth", "--version", "v1", *store]) == 0
    assert f"already stored: review {sha[:12]}" in capsys.readouterr().out

    bundle = make_bundle("tiny", "1")  # a bundle trained with that review names it in metrics.review
    manifest = load_manifest(bundle)
    manifest.metrics["review"] = {"file": "review.jsonl", "sha256": sha, "decisions": 1}
    write_manifest(bundle, manifest)
    assert main(["push", str(bundle), *store]) == 0
    capsys.readouterr()
    assert main(["models", *store]) == 0
    text = capsys.readouterr().out
    assert "dataset synth v1 (" in text and "1 files, 1 reviews)" in text
    assert f"review {sha[:12]} review.jsonl by ana at" in text and "1 decisions (1 dropped, 0 relabelled)" in text
    assert f"review={sha[:12]} (dataset synth v1)" in text
    assert main(["models", "--json", *store]) == 0
    listing = json.loads(capsys.readouterr().out)
    (dataset,) = listing["datasets"]
    assert [r["sha256"] for r in dataset["reviews"]] == [sha]
    assert dataset["reviews"][0]["dropped"] == ["synth:signer1/wave"]
    (version,) = listing["models"][0]["versions"]
    assert version["review"] == sha and version["review_of"] == "dataset synth v1"

    out = tmp_path / "ds"
    assert main(["pull", "synth", "v1", "--dataset", "--out", str(out), *store]) == 0
    assert f"with 1 reviews in {out / 'reviews'}" in capsys.readouterr().out
    assert (out / "reviews" / f"{sha}.jsonl").read_bytes() == review.read_bytes()


def test_review_refusals_are_one_line(tmp_path, synth_path):
    (tmp_path / "store").mkdir()
    store = (tmp_path / "store").as_uri()
    assert _run("push", str(synth_path), "--store", store, "--version", "v1").returncode == 0
    good = _review_file(tmp_path / "good.jsonl", ("synth:signer1", "wave"))
    bad = tmp_path / "bad.jsonl"
    bad.write_text("{not json\n")
    push = ["push", "--store", store, "--review"]
    cases = [
        ([*push, str(good), "--dataset", "synth", "--version", "v9"], "no dataset synth version v9"),
        ([*push, str(good), "--dataset", "nope", "--version", "v1"], "no dataset 'nope' (its datasets: synth)"),
        ([*push, str(bad), "--dataset", "synth", "--version", "v1"], "bad.jsonl:1: not JSON"),
        ([*push, str(tmp_path / "missing.jsonl"), "--dataset", "synth", "--version", "v1"], "cannot read the review"),
        ([*push, str(good), "--version", "v1"], "needs --dataset NAME --version V"),
        ([*push, str(good), str(synth_path), "--dataset", "synth", "--version", "v1"], "takes no PATH"),
        (["push", str(synth_path), "--store", store, "--dataset", "synth"], "--dataset names the dataset a --review"),
        (["push", "--store", store], "push needs a PATH"),
    ]
    for args, message in cases:
        proc = _run(*args)
        assert proc.returncode == 2, (args, proc.stderr)
        assert message in proc.stderr and "Traceback" not in proc.stderr, (args, proc.stderr)
        assert proc.stderr.strip().count("\n") == 0, proc.stderr
    assert not list((tmp_path / "store" / "datasets" / "synth" / "v1").glob("reviews/*"))
