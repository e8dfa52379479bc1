"""The hardware class a run is priced by, when it runs on an execution provider other than the baseline's.

A variant on the CPU provider runs where the baseline runs, so it takes the baseline's class. A variant on
CUDA or TensorRT runs on a GPU: pricing it at the baseline's CPU price would make any faster GPU look cheaper,
and recommend a switch that costs more. Its class is, in order: the one the request names, the one
``[shadow.provider_hardware]`` maps its provider to, the GPU that ``nvidia-smi`` reports (as the classes of
``[pricing.hardware]`` are named: ``nvidia-t4``, ``nvidia-h100``), or unknown, in which case no gain is claimed.
"""

from __future__ import annotations

import functools
import re
import subprocess
from collections.abc import Mapping
from typing import Final

from shadow.variants import CPU_PROVIDER

NVIDIA_PROVIDERS: Final = frozenset({"CUDAExecutionProvider", "TensorrtExecutionProvider"})
_NVIDIA_SMI_TIMEOUT_S: Final = 5.0


def gpu_class_from_name(name: str) -> str | None:
    """``nvidia-smi``'s GPU name as a hardware class: ``NVIDIA H100 80GB HBM3`` and ``Tesla T4`` give
    ``nvidia-h100`` and ``nvidia-t4``; None for a name with no model in it."""
    words = re.sub(r"^(NVIDIA|Tesla|GeForce|Quadro)\s+", "", name.strip(), flags=re.IGNORECASE).split()
    # The model is the first word with a digit in it (H100, A10G, L4; RTX 4090 -> 4090), before any suffix
    # such as -SXM4-80GB.
    model = next((word for word in words if any(ch.isdigit() for ch in word)), None)
    return f"nvidia-{model.split('-')[0].lower()}" if model else None


def nvidia_gpu_names() -> tuple[str, ...]:
    """The names ``nvidia-smi`` gives this machine's NVIDIA GPUs; empty without one (or without nvidia-smi)."""
    try:
        completed = subprocess.run(
            ["nvidia-smi", "--query-gpu=name", "--format=csv,noheader"],
            capture_output=True,
            text=True,
            timeout=_NVIDIA_SMI_TIMEOUT_S,
            check=True,
        )
    except (OSError, subprocess.SubprocessError):
        return ()
    return tuple(line.strip() for line in completed.stdout.splitlines() if line.strip())


@functools.cache
def detected_nvidia_class() -> str | None:
    """The hardware class of this machine's first NVIDIA GPU, or None without one (or without nvidia-smi)."""
    names = nvidia_gpu_names()
    return gpu_class_from_name(names[0]) if names else None


def hardware_class_for(
    provider: str,
    *,
    requested: str | None,
    baseline_class: str,
    provider_hardware: Mapping[str, str],
) -> str | None:
    """The class a run on ``provider`` is priced by (see the module docstring); None when it is unknown."""
    if requested:
        return requested
    if provider == CPU_PROVIDER:
        return baseline_class
    if provider in provider_hardware:
        return provider_hardware[provider]
    if provider in NVIDIA_PROVIDERS:
        return detected_nvidia_class()
    return None
