"""Checks at the kiosk's start, each refusing in one line what cannot work (as the server's start does).

The store and model name are checked by ``shared/registry/preflight.py`` (the server's check too);
here: a kiosk with no server and no local model would start, show its page and answer nothing.
"""

from __future__ import annotations

import logging

from edge_client.settings import EdgeSettingsError

log = logging.getLogger(__name__)


def check_something_answers(has_server: bool, has_local_model: bool, store: str | None, name: str | None) -> None:
    """Refuse to start a kiosk that can answer nothing: no server to ask and no local model loaded."""
    if has_server or has_local_model:
        return
    if store:
        why = f"{store} gave no promoted version of {name!r} in time and there is no cached copy"
    else:
        why = "no local model was given"
    raise EdgeSettingsError(f"nothing to answer with: no server (local only) and no local model ({why})")
