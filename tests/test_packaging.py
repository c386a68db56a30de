"""What an install gets: the product packages, never the benchmarks or the tests."""

import subprocess
import sys
import zipfile

import pytest


@pytest.mark.slow
def test_the_wheel_holds_the_product_packages_and_no_benchmark(tmp_path):
    pip = [sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps", "--no-build-isolation"]
    subprocess.run([*pip, "-w", str(tmp_path), "."], check=True, timeout=300)
    (wheel,) = tmp_path.glob("signstream-*.whl")
    tops = {name.split("/")[0] for name in zipfile.ZipFile(wheel).namelist() if not name.startswith("signstream-")}
    assert tops == {"shared", "edge_client", "cloud_server", "signstream"}
