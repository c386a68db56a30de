"""A settings model's environment: historical variable names, and misspelt ones refused.

A settings class (an ``AliasedSettings``) may keep old names alive in ``ENV_ALIASES`` ({old name
after the prefix: field}, e.g. ``{"sync_interval": "poll_interval"}``); ``AliasedEnv`` reads them,
below the field's own variable, and ``unknown_variables`` counts them as known. pydantic-settings ignores
unknown variables; we refuse them.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any, ClassVar

from pydantic_settings import BaseSettings, PydanticBaseSettingsSource


def env_aliases(settings: type[BaseSettings]) -> dict[str, str]:
    """{historical name (lower case, after the prefix): field} of ``settings``."""
    return dict(getattr(settings, "ENV_ALIASES", {}))


def unknown_variables(settings: type[BaseSettings], environ: Mapping[str, str] | None = None) -> list[str]:
    """Variables with the settings' prefix that name no field (typos such as SIGNSTREAM_SERVER_WORKRS)."""
    prefix = settings.model_config["env_prefix"]
    known = set(settings.model_fields) | set(env_aliases(settings))
    env = os.environ if environ is None else environ
    return sorted(k for k in env if k.startswith(prefix) and k[len(prefix) :].lower() not in known)


def by_field(settings: type[BaseSettings], values: Mapping[str, Any]) -> dict[str, Any]:
    """``values`` keyed by names after the prefix (lower case) -> keyed by field, historical names
    mapped; a field's own name wins over its alias."""
    aliases = env_aliases(settings)
    out = {aliases[k]: v for k, v in values.items() if k in aliases}
    out.update({k: v for k, v in values.items() if k not in aliases})
    return out


class AliasedEnv(PydanticBaseSettingsSource):
    """The settings' historical variable names (``ENV_ALIASES``), read from the environment."""

    def get_field_value(self, field, field_name):  # the whole work is in __call__
        return None, field_name, False

    def __call__(self) -> dict[str, Any]:
        cls = self.settings_cls
        prefix = cls.model_config["env_prefix"]
        found = {k[len(prefix) :].lower(): v for k, v in os.environ.items() if k.upper().startswith(prefix)}
        return {field: found[old] for old, field in env_aliases(cls).items() if old in found}


class AliasedSettings(BaseSettings):
    """Settings whose ``ENV_ALIASES`` are read: the field's own variable first, then its old names."""

    ENV_ALIASES: ClassVar[dict[str, str]] = {}

    @classmethod
    def settings_customise_sources(
        cls, settings_cls, init_settings, env_settings, dotenv_settings, file_secret_settings
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        return init_settings, env_settings, AliasedEnv(settings_cls), dotenv_settings, file_secret_settings
