"""Assembly of the real server in a gunicorn worker: model source, watcher, metrics, devices, app.

Called in each worker after the fork (never in the arbiter), so the model, TensorFlow and every
thread live in the worker that uses them.
"""

from __future__ import annotations

import functools
import logging
import sys

from flask import Flask

from cloud_server import heap
from cloud_server.app import create_app
from cloud_server.devices import DeviceTracker
from cloud_server.inference import configure_tensorflow
from cloud_server.metrics import Metrics
from cloud_server.model_holder import ModelHolder, load_model
from cloud_server.reloader import FolderSource, ModelWatcher, StoreSource
from cloud_server.settings import ServerSettings

log = logging.getLogger(__name__)
NEVER = 1e12  # the store's own sync loop polls; the watcher then only serves reload requests


def configure_logging() -> None:
    """Worker logs to stderr (journald under systemd): service lines, and bare JSON access lines."""
    root = logging.getLogger()
    if not root.handlers:
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
        root.addHandler(handler)
        root.setLevel(logging.INFO)
    access = logging.getLogger("signstream.access")
    if not access.handlers:
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(logging.Formatter("%(message)s"))
        access.addHandler(handler)
        access.propagate = False
        access.setLevel(logging.INFO)


def build_app(settings: ServerSettings) -> Flask:
    """The app with its real collaborators, its model loaded (or, from a store, being fetched)."""
    configure_logging()
    configure_tensorflow(settings.tf_threads)
    metrics = Metrics()
    holder = ModelHolder(loader=functools.partial(load_model, public_key=settings.public_key))
    holder.on_failed = lambda path, err: metrics.model_load_failures.inc()
    if settings.store is not None:
        from shared.registry.registry import Registry
        from shared.registry.store import open_store
        from shared.registry.sync import ModelSync

        class CountedSync(ModelSync):
            def check_once(self) -> str:
                outcome = super().check_once()
                metrics.model_sync.labels(outcome).inc()
                return outcome

        sync = CountedSync(
            Registry(open_store(settings.store)),
            settings.model_name,
            settings.cache_dir,
            holder.load,
            interval=settings.poll_interval,
            max_backoff=max(300.0, settings.poll_interval * 10),
            public_key=settings.public_key,
        )
        outcome = sync.check_once()
        if holder.current is None and not sync.apply_cached():
            waiting = "one is promoted" if outcome == "unchanged" else "the store gives a good version (see above)"
            log.error("registry check: %s and no cached version: not ready until %s", outcome, waiting)
        sync.start(load_cached=False)
        watcher = ModelWatcher(StoreSource(sync), NEVER, settings.runtime_dir)
    else:
        source = FolderSource(settings.model_dir, holder)
        source.prime()
        watcher = ModelWatcher(source, settings.poll_interval, settings.runtime_dir)
    devices = DeviceTracker(settings.runtime_dir)
    app = create_app(settings, holder, metrics=metrics, watcher=watcher, devices=devices)
    counted = holder.on_loaded

    def loaded(model, previous) -> None:
        if counted is not None:
            counted(model, previous)
        heap.settle_later()  # the old model's objects become collectable once its last requests end

    holder.on_loaded = loaded
    heap.settle()
    watcher.start()
    devices.start()
    return app
