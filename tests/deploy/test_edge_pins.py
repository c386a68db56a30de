"""requirements-edge.txt installs on a Raspberry Pi: every line an exact pin, every pin a wheel for arm64.

The wheel checks ask PyPI (`pip download` for a foreign platform); without it they skip (fail under CI).
"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest
from packaging.utils import canonicalize_name, parse_wheel_filename
from packaging.version import Version

from tests.conftest import ROOT, skip_or_fail

REQUIREMENTS = ROOT / "requirements-edge.txt"
# Raspberry Pi OS (arm64) releases the kiosk supports: Python version -> the glibc 2.X it ships.
PI_PYTHONS = {"3.11": 36, "3.13": 41}  # Bookworm, Trixie
EXACT_PIN = re.compile(r"^([A-Za-z0-9][A-Za-z0-9._-]*)==([A-Za-z0-9][A-Za-z0-9.+!_-]*)$")
NO_WHEEL = "No matching distribution found"


def read_pins(requirements: Path) -> dict[str, str]:
    """The ``name==version`` pins of a requirements file, name as written -> version.

    Comments and blank lines are skipped; any other line (a range, a marker, an extra, an option) or a
    name pinned twice raises ValueError.
    """
    pins: dict[str, str] = {}
    seen: set[str] = set()
    for number, raw in enumerate(requirements.read_text().splitlines(), 1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        match = EXACT_PIN.match(line)
        if not match:
            raise ValueError(f"{requirements.name}:{number}: not an exact name==version pin: {line!r}")
        name, version = match.groups()
        if canonicalize_name(name) in seen:
            raise ValueError(f"{requirements.name}:{number}: {name} is pinned twice")
        seen.add(canonicalize_name(name))
        pins[name] = version
    return pins


def pip_download_for_pi(
    python: str, glibc: int, dest: Path, *requirements: str, deps: bool = False
) -> subprocess.CompletedProcess:
    """`pip download` of wheels only for Linux aarch64, CPython ``python``, glibc up to 2.``glibc``.

    ``requirements`` are pip's arguments (``"-r", path``, pins, other options); ``deps`` also fetches
    their dependencies (`--no-deps` without it).
    """
    abi = "cp" + python.replace(".", "")
    platforms = [f"manylinux_2_{minor}_aarch64" for minor in range(glibc, 16, -1)] + ["manylinux2014_aarch64"]
    args = [sys.executable, "-m", "pip", "download", "--quiet", "--disable-pip-version-check"]
    args += [] if deps else ["--no-deps"]
    args += ["--only-binary=:all:", *(arg for tag in platforms for arg in ("--platform", tag))]
    args += ["--python-version", python, "--implementation", "cp", "--abi", abi, "--abi", "abi3", "--abi", "none"]
    return subprocess.run([*args, "-d", str(dest), *requirements], capture_output=True, text=True, timeout=600)


def pins_without_pi_wheel(requirements: Path, python: str, glibc: int, dest: Path) -> list[str]:
    """The pins of ``requirements`` that have no wheel for a Raspberry Pi, as ``name==version`` in file order.

    One `pip download` for the whole file; only when it fails (pip stops at the first pin it cannot
    find), one per pin, so every missing pin is named. The wheels found land in ``dest``.
    """
    pins = read_pins(requirements)
    whole = pip_download_for_pi(python, glibc, dest, "-r", str(requirements))
    if whole.returncode != 0:
        for name, version in pins.items():
            one = pip_download_for_pi(python, glibc, dest, f"{name}=={version}")
            if one.returncode != 0 and NO_WHEEL not in one.stderr:
                raise RuntimeError(f"pip download {name}=={version} failed:\n{one.stdout}\n{one.stderr}")
    wheels = {parse_wheel_filename(path.name)[:2] for path in dest.glob("*.whl")}
    return [
        f"{name}=={version}"
        for name, version in pins.items()
        if (canonicalize_name(name), Version(version)) not in wheels
    ]


@pytest.fixture(scope="module")
def pypi(tmp_path_factory: pytest.TempPathFactory) -> None:
    """Skip (fail under CI) unless PyPI answers: one small pin's aarch64 wheel must download."""
    tmp = tmp_path_factory.mktemp("pypi-probe")
    probe = tmp / "probe.txt"
    probe.write_text("MarkupSafe==3.0.4\n")
    try:
        missing = pins_without_pi_wheel(probe, "3.13", PI_PYTHONS["3.13"], tmp)
    except (RuntimeError, subprocess.TimeoutExpired) as err:
        missing = [str(err)]
    if missing:
        skip_or_fail(f"needs PyPI: no aarch64 wheel of MarkupSafe==3.0.4 came down ({missing})")


def test_requirements_edge_is_exact_pins() -> None:
    pins = read_pins(REQUIREMENTS)  # raises on any other line
    assert {"mediapipe", "ai-edge-litert", "numpy"} <= set(pins)


@pytest.mark.parametrize(
    "line",
    [
        "numpy>=2.0",
        "numpy==2.*",
        "numpy",
        "moto[server]==5.1.0",
        "numpy==2.4.6; python_version<'3.12'",
        "-r other.txt",
        "numpy==2.4.6  # why",
    ],
)
def test_read_pins_refuses_anything_but_exact_pins(tmp_path: Path, line: str) -> None:
    path = tmp_path / "req.txt"
    path.write_text(f"# a comment\n\nsix==1.17.0\n{line}\n")
    with pytest.raises(ValueError, match=r"req\.txt:4"):
        read_pins(path)


def test_read_pins_refuses_a_name_pinned_twice(tmp_path: Path) -> None:
    path = tmp_path / "req.txt"
    path.write_text("typing_extensions==4.16.0\ntyping-extensions==4.15.0\n")
    with pytest.raises(ValueError, match="pinned twice"):
        read_pins(path)


@pytest.mark.slow  # three `pip download` runs, about 5 s
def test_a_pin_without_a_pi_wheel_is_named(pypi: None, tmp_path: Path) -> None:
    # ai-edge-litert 1.4.0 has aarch64 wheels up to cp312 only; MarkupSafe 3.0.4 has one for cp313.
    path = tmp_path / "req.txt"
    path.write_text("MarkupSafe==3.0.4\nai-edge-litert==1.4.0\n")
    assert pins_without_pi_wheel(path, "3.13", PI_PYTHONS["3.13"], tmp_path) == ["ai-edge-litert==1.4.0"]


@pytest.mark.slow
@pytest.mark.parametrize("python", sorted(PI_PYTHONS))
def test_every_edge_pin_has_a_pi_wheel(pypi: None, tmp_path: Path, python: str) -> None:
    missing = pins_without_pi_wheel(REQUIREMENTS, python, PI_PYTHONS[python], tmp_path)
    assert not missing, (
        f"no manylinux aarch64 wheel for CPython {python}, glibc 2.{PI_PYTHONS[python]} (Raspberry Pi OS): {missing}"
    )
    # The file is the whole install: the pins' dependencies resolve from the pinned wheels alone.
    local = ["--no-index", "--find-links", str(tmp_path), "-r", str(REQUIREMENTS)]
    closed = pip_download_for_pi(python, PI_PYTHONS[python], tmp_path, *local, deps=True)
    assert closed.returncode == 0, f"a dependency is not pinned, or pins conflict (CPython {python}):\n{closed.stderr}"
