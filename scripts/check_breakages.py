#!/usr/bin/env python3
"""Break each guarantee of the system suite once and show that the suite notices.

For every breakage below: copy the repository to a scratch folder, apply one small source change
(checked to apply exactly once), run the system tests that guard that guarantee, and expect them to
FAIL. A breakage the suite does not catch is a hole in the suite: the script exits 1 and says which.
The working tree is never touched.

    .venv/bin/python scripts/check_breakages.py            # every breakage
    .venv/bin/python scripts/check_breakages.py --only keys-ignored,signature-ignored

Results go in docs/benchmarks.md ("System suite against deliberate breakages").
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


@dataclass(frozen=True)
class Breakage:
    name: str
    guarantee: str
    path: str
    old: str
    new: str
    tests: str  # pytest -k expression within tests/system
    also: tuple[tuple[str, str, str], ...] = ()  # further (path, old, new) edits of the same breakage


BREAKAGES = [
    Breakage(
        "edge-no-fallback",
        "with the server gone the kiosk keeps showing labels from its local model",
        "edge_client/answering.py",
        "        local = self.slot.current if self.slot is not None else None\n",
        "        local = None\n",
        "killed_mid_stream",
    ),
    Breakage(
        "edge-ignores-registry",
        "the edge's local model follows the promoted version",
        "edge_client/assembly.py",
        "    sync = ModelSync.follow(s, slot.load)\n",
        "    sync = ModelSync.follow(s, lambda path: None)\n",
        "operator_flow",
    ),
    Breakage(
        "keys-ignored",
        "no key / wrong key is refused (401)",
        "cloud_server/auth.py",
        "    if settings.no_auth:\n        return Caller(accepted=True)\n",
        "    if True:\n        return Caller(accepted=True)\n",
        "security",
    ),
    Breakage(
        "revoked-accepted",
        "a revoked key is refused (403)",
        "cloud_server/keys.py",
        'return ("revoked", entry) if entry.revoked else ("ok", entry)',
        'return ("ok", entry)',
        "security",
    ),
    Breakage(
        "admin-open",
        "admin calls need the admin key",
        "cloud_server/routes/operations.py",
        '    if not settings.no_auth and not g.get("admin"):',
        "    if False:",
        "security",
    ),
    Breakage(
        "key-logged",
        "no key or secret in any log line",
        "cloud_server/app.py",
        '"key": g.get("key_name"),',
        '"key": auth.presented_key(),',
        "security",
    ),
    Breakage(
        "oversize-500",
        "oversized bodies get a JSON 4xx",
        "cloud_server/app.py",
        'raise ApiError(413, "request_entity_too_large", message, {"Connection": "close"})',
        'raise RuntimeError("too large")',
        "security",
    ),
    Breakage(
        "signature-ignored",
        "unsigned versions are refused where a public key is configured",
        "shared/registry/sync.py",
        "            public_key=settings.public_key, on_check=on_check,\n",
        "            public_key=None, on_check=on_check,\n",
        "corrupted_partial_and_unsigned",
    ),
    Breakage(
        "checksum-ignored",
        "a corrupted version is refused, the old one keeps serving",
        "shared/registry/registry.py",
        "if tmp.stat().st_size != files[rel].size or sha256_file(tmp) != files[rel].sha256:",
        "if False:",
        "corrupted_partial_and_unsigned",
        also=(("shared/model/bundle.py", "        if sha256_file(p) != entry.sha256:\n", "        if False:\n"),),
    ),
    Breakage(
        "pull-in-place",
        "a failed pull leaves nothing loadable",
        "shared/registry/registry.py",
        '            partial = out.parent / f".{out.name}.partial"\n'
        "            try:\n                self._fetch(prefix,",
        "            partial = out\n            try:\n                self._fetch(prefix,",
        "disk_full",
    ),
    Breakage(
        "sync-stops-on-outage",
        "a store outage is survived and the servers recover",
        "cloud_server/reloader.py",
        "                    self.check_now(polled=not requested)\n",
        '                    if self.check_now(polled=not requested) == "store_error":\n'
        "                        return\n",
        "store_outage",
    ),
    Breakage(
        "no-follow",
        "the running servers pick up a promotion by themselves",
        "cloud_server/wsgi.py",
        "    watcher.start()\n",
        "",
        "60_s_with_a_promotion or nginx",
    ),
    Breakage(
        "swap-drops-requests",
        "a promotion under load costs no failed request",
        "shared/model/hot_swap.py",
        "            previous, self._current = self._current, candidate\n",
        "            previous, self._current = self._current, None\n"
        "            import time as _t\n            _t.sleep(0.5)\n            self._current = candidate\n",
        "60_s_with_a_promotion",
    ),
    Breakage(
        "start-waits-on-hung-store",
        "a store that hangs delays a server's start by at most its startup wait",
        "shared/app/deadline.py",
        "    thread.join(seconds)\n",
        "    thread.join()\n",
        "hangs",
    ),
    Breakage(
        "bad-settings-accepted",
        "a bad settings file stops the start with one clear line",
        "shared/app/settings_load.py",
        "if k.startswith(prefix) and v is not None}",
        "if k.startswith(prefix) and v is not None and k[len(prefix) :].lower() in cls.model_fields}",
        "bad_settings",
    ),
]


def run_one(b: Breakage, env: dict, timeout: float) -> tuple[str, float, str]:
    """Returns (result, seconds, tail of output); result is 'caught', 'MISSED' or 'ERROR'."""
    with tempfile.TemporaryDirectory(prefix=f"signstream-break-{b.name}-") as tmp:
        work = Path(tmp) / "repo"
        skip = shutil.ignore_patterns(".venv", ".venv-edge", ".git", "__pycache__", ".pytest_cache", ".demo", "reports")
        shutil.copytree(ROOT, work, symlinks=True, ignore=skip)
        for path, old, new in ((b.path, b.old, b.new), *b.also):
            target = work / path
            text = target.read_text()
            if text.count(old) != 1:
                return "ERROR", 0.0, f"{path}: the text to break occurs {text.count(old)} times (expected 1)"
            target.write_text(text.replace(old, new))
        t0 = time.monotonic()
        cmd = [str(ROOT / ".venv" / "bin" / "python"), "-m", "pytest", "-x", "-q", "-p", "no:cacheprovider",
               "tests/system", "-k", b.tests]  # fmt: skip
        try:
            proc = subprocess.run(cmd, cwd=work, env={**env, "PYTHONPATH": str(work)}, capture_output=True,
                                  text=True, timeout=timeout)  # fmt: skip
        except subprocess.TimeoutExpired:
            return "caught (timeout)", time.monotonic() - t0, ""
        tail = "\n".join(line for line in proc.stdout.splitlines() if line.strip())[-600:]
        if proc.returncode == 5:
            return "ERROR", time.monotonic() - t0, f"no test selected by -k {b.tests!r}"
        return ("caught" if proc.returncode != 0 else "MISSED"), time.monotonic() - t0, tail


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", help="comma-separated breakage names")
    parser.add_argument("--timeout", type=float, default=900, help="seconds per breakage (default 900)")
    args = parser.parse_args()
    chosen = [b for b in BREAKAGES if not args.only or b.name in args.only.split(",")]
    env = {**os.environ, "SIGNSTREAM_SYSTEM_LOAD_SECONDS": os.environ.get("SIGNSTREAM_SYSTEM_LOAD_SECONDS", "20")}
    rows, missed = [], 0
    for b in chosen:
        result, seconds, tail = run_one(b, env, args.timeout)
        missed += result != "caught" and not result.startswith("caught")
        rows.append(f"| {b.name} | {b.guarantee} | `{b.path}` | {result} | {seconds:.0f} |")
        print(f"{b.name}: {result} in {seconds:.0f} s", flush=True)
        if not result.startswith("caught"):
            print(tail, flush=True)
    print("\n| breakage | guarantee broken | file | suite | s |\n| --- | --- | --- | --- | --- |")
    print("\n".join(rows))
    print(f"\n{len(chosen) - missed} of {len(chosen)} breakages caught by tests/system")
    return 1 if missed else 0


if __name__ == "__main__":
    sys.exit(main())
