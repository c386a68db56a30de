"""``POST /predict``: a body of windows -> the model stage -> one JSON answer naming the model version."""

from __future__ import annotations

import time

from flask import Blueprint, Response, g, request

from cloud_server.collaborators import Collaborators
from cloud_server.errors import not_ready
from cloud_server.request_body import read_body, windows_from_body
from cloud_server.responses import answer
from cloud_server.settings import ServerSettings
from shared.app.errors import OverloadedError
from shared.contract.protocol import BatchPredictResponse, ModelRef, PredictResponse


def predict_blueprint(settings: ServerSettings, c: Collaborators) -> Blueprint:
    """The prediction route; the app's guard has checked the size, the key and the rate limit before it.

    Errors are the app's one handler's: a malformed body (ProtocolError, SpecMismatchError) is a 400,
    no model or a full model stage a 503 with Retry-After (shared/app/errors.py says which).
    """
    bp = Blueprint("predict", __name__)

    @bp.post("/predict")
    def predict() -> Response:
        try:
            with c.batcher.serving():  # a batch being formed waits for this request, never for nobody
                windows = windows_from_body(read_body(settings.max_body_bytes), request.content_type or "")
                if c.holder.current is None:
                    raise not_ready()
                # A top_k over the model's labels gets them all (predict_windows clamps): what is valid must
                # not change with a model swap, and the document cannot know how many labels the next model has.
                model, preds = c.batcher.submit(windows.windows, windows.top_k or settings.default_top_k)
        except OverloadedError:
            c.metrics.shed.inc()
            raise
        g.model_version, g.label, g.n_windows = model.manifest.version, preds[0].label, len(preds)
        c.metrics.windows.inc(len(preds))
        ref = ModelRef(name=model.manifest.name, version=model.manifest.version)
        now = time.time()
        if windows.batch:
            body = BatchPredictResponse(results=preds, model=ref, threshold=model.manifest.threshold, server_time=now)
        else:
            body = PredictResponse(
                **preds[0].model_dump(), model=ref, threshold=model.manifest.threshold, server_time=now
            )
        return answer(body)

    return bp
