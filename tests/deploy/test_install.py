"""The installers and the uninstaller, run for real into scratch roots."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

from tests.deploy.conftest import BASE_PYTHON, VENV, copy_source, install, mode, run_script, snapshot

SERVER_UNITS = ["signstream-server.service", "signstream-server-sync.service", "signstream-server-sync.timer"]
EDGE_UNITS = ["signstream-edge.service", "signstream-edge-sync.service", "signstream-edge-sync.timer"]


def installed_info(root: Path, side: str) -> dict[str, str]:
    text = (root / "opt/signstream" / side / "install.txt").read_text()
    return dict(line.split("=", 1) for line in text.splitlines())


def test_server_layout_and_modes(installed: tuple[Path, dict[str, str]]) -> None:
    root, out = installed
    assert "skipped (--root is not /): useradd --system signstream-server" in out["server"]
    env = root / "etc/signstream/server.env"
    assert mode(env) == 0o640
    # Created from the example, with the prefix in its paths.
    assert env.read_text() == (root / "opt/signstream/server/share/server.env.example").read_text()
    assert f"SIGNSTREAM_SERVER_KEYS_FILE={root}/var/lib/signstream/server/keys/keys.json" in env.read_text()
    data = root / "var/lib/signstream/server"
    assert {p.name: mode(p) for p in data.iterdir()} == {"models": 0o750, "cache": 0o750, "keys": 0o700}
    assert mode(data) == 0o750
    for unit in SERVER_UNITS:
        assert mode(root / "etc/systemd/system" / unit) == 0o644
    unit = (root / "etc/systemd/system/signstream-server.service").read_text()
    assert f"ExecStart={root}/opt/signstream/server/venv/bin/signstream serve" in unit
    assert f"EnvironmentFile={root}/etc/signstream/server.env" in unit
    assert f"ReadWritePaths={root}/var/lib/signstream/server\n" in unit
    assert "@" not in unit.replace("@system-service", "")  # every placeholder rendered
    # Enabled offline (a symlink under the root); the sync timer only with --sync-timer.
    wants = root / "etc/systemd/system/multi-user.target.wants"
    assert (wants / "signstream-server.service").readlink() == Path("/etc/systemd/system/signstream-server.service")
    assert not (root / "etc/systemd/system/timers.target.wants").exists()
    info = installed_info(root, "server")
    assert info["requirements"] == f"venv-from:{VENV}"
    assert len(info["source_sha256"]) == 64


def test_installed_console_script_runs(installed: tuple[Path, dict[str, str]], tmp_path: Path) -> None:
    root, _ = installed
    bin_dir = root / "opt/signstream/server/venv/bin"
    # The package is really installed in the new virtualenv, not borrowed from the test venv.
    # (cwd elsewhere: `python -c` puts the current folder, here the checkout, first on sys.path.)
    where = subprocess.run([bin_dir / "python", "-c", "import shared; print(shared.__file__)"],
                           capture_output=True, text=True, check=True, cwd=tmp_path).stdout  # fmt: skip
    assert where.startswith(str(root / "opt/signstream/server/venv/lib"))
    # `signstream keys add` as the docs say, into the data folder; the file stays private.
    keys = root / "var/lib/signstream/server/keys/keys.json"
    proc = subprocess.run([bin_dir / "signstream", "keys", "add", "kiosk-test", "--file", keys],
                          capture_output=True, text=True)  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip()
    assert mode(keys) == 0o600
    # The unit's command with the installed env file: refuses to start without a model, in one line.
    env = dict(line.split("=", 1) for line in (root / "etc/signstream/server.env").read_text().splitlines()
               if line and not line.startswith("#"))  # fmt: skip
    proc = subprocess.run([bin_dir / "signstream", "serve"], capture_output=True, text=True, timeout=60,
                          env={"PATH": "/usr/bin:/bin", "HOME": str(tmp_path), **env})  # fmt: skip
    assert proc.returncode != 0
    assert proc.stderr.strip().count("\n") == 0, proc.stderr
    assert "a model is required" in proc.stderr
    keys.unlink()  # leave the shared root as installed


def test_edge_layout_and_modes(installed: tuple[Path, dict[str, str]]) -> None:
    root, out = installed
    assert "useradd --system signstream-edge (groups: video)" in out["edge"]
    assert mode(root / "etc/signstream/edge.env") == 0o640
    assert mode(root / "etc/signstream/kiosk.env") == 0o644
    assert (root / "etc/signstream/kiosk.env").read_text().count("SIGNSTREAM_KIOSK_URL=http://127.0.0.1:8080/") == 1
    data = root / "var/lib/signstream/edge"
    assert {p.name: mode(p) for p in data.iterdir()} == {
        "models": 0o750, "cache": 0o750, "recordings": 0o750}  # fmt: skip
    # The HandLandmarker model is prepared into the service's cache (real zip files).
    for variant in ("full", "lite"):
        task = data / "cache" / f"hand_landmarker_{variant}.task"
        assert task.read_bytes()[:2] == b"PK"
    unit = (root / "etc/systemd/system/signstream-edge.service").read_text()
    for line in ("Type=notify", "WatchdogSec=30", "Restart=always", "User=signstream-edge",
                 "Wants=network-online.target dev-video0.device", "After=network-online.target dev-video0.device",
                 f"ExecStart={root}/opt/signstream/edge/venv/bin/signstream edge"):  # fmt: skip
        assert f"\n{line}\n" in unit
    kiosk = (root / "etc/systemd/user/signstream-kiosk.service").read_text()
    assert "\nConditionUser=kiosk\n" in kiosk
    assert "ExecStart=/usr/bin/chromium --kiosk " in kiosk
    assert f"EnvironmentFile={root}/etc/signstream/kiosk.env" in kiosk
    assert (root / "etc/systemd/user/graphical-session.target.wants/signstream-kiosk.service").is_symlink()
    assert (root / "etc/xdg/autostart/signstream-kiosk.desktop").is_file()


def test_second_run_changes_nothing(installed: tuple[Path, dict[str, str]], source: Path, tmp_path: Path) -> None:
    root, _ = installed
    before = snapshot(root)
    assert len(before) > 50
    scratch = {"TMPDIR": str(tmp_path)}
    edge_args = ["--kiosk-user", "kiosk", "--browser", "/usr/bin/chromium"]
    again = (
        install("server", root, source, env=scratch).stdout
        + install("edge", root, source, *edge_args, env=scratch).stdout
    )
    assert snapshot(root) == before
    assert list(tmp_path.iterdir()) == []  # no temporary file left behind
    # and nothing outside the root: the machine's own folders hold no signstream installation
    outside = ["/opt/signstream", "/etc/signstream", "/var/lib/signstream"]
    outside += ["/etc/systemd/system/signstream-server.service", "/etc/systemd/user/signstream-kiosk.service"]
    for path in outside:
        assert not Path(path).exists(), path
    assert "installing signstream" not in again
    assert "try-restart" not in again  # nothing changed, so a running service would not be restarted
    assert f"kept {root}/etc/signstream/server.env" in again


def test_operator_env_file_is_never_replaced(installed: tuple[Path, dict[str, str]], source: Path) -> None:
    root, _ = installed
    env = root / "etc/signstream/server.env"
    original = env.read_bytes()
    try:
        env.write_text("SIGNSTREAM_SERVER_PORT=9000\n")
        env.chmod(0o600)
        out = install("server", root, source).stdout
        assert env.read_text() == "SIGNSTREAM_SERVER_PORT=9000\n"
        assert mode(env) == 0o600
        assert "warning" not in out
        env.chmod(0o644)  # readable by everyone: said, not silently changed
        out = install("server", root, source).stdout
        assert f"warning: {env} is readable by every user" in out
        assert mode(env) == 0o644
    finally:
        env.write_bytes(original)
        env.chmod(0o640)


def test_uninstall_keeps_data_and_reinstall_picks_it_up(
    installed: tuple[Path, dict[str, str]], tmp_path: Path, source: Path
) -> None:
    root = tmp_path / "root"
    shutil.copytree(installed[0], root, symlinks=True)
    install("edge", root, source, "--kiosk-user", "kiosk", "--skip-hand-task", "--sync-timer")
    assert (root / "etc/systemd/system/timers.target.wants/signstream-edge-sync.timer").is_symlink()
    data = {
        "etc/signstream/server.env": b"SIGNSTREAM_SERVER_PORT=9000\n",
        "etc/signstream/edge.env": b"SIGNSTREAM_EDGE_SERVER=https://signs.test\n",
        "var/lib/signstream/server/keys/keys.json": b'{"keys": []}',
        "var/lib/signstream/server/models/signs/3/manifest.json": b"{}",
        "var/lib/signstream/edge/recordings/clip.npz": b"landmarks",
        "var/lib/signstream/edge/models/signs/3/model.tflite": b"tflite",
    }
    for rel, content in data.items():
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_bytes(content)

    out = run_script("uninstall.sh", "--root", root).stdout
    assert "removed signstream-server.service" in out and "removed signstream-edge.service" in out
    assert "removed signstream-kiosk.service" in out
    assert not (root / "opt/signstream").exists()
    left = {str(p.relative_to(root)) for p in (root / "etc/systemd").rglob("*") if not p.is_dir()}
    assert left == set()  # units and their enable symlinks are gone
    for rel, content in data.items():
        assert (root / rel).read_bytes() == content, rel
    assert mode(root / "var/lib/signstream/server/keys") == 0o700

    run_script("uninstall.sh", "--root", root)  # twice is fine
    install("server", root, source)
    assert (root / "etc/signstream/server.env").read_bytes() == data["etc/signstream/server.env"]
    assert (root / "var/lib/signstream/server/keys/keys.json").read_bytes() == data[
        "var/lib/signstream/server/keys/keys.json"
    ]
    assert (root / "etc/systemd/system/multi-user.target.wants/signstream-server.service").is_symlink()


def test_no_kiosk_removes_the_browser_unit(
    installed: tuple[Path, dict[str, str]], tmp_path: Path, source: Path
) -> None:
    root = tmp_path / "root"
    shutil.copytree(installed[0], root, symlinks=True)
    out = install("edge", root, source, "--no-kiosk", "--skip-hand-task").stdout
    assert "removed the kiosk browser unit (--no-kiosk)" in out
    assert not (root / "etc/systemd/user/signstream-kiosk.service").exists()
    assert not (root / "etc/systemd/user/graphical-session.target.wants").exists()
    assert not (root / "etc/xdg/autostart/signstream-kiosk.desktop").exists()
    assert (root / "etc/signstream/kiosk.env").is_file()  # settings stay
    assert (root / "etc/systemd/system/signstream-edge.service").is_file()


@pytest.mark.slow
def test_rerun_from_another_tag_replaces_the_code(installed: tuple[Path, dict[str, str]], tmp_path: Path) -> None:
    """Update and roll back: check out a tag, run the installer again (docs/deploy.md)."""
    root = tmp_path / "root"
    shutil.copytree(installed[0], root, symlinks=True)
    repo = copy_source(tmp_path / "repo")
    marker = repo / "shared" / "deploy_marker.py"

    def git(*args: str) -> str:
        return subprocess.run(["git", "-C", repo, "-c", "user.name=t", "-c", "user.email=t@t", *args],
                              capture_output=True, text=True, check=True).stdout.strip()  # fmt: skip

    git("init", "-q")
    marker.write_text("RELEASE = 1\n")
    git("add", "-A")
    git("commit", "-qm", "v1")
    git("tag", "v1")
    marker.write_text("RELEASE = 2\n")
    git("commit", "-qam", "v2")
    v1, v2 = git("rev-parse", "v1"), git("rev-parse", "HEAD")

    def release() -> str:
        code = "import shared.deploy_marker as m; print(m.RELEASE)"
        python = root / "opt/signstream/server/venv/bin/python"
        proc = subprocess.run([python, "-c", code], capture_output=True, text=True, check=True, cwd=tmp_path)
        return proc.stdout.strip()

    out = install("server", root, repo).stdout
    assert "creating the virtualenv" not in out  # same Python and requirements: only the code changes
    assert (release(), installed_info(root, "server")["source_commit"]) == ("2", v2)
    git("checkout", "-q", "v1")
    marker.write_text("RELEASE = 'uncommitted'\n")  # a dirty tree installs its commit, and says so
    out = install("server", root, repo).stdout
    assert "installing signstream" in out and "try-restart signstream-server.service" in out
    assert "uncommitted changes; installing commit" in out
    assert (release(), installed_info(root, "server")["source_commit"]) == ("1", v1)


@pytest.mark.parametrize(
    ("script", "args", "message"),
    [
        ("install-server.sh", ["--bogus"], "unknown option '--bogus'"),
        ("install-server.sh", ["--root"], "--root needs a value"),
        ("install-server.sh", ["--root", "/tmp/has space"], "--root must be a path"),
        ("install-server.sh", ["--python", "/nonexistent/python3.11"], "no Python at"),
        ("install-server.sh", ["--source", "/nonexistent"], "is not a signstream checkout"),
        ("install-server.sh", ["--venv-from", "/nonexistent"], "is not a virtualenv"),
        ("install-edge.sh", ["--kiosk-user", "Bad User"], "--kiosk-user must be a user name"),
        ("install-edge.sh", ["--camera", "video0"], "--camera must be a /dev path"),
        ("uninstall.sh", ["--side"], "unknown option '--side'"),
    ],
)
def test_bad_input_is_one_clear_line(tmp_path: Path, script: str, args: list[str], message: str) -> None:
    root = tmp_path / "root"
    extra = [] if script == "uninstall.sh" or "--root" in args else ["--root", str(root)]
    if script != "uninstall.sh" and "--python" not in args:
        extra += ["--python", BASE_PYTHON]
    proc = run_script(script, *extra, *args, check=False)
    assert proc.returncode == 2
    assert proc.stderr.count("\n") == 1, proc.stderr
    assert message in proc.stderr
    assert not root.exists()


def test_uninstall_of_nothing_is_fine(tmp_path: Path) -> None:
    proc = run_script("uninstall.sh", "--root", tmp_path)
    assert "nothing to remove" in proc.stdout


def fake_python(folder: Path, version: str, *, venv: bool = True) -> Path:
    """An interpreter that tells the installers' version check it is Python ``version``.

    A shell script ``folder/python3``: it answers the probe scripts/install-lib.sh asks (a ``-c`` program
    printing ``sys.version_info``) with ``version`` and runs the test venv's base Python for anything
    else, so an accepted one installs for real. Without ``venv`` it fails the ``import venv, ensurepip``
    check, like Debian's python3 without the python3-venv package.
    """
    folder.mkdir(parents=True, exist_ok=True)
    no_venv = "" if venv else '  *"import venv"*) exit 1 ;;\n'
    path = folder / "python3"
    path.write_text(
        "#!/bin/sh\n"
        'case "$*" in\n'
        f"  *version_info*) echo {version}; exit 0 ;;\n"
        f"{no_venv}"
        "esac\n"
        f'exec "{BASE_PYTHON}" "$@"\n'
    )
    path.chmod(0o755)
    return path


@pytest.mark.parametrize("version", ["3.13", "3.11"])  # Raspberry Pi OS Trixie, Bookworm
def test_edge_installs_with_the_python_of_either_image(tmp_path: Path, source: Path, version: str) -> None:
    python = fake_python(tmp_path / "bin", version)
    root = tmp_path / "root"
    args = ["--root", root, "--source", source, "--venv-from", VENV, "--no-kiosk", "--skip-hand-task"]
    proc = run_script("install-edge.sh", *args, "--python", python)
    assert "creating the virtualenv" in proc.stdout
    venv_python = root / "opt/signstream/edge/venv/bin/python"
    subprocess.run([venv_python, "-c", "import edge_client"], check=True, cwd=tmp_path)
    assert installed_info(root, "edge")["side"] == "edge"


@pytest.mark.parametrize(
    ("script", "version", "message"),
    [
        ("install-edge.sh", "3.10", "is Python 3.10; signstream-edge needs Python 3.11, 3.12 or 3.13 (pass --python"),
        ("install-edge.sh", "3.14", "is Python 3.14; signstream-edge needs Python 3.11, 3.12 or 3.13"),
        ("install-server.sh", "3.13", "is Python 3.13; signstream-server needs Python 3.11 (pass --python PATH)"),
        ("install-server.sh", "3.12", "is Python 3.12; signstream-server needs Python 3.11"),
        ("install-server.sh", "garbage", "is not a working Python; signstream-server needs Python 3.11"),
    ],
)  # fmt: skip
def test_a_python_of_another_version_is_refused(tmp_path: Path, script: str, version: str, message: str) -> None:
    python = fake_python(tmp_path / "bin", version)
    proc = run_script(script, "--root", tmp_path / "root", "--python", python, check=False)
    assert proc.returncode == 2
    assert proc.stderr.count("\n") == 1, proc.stderr
    assert message in proc.stderr
    assert not (tmp_path / "root").exists()


def test_edge_default_is_python3_and_its_version_is_checked(tmp_path: Path) -> None:
    """Without --python the edge installer checks the python3 on PATH (an older 3.10 here: refused)."""
    fake_python(tmp_path / "bin", "3.10")
    env = {"PATH": f"{tmp_path / 'bin'}:{os.environ['PATH']}"}
    proc = run_script("install-edge.sh", "--root", tmp_path / "root", check=False, env=env)
    assert proc.returncode == 2
    assert proc.stderr.count("\n") == 1, proc.stderr
    assert "python3 is Python 3.10; signstream-edge needs Python 3.11, 3.12 or 3.13" in proc.stderr
    assert not (tmp_path / "root").exists()


def test_a_python_without_venv_asks_for_python3_venv(tmp_path: Path) -> None:
    """Debian's python3 without python3-venv: one line saying which package to install."""
    python = fake_python(tmp_path / "bin", "3.13", venv=False)
    proc = run_script("install-edge.sh", "--root", tmp_path / "root", "--python", python, check=False)
    assert proc.returncode == 2
    assert proc.stderr.count("\n") == 1, proc.stderr
    assert "sudo apt install python3-venv" in proc.stderr
    assert not (tmp_path / "root").exists()


@pytest.mark.parametrize(
    ("script", "line"),
    [
        ("install-edge.sh", "Python 3.11, 3.12 or 3.13 interpreter for the virtualenv (default: python3)\n"),
        ("install-server.sh", "Python 3.11 interpreter for the virtualenv (default: python3.11)\n"),
    ],
)  # fmt: skip
def test_help_names_the_pythons_of_each_side(script: str, line: str) -> None:
    assert line in run_script(script, "--help").stdout
