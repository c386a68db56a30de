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
from cloud_server.inference import runner_factory
from cloud_server.metrics import Metrics
from cloud_server.model_holder import ModelHolder, load_model
from cloud_server.reloader import FolderSource, ModelSource, ModelWatcher, StoreSource
from cloud_server.settings import ServerSettings
from shared.app.logs import RepeatFilter

log = logging.getLogger(__name__)


def configure_logging() -> None:
    """Worker logs to stderr (journald under systemd): service lines, and bare JSON access lines."""
    root = logging.getLogger()
    if not root.handlers:
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
        root.addHandler(handler)
        root.setLevel(logging.INFO)
    # an admin reload storm or a store that stays down: the same check line once a minute, with how often
    # (what a check changes is logged by the swap itself, never folded)
    checks = logging.getLogger("cloud_server.reloader")
    if not any(isinstance(f, RepeatFilter) for f in checks.filters):
        checks.addFilter(RepeatFilter())
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
    metrics = Metrics()

    def loaded(model, previous) -> None:
        metrics.model_loaded(model, previous)
        if previous is not None:  # its objects become collectable once its last requests end
            heap.settle_later()

    runner = runner_factory(settings.model_runtime, settings.tf_threads)
    loader = functools.partial(load_model, runner_factory=runner, public_key=settings.public_key)
    holder = ModelHolder(loader, on_loaded=loaded, on_failed=metrics.model_failed)
    source = model_source(settings, holder, metrics)
    source.prime()
    watcher = ModelWatcher(source, settings.runtime_dir)
    devices = DeviceTracker(settings.runtime_dir)
    app = create_app(settings, holder, metrics=metrics, watcher=watcher, devices=devices)
    heap.settle()
    watcher.start()
    devices.start()
    return app


def model_source(settings: ServerSettings, holder: ModelHolder, metrics: Metrics) -> ModelSource:
    """The registry's pointer (``--store``) or the model folder, each loading into ``holder``."""
    if settings.store is None:
        return FolderSource(settings.model_dir, holder, settings.poll_interval)
    from shared.registry.sync import ModelSync

    sync = ModelSync.follow(settings, holder.load, on_check=metrics.sync_checked)
    return StoreSource(sync, settings.startup_wait)
