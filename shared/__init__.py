"""The Python package both sides of signstream import (pure functions and types, no Flask, no TensorFlow).

- ``contract``: what a kiosk, a server and a model must agree on (feature spec, normalisation,
  handedness, the wire protocol of ``/predict``).
- ``model``: a trained model's bundle (files, checksums, signatures), the runtimes that run it
  (SavedModel, TFLite) and how its outputs become answers (temperature, threshold).
- ``datasets``: landmark datasets, their import, synthetic data, review decisions and recording
  quality in numbers.
- ``hands``: hand landmarks from frames (MediaPipe or LiteRT) and the model file it needs.
- ``registry``: the S3 or folder registry of models and datasets, and the loop that follows it.
- ``enrolment``: teaching a bundle new signs from a few examples (``signstream enroll``).
- ``app``: what every process is built from (settings, CLI arguments, errors, logs, atomic files).
"""

__version__ = "0.1.0"
