"""What an install gets: the product packages, never the benchmarks or the tests."""

import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.slow
def test_the_wheel_holds_the_product_packages_and_no_benchmark(tmp_path):
    src = tmp_path / "src"  # a copy: setuptools' build/ in the checkout could hold files since removed
    skip = shutil.ignore_patterns("__pycache__", "*.pyc", ".venv*", "build", "*.egg-info")
    for name in ("shared", "edge_client", "cloud_server", "signstream", "bench", "tests", "scripts"):
        shutil.copytree(ROOT / name, src / name, ignore=skip)
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(ROOT / name, src / name)
    pip = [sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps", "--no-build-isolation"]
    subprocess.run([*pip, "-w", str(tmp_path / "dist"), str(src)], check=True, timeout=300)
    (wheel,) = (tmp_path / "dist").glob("signstream-*.whl")
    tops = {name.split("/")[0] for name in zipfile.ZipFile(wheel).namelist() if not name.startswith("signstream-")}
    assert tops == {"shared", "edge_client", "cloud_server", "signstream"}
