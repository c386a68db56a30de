"""Misspelt settings in the environment: pydantic-settings ignores unknown variables, we refuse them."""

from __future__ import annotations

import os
from collections.abc import Mapping

from pydantic_settings import BaseSettings


def unknown_variables(settings: type[BaseSettings], environ: Mapping[str, str] | None = None) -> list[str]:
    """Variables with the settings' prefix that name no field (typos such as SIGNSTREAM_SERVER_WORKRS)."""
    prefix = settings.model_config["env_prefix"]
    env = os.environ if environ is None else environ
    return sorted(k for k in env if k.startswith(prefix) and k[len(prefix) :].lower() not in settings.model_fields)
