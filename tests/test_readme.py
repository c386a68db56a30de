"""README.md stays a two-command quick start and names every system program the tests drive."""

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
README = (ROOT / "README.md").read_text()
# the Debian package that provides each program a test asks for with require_binary
PACKAGE_OF = {"chromium": "chromium", "chromedriver": "chromium-driver", "nginx": "nginx",
              "systemd-analyze": "systemd", "curl": "curl", "python3": None}  # fmt: skip


def _sh_blocks(text: str) -> list[list[str]]:
    return [[line for line in b.splitlines() if line.strip()] for b in re.findall(r"```sh\n(.*?)```", text, re.S)]


def test_the_quick_start_is_two_commands():
    quick = README.split("## Quick start", 1)[1].split("\n## ", 1)[0]
    first = _sh_blocks(quick)[0]
    assert [line.split("#")[0].strip() for line in first] == ["make demo", "make test"]


def test_the_readme_installs_what_ci_installs_and_every_program_the_tests_need():
    line = next(ln for block in _sh_blocks(README) for ln in block if "apt-get install" in ln)
    readme = set(line.split("apt-get install", 1)[1].split())
    ci = set(re.search(r"APT_PACKAGES=\(([^)]*)\)", (ROOT / ".ci" / "run").read_text()).group(1).split())
    assert readme == ci
    needed = set(re.findall(r'require_binary\("([\w.-]+)"\)', "\n".join(
        p.read_text() for p in (ROOT / "tests").rglob("*.py"))))  # fmt: skip
    assert needed <= set(PACKAGE_OF), f"map the new program(s) to a package: {needed - set(PACKAGE_OF)}"
    assert {PACKAGE_OF[b] for b in needed} - {None} <= readme


def test_the_readme_gives_the_measured_install_time():
    assert "a few minutes" not in README
    assert re.search(r"spends about [\d.]+ minutes installing", README)
