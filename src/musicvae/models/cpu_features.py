"""What this CPU offers for bf16 matrix products, detected at run time.

bf16 pays on CPUs with native bf16 dot products: AVX-512 BF16 (`avx512_bf16`, Intel Cooper
Lake and later, AMD Zen 4 and later) or AMX tiles (`amx_bf16`, Intel Sapphire Rapids and later).
Elsewhere oneDNN emulates bf16 with fp32 arithmetic plus conversions, which is slower than fp32.
"""

from __future__ import annotations

from pathlib import Path

import torch

BF16_FLAGS = ("amx_bf16", "avx512_bf16")


def parse_cpu_flags(cpuinfo: str) -> frozenset[str]:
    """The `flags` of the first processor in /proc/cpuinfo text (empty if there is none)."""
    for line in cpuinfo.splitlines():
        key, _, value = line.partition(":")
        if key.strip() in ("flags", "Features"):
            return frozenset(value.split())
    return frozenset()


def cpu_flags() -> frozenset[str]:
    """This machine's CPU flags (Linux); empty where /proc/cpuinfo is absent."""
    try:
        return parse_cpu_flags(Path("/proc/cpuinfo").read_text())
    except OSError:
        return frozenset()


def bf16_units(flags: frozenset[str]) -> tuple[str, ...]:
    """The native bf16 matrix units among `flags`, best first (e.g. ('avx512_bf16',))."""
    return tuple(f for f in BF16_FLAGS if f in flags)


def native_bf16() -> bool:
    """True where bf16 matrix products run natively (AMX or AVX-512 BF16) and torch's CPU
    kernels were built for AVX-512 or better."""
    capability = torch.backends.cpu.get_cpu_capability()
    return bool(bf16_units(cpu_flags())) and capability.startswith(("AVX512", "AMX"))


def describe() -> str:
    """One line for logs and benchmark tables: torch's kernel level and the bf16 units."""
    units = ", ".join(bf16_units(cpu_flags())) or "no native bf16"
    return f"{torch.backends.cpu.get_cpu_capability()} kernels, {units}"
