"""Registry settings, declared once: where the registry is, and how a server or a kiosk follows it.

``StoreSettings`` is what every registry user names (the store and the key that verifies bundles).
``RegistrySettings`` adds what the operator's tools need (``SIGNSTREAM_*``); ``FollowSettings``
adds what following a model's ``current`` pointer needs, and both the server's ``ServerSettings``
and the kiosk's ``EdgeSettings`` are ``FollowSettings`` under their own prefix
(``SIGNSTREAM_SERVER_STORE``, ``SIGNSTREAM_EDGE_STORE``): each process reads its own names, so a
machine's ``SIGNSTREAM_STORE`` (the operator's tools, the optional pull timer) never turns on a
service's own following.
"""

from __future__ import annotations

from pathlib import Path
from typing import ClassVar

from pydantic import Field, model_validator
from pydantic_settings import SettingsConfigDict

from shared.app.envcheck import AliasedSettings

ENV_PREFIX = "SIGNSTREAM_"


class StoreSettings(AliasedSettings):
    """The registry and the key its bundles must be signed with."""

    store: str | None = Field(None, description="Registry URL: s3://bucket/prefix or file:///absolute/path.")
    public_key: Path | None = Field(
        None, description="ed25519 public key (PEM): bundles not signed with it are refused."
    )


class RegistrySettings(StoreSettings):
    """The operator's registry commands: the store, and which keys sign and verify bundles."""

    model_config = SettingsConfigDict(env_prefix=ENV_PREFIX, extra="forbid")

    signing_key: Path | None = Field(None, description="ed25519 private key (PEM) that signs pushed bundles.")
    region: str | None = Field(None, description="AWS region of the bucket (default: the AWS chain's).")
    profile: str | None = Field(None, description="AWS named profile (default: the AWS chain's).")


class FollowSettings(StoreSettings):
    """Following the registry's current version of a model, the same on the server and the kiosk.

    Start-up policy (``ModelSync.prime``): the store is asked first, for up to ``startup_wait``
    seconds, so every instance starts on the promoted version; if it gives nothing in that time, the
    cached last good version serves; the check goes on in the background and swaps in what it finds.
    """

    CACHE_NAME: ClassVar[str] = "models"  # the default cache folder under ~/.cache/signstream

    model_name: str | None = Field(None, description="Model name whose registry `current` pointer is followed.")
    cache_dir: Path | None = Field(
        None,
        description="Where versions pulled from the registry are kept; the last good one survives restarts "
        "(default: ~/.cache/signstream/server-models on the server, ~/.cache/signstream/models on the kiosk).",
    )
    poll_interval: float = Field(30.0, gt=0, description="Seconds between checks for a new model.")
    startup_wait: float = Field(
        10.0,
        ge=0,
        le=600,
        description="Seconds a start waits for the registry before the cached last good model is used (the "
        "check goes on in the background).",
    )

    @model_validator(mode="after")
    def _check_following(self) -> FollowSettings:
        if self.store and not self.model_name:
            raise ValueError("--store needs --model-name")
        if self.public_key is not None and not self.public_key.is_file():
            raise ValueError(f"public key {self.public_key} does not exist")
        if self.cache_dir is None:
            self.cache_dir = Path.home() / ".cache" / "signstream" / self.CACHE_NAME
        return self
