"""The rendered units pass `systemd-analyze verify` (Debian's systemd) where the executables they name exist."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from tests.conftest import require_binary

SYSTEM_UNITS = [
    "signstream-server.service",
    "signstream-server-sync.service",
    "signstream-server-sync.timer",
    "signstream-edge.service",
    "signstream-edge-sync.service",
    "signstream-edge-sync.timer",
]


def verify(units: list[Path], tmp_path: Path, user: bool = False) -> subprocess.CompletedProcess:
    """systemd-analyze verify on unit files (the user manager's view with ``user``)."""
    exe = require_binary("systemd-analyze")
    env = dict(os.environ)
    if user:  # a user manager needs a runtime folder; give it a private one
        runtime = tmp_path / "runtime"
        runtime.mkdir(mode=0o700, exist_ok=True)
        env["XDG_RUNTIME_DIR"] = str(runtime)
    args = [exe, *(["--user"] if user else []), "verify", *map(str, units)]
    return subprocess.run(args, capture_output=True, text=True, env=env, timeout=120)


def test_system_units_verify(installed: tuple[Path, dict[str, str]], tmp_path: Path) -> None:
    root, _ = installed
    units = [root / "etc/systemd/system" / name for name in SYSTEM_UNITS]
    proc = verify(units, tmp_path)
    # Any line is a finding (unknown keys and bad values are only warnings with exit 0).
    assert (proc.returncode, proc.stdout + proc.stderr) == (0, "")


def test_kiosk_user_unit_verifies(installed: tuple[Path, dict[str, str]], tmp_path: Path) -> None:
    require_binary("chromium")  # the unit's ExecStart
    root, _ = installed
    proc = verify([root / "etc/systemd/user/signstream-kiosk.service"], tmp_path, user=True)
    assert (proc.returncode, proc.stdout + proc.stderr) == (0, "")


@pytest.mark.parametrize(
    ("old", "new", "finding"),
    [
        ("/venv/bin/signstream serve", "/venv/bin/missing serve", "is not executable"),
        ("Restart=on-failure", "Restart=sometimes", "Failed to parse"),
        ("NoNewPrivileges=true", "NoNewPrivilege=true", "Unknown key"),
    ],
)
def test_verify_catches_a_broken_unit(
    installed: tuple[Path, dict[str, str]], tmp_path: Path, old: str, new: str, finding: str
) -> None:
    """The check above is not vacuous: the same unit with one mistake is reported."""
    root, _ = installed
    text = (root / "etc/systemd/system/signstream-server.service").read_text()
    assert text.count(old) == 1
    broken = tmp_path / "signstream-server.service"
    broken.write_text(text.replace(old, new))
    proc = verify([broken], tmp_path)
    assert finding in proc.stdout + proc.stderr
