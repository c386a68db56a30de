"""The model a worker serves: loaded, verified and warmed up before it answers; swapped atomically."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from shared.contract.protocol import Prediction
from shared.model.bundle import Manifest
from shared.model.enroll import with_enrolled
from shared.model.hot_swap import HotSwap
from shared.model.open_bundle import open_bundle
from shared.model.predictor import LogitsRunner, predict_windows

log = logging.getLogger(__name__)


@dataclass
class LoadedModel:
    """A verified bundle with its runner. Every answer it gives names this manifest's version."""

    manifest: Manifest
    runner: LogitsRunner
    path: Path
    loaded_at: float = field(default_factory=time.time)

    def predict(self, windows: list[np.ndarray], k: int | None) -> list[Prediction]:
        return predict_windows(self.runner, self.manifest, windows, k)

    def warm_up(self) -> None:
        """Run one batch through the model so the first real request is not the slow one."""
        spec = self.manifest.spec
        self.predict([np.full((spec.frames, spec.raw_dim), 0.5, np.float32)] * 2, 1)


def load_model(
    path: str | Path,
    runner_factory: Callable[[Path], LogitsRunner] | None = None,
    public_key: Path | None = None,
) -> LoadedModel:
    """Verify the bundle at ``path`` (checksums, spec, signature when ``public_key``), load and warm it up."""
    path = Path(path)
    manifest = open_bundle(path, public_key)
    if runner_factory is None:
        from cloud_server.inference import SavedModelRunner

        runner_factory = SavedModelRunner
    model = LoadedModel(manifest, with_enrolled(runner_factory(path), path, manifest), path)
    model.warm_up()
    return model


class ModelHolder(HotSwap[LoadedModel]):
    """The model a worker serves (``shared.model.hot_swap.HotSwap`` of ``LoadedModel``; ``load_model`` by default).

    ``on_loaded(model, previous)`` and ``on_failed(path, error)``: the metrics, and the heap's
    settling after a swap.
    """

    def __init__(
        self,
        loader: Callable[[Path], LoadedModel] = load_model,
        *,
        on_loaded: Callable[[LoadedModel, LoadedModel | None], None] | None = None,
        on_failed: Callable[[Path, Exception], None] | None = None,
    ) -> None:
        super().__init__(loader, on_loaded=on_loaded, on_failed=on_failed, what="model", logger=log)
