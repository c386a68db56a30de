"""Choosing the hand landmark backend from the CPU's features."""

import pytest

from shared.hands.cpu import MEDIAPIPE_AARCH64_FEATURES, choose_backend, cpu_features, mediapipe_missing

# /proc/cpuinfo as a Raspberry Pi 4 (Cortex-A72, ARMv8.0) and a Pi 5 (Cortex-A76, ARMv8.2) show it.
PI4 = """processor\t: 0
BogoMIPS\t: 108.00
Features\t: fp asimd evtstrm crc32 cpuid
CPU implementer\t: 0x41
CPU architecture: 8
CPU part\t: 0xd08
"""
PI5 = """processor\t: 0
BogoMIPS\t: 108.00
Features\t: fp asimd evtstrm aes pmull sha1 sha2 crc32 atomics fphp asimdhp cpuid asimdrdm lrcpc dcpop asimddp
CPU implementer\t: 0x41
CPU part\t: 0xd0b
"""
X86 = "processor\t: 0\nflags\t\t: fpu vme de pse tsc msr sse sse2 avx avx2\n"


def test_features_are_read_from_arm_and_x86_cpuinfo():
    assert "asimddp" in cpu_features(PI5) and "atomics" not in cpu_features(PI4)
    assert "avx2" in cpu_features(X86)
    assert cpu_features("") == frozenset()


def test_a_pi4_lacks_what_mediapipe_was_built_for_and_a_pi5_has_it():
    assert mediapipe_missing("aarch64", PI4) == MEDIAPIPE_AARCH64_FEATURES
    assert mediapipe_missing("aarch64", PI5) == frozenset()
    assert mediapipe_missing("x86_64", X86) == frozenset()  # the x86 wheels run on any x86-64 here


def test_auto_picks_litert_on_a_pi4_and_mediapipe_on_a_pi5_and_x86():
    assert choose_backend("auto", "aarch64", PI4) == "litert"
    assert choose_backend("auto", "aarch64", PI5) == "mediapipe"
    assert choose_backend("auto", "x86_64", X86) in ("mediapipe", "litert")  # litert only without mediapipe
    assert choose_backend("auto", "aarch64", "") == "litert"  # nothing known: never risk a SIGILL


def test_an_explicit_backend_is_kept_and_an_unknown_one_refused():
    assert choose_backend("mediapipe", "aarch64", PI4) == "mediapipe"
    assert choose_backend("litert", "x86_64", X86) == "litert"
    with pytest.raises(ValueError, match="unknown hand landmark backend"):
        choose_backend("tflite")
