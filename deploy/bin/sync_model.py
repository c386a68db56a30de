"""Follow a model's ``current`` pointer with the ``signstream`` CLI: the sync timer's one run.

Usage: python sync_model.py NAME MODELS_DIR

Reads the current version of NAME from the registry (``signstream models --json``; the store and the
public key come from SIGNSTREAM_STORE and SIGNSTREAM_PUBLIC_KEY), pulls it into MODELS_DIR/NAME/VERSION
(``signstream pull`` verifies every sha256, and the signature when a public key is set, before the
folder appears) and then repoints the symlink MODELS_DIR/NAME/current at it in one rename, so a
reader (SIGNSTREAM_SERVER_MODEL_DIR or SIGNSTREAM_EDGE_LOCAL_MODEL) only ever sees a complete version.
Older versions stay (a rollback needs no download). One line on stdout or stderr; exit 0 when current
is up to date, 1 when the registry or the pull failed (the old version keeps serving), 2 on bad use.
"""

import json
import os
import re
import subprocess
import sys
from pathlib import Path

NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*$")


def signstream(*args: str) -> subprocess.CompletedProcess:
    """Run the ``signstream`` next to this Python (the same virtualenv)."""
    exe = Path(sys.executable).with_name("signstream")
    return subprocess.run([str(exe), *args], capture_output=True, text=True, timeout=1800)


def last_line(text: str) -> str:
    lines = [line for line in text.strip().splitlines() if line.strip()]
    return lines[-1] if lines else "(no output)"


def current_version(name: str) -> str:
    """The version the registry's pointer names; SystemExit(1) with one line when it cannot be read."""
    proc = signstream("models", "--json")
    if proc.returncode != 0:
        raise SystemExit(f"sync_model: cannot list models: {last_line(proc.stderr)}")
    try:
        models = json.loads(proc.stdout)["models"]
        row = next(m for m in models if m["name"] == name)
        version = row["current"]["version"]
    except (ValueError, KeyError, TypeError) as err:
        raise SystemExit(f"sync_model: unexpected `signstream models --json` output ({err!r})") from err
    except StopIteration as err:
        raise SystemExit(f"sync_model: no model named {name!r} in the registry") from err
    if not isinstance(version, str) or not NAME.match(version):
        raise SystemExit(f"sync_model: model {name!r} has no usable current version ({version!r})")
    return version


def repoint(link: Path, version: str) -> bool:
    """Point ``link`` at ``version`` (relative) in one rename; False when it already does."""
    if link.is_symlink() and os.readlink(link) == version:
        return False
    tmp = link.with_name(f".{link.name}.{os.getpid()}.tmp")
    tmp.unlink(missing_ok=True)
    os.symlink(version, tmp)
    os.replace(tmp, link)
    return True


def main(argv: list[str]) -> int:
    if len(argv) != 2 or not NAME.match(argv[0]):
        print("usage: sync_model.py NAME MODELS_DIR (set SIGNSTREAM_STORE and SIGNSTREAM_SYNC_MODEL)", file=sys.stderr)
        return 2
    name, models = argv[0], Path(argv[1])
    if not models.is_dir():
        print(f"sync_model: {models} is not a folder", file=sys.stderr)
        return 2
    try:
        version = current_version(name)
    except SystemExit as err:
        print(err, file=sys.stderr)
        return 1
    folder = models / name
    folder.mkdir(exist_ok=True)
    proc = signstream("pull", name, version, "--out", str(folder / version))
    if proc.returncode != 0:
        print(f"sync_model: pull {name} {version} failed: {last_line(proc.stderr)}", file=sys.stderr)
        return 1
    changed = repoint(folder / "current", version)
    print(f"sync_model: {name} current -> {version}" + ("" if changed else " (unchanged)"))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
