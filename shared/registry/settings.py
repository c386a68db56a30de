"""Registry settings for the command line: one typed object from SIGNSTREAM_* variables."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

ENV_PREFIX = "SIGNSTREAM_"


class RegistrySettings(BaseSettings):
    """Where the registry is and which keys sign and verify bundles."""

    model_config = SettingsConfigDict(env_prefix=ENV_PREFIX, extra="forbid")

    store: str | None = Field(None, description="Registry URL: s3://bucket/prefix or file:///absolute/path.")
    signing_key: Path | None = Field(None, description="ed25519 private key (PEM) that signs pushed bundles.")
    public_key: Path | None = Field(None, description="ed25519 public key (PEM); pulls refuse other signatures.")
    region: str | None = Field(None, description="AWS region of the bucket (default: the AWS chain's).")
    profile: str | None = Field(None, description="AWS named profile (default: the AWS chain's).")
