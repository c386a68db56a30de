"""The sync timer's service follows the registry's current pointer (a real file:// registry)."""

from __future__ import annotations

import os
import shlex
import shutil
import subprocess
from pathlib import Path

from tests.deploy.conftest import make_bundle


def unit_command(unit: Path, key: str, env: dict[str, str]) -> list[str]:
    """``key``'s command line from a unit file, with ${VAR} expanded from ``env`` as systemd would."""
    line = next(line for line in unit.read_text().splitlines() if line.startswith(f"{key}="))
    words = shlex.split(line.split("=", 1)[1])
    return [env.get(w[2:-1], "") if w.startswith("${") and w.endswith("}") else w for w in words]


def test_sync_service_follows_promote_and_rollback(installed: tuple[Path, dict[str, str]], tmp_path: Path) -> None:
    from shared.registry.registry import Registry
    from shared.registry.store import open_store

    root, _ = installed
    (tmp_path / "registry").mkdir()
    store = (tmp_path / "registry").as_uri()
    registry = Registry(open_store(store))  # the operator's side, in-process
    env = {"PATH": "/usr/bin:/bin", "HOME": str(tmp_path), "SIGNSTREAM_STORE": store, "SIGNSTREAM_SYNC_MODEL": "signs"}

    def sync(environ: dict[str, str] = env) -> subprocess.CompletedProcess:
        command = unit_command(root / "etc/systemd/system/signstream-edge-sync.service", "ExecStart", environ)
        return subprocess.run(command, capture_output=True, text=True, env=environ, cwd=tmp_path, timeout=300)

    models = root / "var/lib/signstream/edge/models"
    current = models / "signs" / "current"
    try:
        for version in ("1", "2"):
            registry.push_bundle(make_bundle(tmp_path / f"b{version}", "signs", version))
        registry.promote("signs", "1", by="test")
        proc = sync()
        assert proc.returncode == 0, proc.stderr
        assert os.readlink(current) == "1"
        assert (current / "manifest.json").is_file()

        registry.promote("signs", "2", by="test")
        assert sync().returncode == 0
        assert os.readlink(current) == "2"
        registry.rollback("signs", by="test")
        proc = sync()
        assert proc.returncode == 0, proc.stderr
        assert os.readlink(current) == "1"
        kept = sorted(p.name for p in (models / "signs").iterdir() if not p.name.startswith("."))
        assert kept == ["1", "2", "current"]  # a rollback needs no download; versions are kept

        # The registry out of reach: one line, exit 1, the last good version stays current.
        proc = sync({**env, "SIGNSTREAM_STORE": (tmp_path / "gone").as_uri()})
        assert proc.returncode == 1
        assert proc.stderr.count("\n") == 1 and proc.stderr.startswith("sync_model: "), proc.stderr
        assert os.readlink(current) == "1"
    finally:
        shutil.rmtree(models / "signs", ignore_errors=True)  # leave the shared root as installed
