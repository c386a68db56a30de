"""Checks at the kiosk's start, each refusing in one line what cannot work (as the server's start does).

A store that is not there, or a model name it does not hold (a typo: ``mls`` for ``msl``), would
otherwise leave the kiosk polling for a model that never comes; a kiosk with no server and no local
model would start, show its page and answer nothing. A store that cannot be reached right now is no
reason to refuse: the cached last good model answers and the sync keeps trying.
"""

from __future__ import annotations

import logging

from edge_client.settings import EdgeSettingsError
from shared.deadline import call_within
from shared.registry.registry import Registry
from shared.registry.store import NoSuchStore, StoreError

log = logging.getLogger(__name__)


def check_store(registry: Registry, name: str, deadline: float) -> None:
    """Refuse a store that is not there or that lacks ``name`` while holding other models (naming them).

    The store is given ``deadline`` seconds; one that does not answer (or answers with a passing
    error) is only logged: the start goes on with the cache.
    """

    try:
        done, found = call_within(deadline, registry.model_names, "store-preflight")
    except NoSuchStore as err:
        raise EdgeSettingsError(str(err)) from err
    except StoreError as err:  # a passing outage: said, not fatal
        log.warning("cannot check the store %s now (%s); the cached model answers if there is one",
                    registry.store.url, err)  # fmt: skip
        return
    if not done:
        log.warning("the store %s did not answer within %g s; the cached model answers if there is one",
                    registry.store.url, deadline)  # fmt: skip
        return
    if found and name not in found:
        raise EdgeSettingsError(f"{registry.store.url} has no model {name!r} (its models: {', '.join(found)})")


def check_something_answers(has_server: bool, has_local_model: bool, store: str | None, name: str | None) -> None:
    """Refuse to start a kiosk that can answer nothing: no server to ask and no local model loaded."""
    if has_server or has_local_model:
        return
    if store:
        why = f"{store} gave no promoted version of {name!r} in time and there is no cached copy"
    else:
        why = "no local model was given"
    raise EdgeSettingsError(f"nothing to answer with: no server (local only) and no local model ({why})")
