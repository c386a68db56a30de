"""Each setting is declared once: its flag comes from the settings model (help, type, choices, default)."""

import argparse
from pathlib import Path
from typing import Literal

import pytest
from pydantic import Field
from pydantic_settings import BaseSettings

from cloud_server.settings import ServerSettings
from edge_client.settings import EdgeSettings
from shared.app.settings_flags import add_setting_flags, overrides


class Toy(BaseSettings):
    folder: Path | None = Field(None, description="Where things go.")
    count: int = Field(3, ge=1, description="How many.")
    mode: Literal["a", "b"] = Field("a", description="Which way.")
    loud: bool = Field(False, description="Say more.")


def _parser(**kwargs) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser()
    add_setting_flags(parser, Toy, **kwargs)
    return parser


def test_a_new_setting_is_a_typed_flag_with_its_description():
    parser = _parser()
    help_text = parser.format_help()
    assert "How many (default 3)" in help_text and "Where things go" in help_text
    args = parser.parse_args(["--folder", "/tmp/x", "--count", "5", "--mode", "b", "--loud"])
    assert overrides(args, Toy) == {"folder": Path("/tmp/x"), "count": 5, "mode": "b", "loud": True}
    assert overrides(parser.parse_args([]), Toy) == {}  # not given: the environment decides
    with pytest.raises(SystemExit):
        parser.parse_args(["--mode", "c"])


def test_aliases_and_constants_set_the_same_setting():
    parser = _parser(aliases={"n": "count"}, constants={"quiet-b": ("mode", "b", "mode b")})
    assert overrides(parser.parse_args(["--n", "7", "--quiet-b"]), Toy) == {"count": 7, "mode": "b"}


@pytest.mark.parametrize("model", [EdgeSettings, ServerSettings])
def test_every_kiosk_and_server_setting_is_a_flag(model):
    from signstream.cli import build_parser

    command = "edge" if model is EdgeSettings else "serve"
    root = build_parser()
    group = next(a for a in root._actions if isinstance(a, argparse._SubParsersAction))
    dests = {a.dest for a in group.choices[command]._actions}
    assert set(model.model_fields) <= dests


def test_settings_a_side_shares_come_after_its_own_in_a_group_of_their_own():
    class Shared(BaseSettings):
        """Shared things."""

        store: str | None = Field(None, description="Where.")

    class Side(Shared):
        count: int = Field(3, description="How many.")

    parser = argparse.ArgumentParser()
    add_setting_flags(parser, Side)
    text = parser.format_help()
    assert text.index("--count") < text.index("--store")  # in the usage line too
    own, shared = text.split("Shared things:")
    assert "--store STORE  " in shared and "--count" not in shared and "--store STORE  " not in own
    assert overrides(parser.parse_args(["--store", "s", "--count", "4"]), Side) == {"store": "s", "count": 4}
