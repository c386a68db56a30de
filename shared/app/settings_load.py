"""One way to load a side's settings: the environment, then a settings file, then flags; one line on error.

The server (``ServerSettings``) and the kiosk (``EdgeSettings``) load through ``load_settings``, so a
misspelt variable, a bad value or an unreadable settings file reads the same on both sides and no
process starts on settings it did not understand.
"""

from __future__ import annotations

from pathlib import Path
from typing import TypeVar

from pydantic import ValidationError
from pydantic_settings import BaseSettings

from shared.app.envcheck import by_field, unknown_variables
from shared.app.errors import SignstreamError

S = TypeVar("S", bound=BaseSettings)


class SettingsError(SignstreamError):
    """A bad setting: the process does not start."""


def read_env_file(cls: type[BaseSettings], path: Path, error: type[SettingsError] = SettingsError) -> dict[str, str]:
    """The settings of ``cls``'s prefix in a systemd-style env file, as field names; other lines are ignored."""
    from dotenv import dotenv_values

    if not Path(path).is_file():
        raise error(f"settings file {path} does not exist")
    try:
        values = dotenv_values(path)
    except (UnicodeDecodeError, OSError) as err:
        raise error(f"cannot read settings file {path}: {err}") from err
    prefix = cls.model_config.get("env_prefix", "")
    ours = {k[len(prefix) :].lower(): v for k, v in values.items() if k.startswith(prefix) and v is not None}
    return by_field(cls, ours)


def load_settings(
    cls: type[S], env_file: Path | None = None, error: type[SettingsError] = SettingsError, **overrides: object
) -> S:
    """``cls`` from the environment, then ``env_file``, then ``overrides`` (None: not given).

    Unknown variables of the side's prefix (typos) are refused, wherever they come from; the first
    problem is raised as ``error``, one line naming the setting.
    """
    unknown = unknown_variables(cls)
    if unknown:  # a typo must not pass silently
        raise error(f"unknown setting {unknown[0]} in the environment")
    values: dict[str, object] = dict(read_env_file(cls, env_file, error)) if env_file is not None else {}
    values.update({k: v for k, v in overrides.items() if v is not None})
    try:
        return cls(**values)
    except ValidationError as err:
        first = err.errors()[0]
        where = ".".join(map(str, first["loc"]))
        msg = first["msg"].removeprefix("Value error, ")
        source = f" (settings file {env_file})" if env_file is not None else ""
        raise error(f"bad setting{' ' + where if where else ''}{source}: {msg}") from err
