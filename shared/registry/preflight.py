"""The store check a server or a kiosk makes before it starts following a model.

A store that is not there, or a model name it does not hold while it holds others (a typo: ``mls``
for ``msl``), is refused in one line naming the models there: otherwise the process would poll for
a version that can never come. A store that cannot be reached right now, or does not answer within
the start-up wait, is no reason to refuse: the cached last good model serves and the sync keeps
trying. An empty store (a service deployed before the first push) and a model pushed but never
promoted are waited for, and said.
"""

from __future__ import annotations

import logging

from shared.app.deadline import call_within
from shared.app.settings_load import SettingsError
from shared.registry.registry import Registry
from shared.registry.store import NoSuchStore, StoreError

log = logging.getLogger(__name__)


def check_store(registry: Registry, name: str, deadline: float, error: type[SettingsError] = SettingsError) -> None:
    """Raise ``error`` for a store that is not there or that lacks ``name``; log what is only waited for."""

    def look() -> tuple[list[str], bool]:
        names = registry.model_names()
        return names, bool(names) and name in names and registry.current(name) is not None

    url = registry.store.url
    try:
        done, found = call_within(deadline, look, "store-preflight")
    except NoSuchStore as err:
        raise error(str(err)) from err
    except StoreError as err:  # a passing outage: said, not fatal
        log.warning("cannot check the store %s now (%s); the cached model serves if there is one", url, err)
        return
    if not done:
        log.warning("the store %s did not answer within %.3g s; the cached model serves if there is one", url, deadline)
        return
    names, promoted = found
    if not names:
        log.warning("%s holds no model yet; not ready until %r is pushed and promoted", url, name)
    elif name not in names:
        raise error(f"{url} has no model {name!r} (its models: {', '.join(names)})")
    elif not promoted:
        log.warning("%s: model %r has no promoted version; not ready until one is promoted", url, name)
