"""Fixtures for the deployment tests: the installers run for real into scratch roots.

Every installer run uses ``--venv-from`` the test venv, so the virtualenv, the ``pip install --no-deps``
of the package, the units and env files are the real ones while the pinned dependencies (gigabytes
of TensorFlow and MediaPipe) are borrowed instead of downloaded.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import ROOT

SCRIPTS = ROOT / "scripts"
# What an installation needs from a checkout (the installer installs the package from it).
SOURCE_PARTS = ["pyproject.toml", "README.md", "requirements-server.txt", "requirements-edge.txt", "shared",
                "signstream", "edge_client", "cloud_server", "deploy", "docs/deploy.md"]  # fmt: skip
BASE_PYTHON = str(Path(sys._base_executable).resolve())  # the Python 3.11 behind the test venv
VENV = Path(sys.prefix)


def copy_source(dest: Path) -> Path:
    """Copy the parts of this working tree an installation needs to ``dest`` (no caches)."""
    for part in SOURCE_PARTS:
        src = ROOT / part
        if src.is_dir():
            shutil.copytree(src, dest / part, ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
        else:
            (dest / part).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(src, dest / part)
    return dest


def run_script(
    name: str, *args: str | Path, check: bool = True, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess:
    """Run scripts/NAME with ``args``; with ``check``, fail the test with its output unless it exits 0."""
    env = {**os.environ, "SIGNSTREAM_NO_GOOGLE": "1", "PYTHONDONTWRITEBYTECODE": "1", **(env or {})}
    env.pop("SUDO_USER", None)
    proc = subprocess.run(
        ["bash", str(SCRIPTS / name), *map(str, args)], capture_output=True, text=True, env=env, timeout=600
    )
    if check and proc.returncode != 0:
        pytest.fail(f"{name} {' '.join(map(str, args))} exited {proc.returncode}:\n{proc.stdout}\n{proc.stderr}")
    return proc


def install(
    side: str, root: Path, source: Path, *extra: str, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess:
    """Run install-SIDE.sh into ``root`` from ``source`` with the test venv's dependencies."""
    args = ["--root", root, "--source", source, "--venv-from", VENV, "--python", BASE_PYTHON, *extra]
    return run_script(f"install-{side}.sh", *args, env=env)


def snapshot(root: Path) -> dict[str, tuple]:
    """Every path under ``root``: (mode, sha256 of a file or target of a symlink), to compare two runs."""
    found = {}
    for dirpath, dirnames, filenames in os.walk(root):
        for name in dirnames + filenames:
            path = Path(dirpath) / name
            st = path.lstat()
            if stat.S_ISLNK(st.st_mode):
                what = ("link", os.readlink(path))
            elif stat.S_ISREG(st.st_mode):
                what = ("file", hashlib.sha256(path.read_bytes()).hexdigest())
            else:
                what = ("dir",)
            found[str(path.relative_to(root))] = (stat.S_IMODE(st.st_mode), *what)
    return found


def mode(path: Path) -> int:
    return stat.S_IMODE(path.lstat().st_mode)


@pytest.fixture(scope="session")
def source(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A plain copy of this checkout (not a git repository: the installer copies the folder)."""
    return copy_source(tmp_path_factory.mktemp("source"))


@pytest.fixture(scope="session")
def installed(tmp_path_factory: pytest.TempPathFactory, source: Path) -> tuple[Path, dict[str, str]]:
    """One scratch root with both sides installed (kiosk for user 'kiosk'); the root and each run's stdout."""
    root = tmp_path_factory.mktemp("root")
    out = {
        "server": install("server", root, source).stdout,
        "edge": install("edge", root, source, "--kiosk-user", "kiosk", "--browser", "/usr/bin/chromium").stdout,
    }
    return root, out


def make_bundle(folder: Path, name: str, version: str) -> Path:
    """A small bundle folder the registry accepts (manifest with every file's sha256); no model inside."""
    from shared.contract.spec import FeatureSpec
    from shared.model.bundle import Manifest, now_iso, write_manifest

    (folder / "saved_model").mkdir(parents=True)
    (folder / "saved_model" / "saved_model.pb").write_bytes(f"graph {name} {version}".encode() * 40)
    (folder / "model.tflite").write_bytes(os.urandom(1024))
    write_manifest(folder, Manifest(name=name, version=version, created=now_iso(), spec=FeatureSpec(),
                                    labels=["hello", "thanks"]))  # fmt: skip
    return folder
