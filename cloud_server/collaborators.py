"""What the server app needs besides its settings, and the real ones when a test gives none."""

from __future__ import annotations

from dataclasses import dataclass

from cloud_server.batching import Batcher, Unbatched
from cloud_server.devices import DeviceTracker
from cloud_server.keys import KeyStore
from cloud_server.limits import RateLimiter
from cloud_server.metrics import Metrics
from cloud_server.model_holder import ModelHolder
from cloud_server.reloader import ModelWatcher
from cloud_server.settings import ServerSettings


@dataclass
class Collaborators:
    """What the app needs besides settings; ``create_app`` makes any that are not given."""

    holder: ModelHolder
    keys: KeyStore | None
    batcher: Batcher | Unbatched  # how a request reaches the model: micro-batched, or one thread at a time
    metrics: Metrics
    devices: DeviceTracker
    limiter: RateLimiter
    watcher: ModelWatcher | None = None


def default_collaborators(settings: ServerSettings, holder: ModelHolder | None = None, **given) -> Collaborators:
    """Real collaborators for ``settings``.

    ``holder``, if not given, loads ``settings.model_dir`` and reports to the metrics. A given holder
    reports to whatever it was built with; the model it already serves is shown in the metrics.
    """
    metrics = given.get("metrics") or Metrics()
    if holder is None:
        holder = ModelHolder(on_loaded=metrics.model_loaded, on_failed=metrics.model_failed)
        holder.load(settings.model_dir)
    elif holder.current is not None:
        metrics.serving(holder.current.manifest.name, holder.current.manifest.version, None)
    keys = given.get("keys")
    if keys is None and not settings.no_auth:
        keys = KeyStore(settings.keys_file)
    batcher = given.get("batcher")
    if batcher is None:
        observe = metrics.batch_size.observe
        batcher = (
            Batcher(holder, settings.max_batch, settings.batch_window_ms / 1000, settings.max_queue,
                    settings.timeout / 2, observe)
            if settings.batching
            else Unbatched(holder, settings.max_queue, observe)
        )  # fmt: skip
    devices = given.get("devices") or DeviceTracker(settings.runtime_dir)
    limiter = given.get("limiter") or RateLimiter(settings.rate_limit / settings.workers, settings.rate_burst)
    return Collaborators(holder, keys, batcher, metrics, devices, limiter, given.get("watcher"))
