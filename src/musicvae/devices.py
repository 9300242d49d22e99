"""`--device` names -> torch devices, with one clear error naming the devices that exist."""

from __future__ import annotations

import torch


class DeviceError(ValueError):
    """A device that this machine does not have (or a name torch does not know)."""


def available_devices() -> list[str]:
    """The device names this machine can run on: cpu, cuda:0.. (CUDA GPUs), mps (Apple)."""
    names = ["cpu"]
    if torch.cuda.is_available():
        names += [f"cuda:{i}" for i in range(torch.cuda.device_count())]
    mps = getattr(torch.backends, "mps", None)
    if mps is not None and mps.is_available():
        names.append("mps")
    return names


def resolve_device(name: str | torch.device, local_rank: int | None = None) -> torch.device:
    """A --device value -> torch.device; `gpu` means the first CUDA (else MPS) GPU. A device that
    is absent raises DeviceError naming the ones that exist. `local_rank` picks the GPU of a
    torchrun process for a plain `cuda`."""
    if isinstance(name, torch.device):
        return name
    text = str(name).strip().lower()
    have = available_devices()
    listed = ", ".join(have)
    if text == "gpu":
        if any(d.startswith("cuda") for d in have):
            text = "cuda"
        elif "mps" in have:
            text = "mps"
        else:
            raise DeviceError(f"--device gpu: this machine has no GPU; available: {listed}")
    try:
        device = torch.device(text)
    except RuntimeError:
        raise DeviceError(f"unknown --device {name!r}; available: {listed}") from None
    if device.type == "cuda":
        if not torch.cuda.is_available():
            raise DeviceError(f"--device {name}: no CUDA GPU is available; available: {listed}")
        index = device.index if device.index is not None else (local_rank or 0)
        if index >= torch.cuda.device_count():
            raise DeviceError(f"--device {name}: no such CUDA GPU; available: {listed}")
        return torch.device("cuda", index)
    if device.type == "mps" and "mps" not in have:
        raise DeviceError(f"--device {name}: MPS (Apple GPU) is not available; available: {listed}")
    if device.type not in ("cpu", "cuda", "mps"):
        raise DeviceError(f"--device {name}: not supported; available: {listed}")
    return device
