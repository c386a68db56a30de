"""Which hand landmark backend this CPU can run: MediaPipe's own library, or the same models on LiteRT.

mediapipe >= 1.0's aarch64 ``libmediapipe.so`` is compiled for ARMv8.2 and stops the whole process
with SIGILL ("compiled with lse enabled, but this feature is not available") on an ARMv8.0 core such
as the Raspberry Pi 4's Cortex-A72; a signal cannot be caught, so the choice is made before loading
it, from the features the kernel lists. Measured under QEMU: cortex-a72 dies, cortex-a76 (Pi 5) runs.
"""

from __future__ import annotations

import platform
from pathlib import Path

from shared.app.native_notices import import_quietly

# The ARMv8.1/8.2 features the library was built with, as /proc/cpuinfo names them:
# LSE atomics, dot product, half-precision arithmetic (scalar and vector), RCpc loads, RDM.
MEDIAPIPE_AARCH64_FEATURES = frozenset({"atomics", "asimddp", "fphp", "asimdhp", "lrcpc", "asimdrdm"})
BACKENDS = ("auto", "mediapipe", "litert")


def cpu_features(cpuinfo: str) -> frozenset[str]:
    """The feature flags of the first processor in a /proc/cpuinfo text (``Features`` on ARM, ``flags`` on x86)."""
    for line in cpuinfo.splitlines():
        key, sep, value = line.partition(":")
        if sep and key.strip().lower() in ("features", "flags"):
            return frozenset(value.split())
    return frozenset()


def mediapipe_missing(machine: str, cpuinfo: str) -> frozenset[str]:
    """The CPU features MediaPipe's library needs and this CPU lacks (empty: it can run here)."""
    if machine.lower() not in ("aarch64", "arm64"):
        return frozenset()
    return MEDIAPIPE_AARCH64_FEATURES - cpu_features(cpuinfo)


def choose_backend(requested: str = "auto", machine: str | None = None, cpuinfo: str | None = None) -> str:
    """``mediapipe`` or ``litert``: the requested one, or for ``auto`` MediaPipe where its library runs."""
    if requested not in BACKENDS:
        raise ValueError(f"unknown hand landmark backend {requested!r} (one of {', '.join(BACKENDS)})")
    if requested != "auto":
        return requested
    machine = machine or platform.machine()
    if cpuinfo is None:
        path = Path("/proc/cpuinfo")
        cpuinfo = path.read_text(errors="replace") if path.exists() else ""
    if mediapipe_missing(machine, cpuinfo):
        return "litert"
    try:
        import_quietly("mediapipe")
    except ImportError:
        return "litert"
    return "mediapipe"
