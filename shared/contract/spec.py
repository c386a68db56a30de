"""The versioned feature spec every model bundle carries and every request must fit."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

from shared.app.errors import SpecMismatchError

SPEC_VERSION = 1
HANDS = 2
LANDMARKS = 21
COORDS = 3
RAW_DIM = HANDS * LANDMARKS * COORDS  # 126 values per frame on the wire and in datasets
MAX_INPUT_FRAMES = 256  # longest window a client may send; it is resampled to the model's length
MAX_FPS = 120.0  # highest frame rate a window may assume
VALUE_BOUND = 10.0  # |value| allowed on the wire; MediaPipe's x, y are ~0..1 and z is small


class FeatureSpec(BaseModel):
    """What a model consumes: window length, its frame rate, layout and normalisation."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    spec_version: int = Field(SPEC_VERSION, description="Version of this spec's schema.")
    frames: int = Field(30, ge=2, le=MAX_INPUT_FRAMES, description="Frames per model window.")
    fps: float = Field(15.0, gt=0, le=MAX_FPS, description="Frame rate a window assumes.")
    hands: int = Field(HANDS, description="Hand slots per frame (slot 0: Holistic's left).")
    landmarks: int = Field(LANDMARKS, description="Landmarks per hand.")
    coords: int = Field(COORDS, description="Coordinates per landmark (x, y, z).")
    normalization: str = Field("hand-frame", description="Name of the feature normalisation.")
    normalization_version: int = Field(3, ge=1, description="Version of that normalisation.")

    @property
    def raw_dim(self) -> int:
        """Values per frame before normalisation (126 for 2 x 21 x 3)."""
        return self.hands * self.landmarks * self.coords

    def differences(self, other: FeatureSpec) -> list[str]:
        """Name every field where ``other`` differs from this spec, as 'field: ours != theirs'."""
        mine, theirs = self.model_dump(), other.model_dump()
        return [f"{k}: {mine[k]!r} != {theirs[k]!r}" for k in mine if mine[k] != theirs[k]]

    def check_same_layout(self, other: FeatureSpec, what: str) -> None:
        """Raise SpecMismatchError if ``other`` lays out raw frames differently (hands, landmarks, coords)."""
        fields = ("spec_version", "hands", "landmarks", "coords")
        diffs = [d for d in self.differences(other) if d.split(":")[0] in fields]
        if diffs:
            raise SpecMismatchError(f"{what} does not fit the feature spec: " + "; ".join(diffs))


SUPPORTED_LAYOUT = FeatureSpec()
