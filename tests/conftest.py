"""Shared fixtures. Real-data tests find ../shared/data through SIGN_DATA_DIR."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import numpy as np
import pytest

from shared.datasets.dataset import save_dataset
from shared.datasets.synth import generate

ROOT = Path(__file__).resolve().parents[1]


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("signstream")
    group.addoption(
        "--record-passed",
        metavar="FILE",
        help="append the id of every test that passes to FILE (one per line)",
    )
    group.addoption(
        "--skip-passed",
        metavar="FILE",
        help="deselect the tests FILE lists as passed (CI: the edge venv ran them on the same pins)",
    )


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    path = config.getoption("--skip-passed")
    if not path:
        return
    passed = set(Path(path).read_text(encoding="utf-8").splitlines())
    done = [item for item in items if item.nodeid in passed]
    if done:
        config.hook.pytest_deselected(items=done)
        items[:] = [item for item in items if item.nodeid not in passed]


class _PassedRecorder:
    """Appends the id of each test whose call passed to a file (read back by ``--skip-passed``)."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        if report.when == "call" and report.passed:
            with self.path.open("a", encoding="utf-8") as f:
                f.write(report.nodeid + "\n")


def pytest_configure(config: pytest.Config) -> None:
    path = config.getoption("--record-passed")
    if path:
        config.pluginmanager.register(_PassedRecorder(Path(path)), "signstream-record-passed")


def skip_or_fail(reason: str) -> None:
    """Skip with ``reason`` (which says how to enable the test); under CI=true a skip is a failure."""
    if os.environ.get("CI") == "true":
        pytest.fail(f"CI must run this test: {reason}")
    pytest.skip(reason)


@pytest.fixture(scope="session")
def sign_data() -> Path:
    """The real data folder (../shared/data), from SIGN_DATA_DIR."""
    value = os.environ.get("SIGN_DATA_DIR")
    if not value or not (Path(value) / "landmarks").is_dir():
        skip_or_fail("needs real data: set SIGN_DATA_DIR to the absolute path of ../shared/data")
    return Path(value)


def require_binary(name: str) -> str:
    """Path of a system binary, or skip (fail under CI) saying how to install it."""
    path = shutil.which(name)
    if not path:
        skip_or_fail(f"needs {name}: apt-get install {name} (.ci/run does)")
    return path


@pytest.fixture(scope="session")
def synth_path(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A small synthetic dataset file: 4 classes, 4 signers."""
    path = tmp_path_factory.mktemp("data") / "synth.npz"
    save_dataset(path, generate(classes=4, per_class=24, signers=4, seed=1))
    return path


@pytest.fixture(scope="session")
def tiny_bundle(tmp_path_factory: pytest.TempPathFactory, synth_path: Path) -> Path:
    """A bundle trained for a few epochs on the synthetic dataset (slow: ~20 s; skipped without TensorFlow)."""
    pytest.importorskip("tensorflow")
    from cloud_server.training.model import ModelConfig
    from cloud_server.training.train import TrainConfig, train_bundle

    out = tmp_path_factory.mktemp("bundles") / "tiny"
    config = TrainConfig(epochs=6, model=ModelConfig(width=32, blocks=1))
    train_bundle([synth_path], out, config=config, name="tiny", version="1")
    return out


@pytest.fixture(scope="session")
def msl_bundle(tmp_path_factory: pytest.TempPathFactory, sign_data: Path) -> Path:
    """A small model trained on msl_msl150.npz (3 epochs name every MSL clip; slow: ~15-40 s)."""
    pytest.importorskip("tensorflow")
    from cloud_server.training.model import ModelConfig
    from cloud_server.training.train import TrainConfig, train_bundle

    out = tmp_path_factory.mktemp("msl") / "msl"
    config = TrainConfig(epochs=3, model=ModelConfig(width=32, blocks=1))
    train_bundle([sign_data / "landmarks" / "msl_msl150.npz"], out, config=config, name="msl", version="1")
    return out


@pytest.fixture
def rng() -> np.random.Generator:
    return np.random.default_rng(0)
