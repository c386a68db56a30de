"""docs/protocol.md says what shared/contract/spec.py and shared/contract/normalize.py do: defaults, versions, sizes."""

import re
from pathlib import Path

from shared.contract.normalize import feature_dim, known_normalizations
from shared.contract.spec import FeatureSpec

DOC = (Path(__file__).resolve().parents[3] / "docs" / "protocol.md").read_text()


def _spec_table() -> dict[str, str]:
    """The feature spec table: field name -> documented default, one entry per field of a row."""
    section = DOC.split("## Feature spec", 1)[1].split("\n## ", 1)[0]
    out = {}
    for line in section.splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) != 3 or not cells[0].startswith("`"):
            continue
        names = re.findall(r"`(\w+)`", cells[0])
        values = [v.strip().strip("`") for v in cells[1].split(",")]
        out.update(zip(names, values, strict=True))
    return out


def test_the_documented_spec_defaults_are_the_code_defaults():
    table = _spec_table()
    defaults = FeatureSpec().model_dump()
    assert set(table) == set(defaults)
    for name, value in defaults.items():
        assert table[name] == (f"{value:g}" if isinstance(value, float) else str(value)), name


def test_every_normalisation_is_documented_with_its_size():
    documented = {int(v): int(n) for v, n in re.findall(r"\*\*v(\d+)\*\* \((\d+) values a frame", DOC)}
    assert {("hand-frame", v) for v in documented} == known_normalizations()
    for version, size in documented.items():
        assert feature_dim(FeatureSpec(normalization_version=version)) == size, version
    default = FeatureSpec().normalization_version
    assert f"the default, and what `signstream train` writes, is **v{default}**" in DOC
