"""The hardware class of a run off the baseline's CPU: names nvidia-smi reports, and the order of the sources."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest

from shadow.hardware import detected_nvidia_class, gpu_class_from_name, hardware_class_for
from shadow.variants import CPU_PROVIDER


@pytest.mark.parametrize(
    ("name", "hardware"),
    [
        ("NVIDIA H100 80GB HBM3", "nvidia-h100"),
        ("Tesla T4", "nvidia-t4"),
        ("NVIDIA A10G", "nvidia-a10g"),
        ("NVIDIA L4", "nvidia-l4"),
        ("NVIDIA A100-SXM4-80GB", "nvidia-a100"),
        ("NVIDIA GeForce RTX 4090", "nvidia-4090"),
        ("NVIDIA H200", "nvidia-h200"),
        ("NVIDIA Graphics Device", None),
    ],
)
def test_gpu_names_become_the_pricing_classes(name: str, hardware: str | None) -> None:
    """nvidia-smi's names map onto the [pricing.hardware] class names (nvidia-t4, nvidia-h100, ...)."""
    assert gpu_class_from_name(name) == hardware


def _fake_nvidia_smi(directory: Path, output: str, exit_code: int = 0) -> None:
    """A stand-in ``nvidia-smi`` on PATH that prints ``output`` and exits with ``exit_code``."""
    script = directory / "nvidia-smi"
    script.write_text(f"#!/bin/sh\nprintf '%s\\n' '{output}'\nexit {exit_code}\n")
    script.chmod(script.stat().st_mode | stat.S_IXUSR)


def test_detection_reads_nvidia_smi_and_says_none_without_it(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The first GPU's name when nvidia-smi answers; None when it is missing or fails (no driver)."""
    monkeypatch.setenv("PATH", str(tmp_path))
    assert detected_nvidia_class() is None
    detected_nvidia_class.cache_clear()
    _fake_nvidia_smi(tmp_path, "NVIDIA H100 80GB HBM3")
    assert detected_nvidia_class() == "nvidia-h100"
    detected_nvidia_class.cache_clear()
    _fake_nvidia_smi(tmp_path, "NVIDIA-SMI has failed because it could not communicate with the driver", 9)
    assert detected_nvidia_class() is None


def test_a_run_takes_the_requested_class_then_the_mapping_then_the_detected_gpu(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Requested > [shadow.provider_hardware] > nvidia-smi; CPU runs take the baseline's class; else unknown."""
    monkeypatch.setenv("PATH", str(tmp_path))
    mapping = {"CUDAExecutionProvider": "nvidia-l4"}

    def resolve(provider: str, requested: str | None = None, table: dict[str, str] | None = None) -> str | None:
        return hardware_class_for(provider, requested=requested, baseline_class="cpu", provider_hardware=table or {})

    assert resolve(CPU_PROVIDER) == "cpu"
    assert resolve(CPU_PROVIDER, requested="cpu-graviton") == "cpu-graviton"
    assert resolve("CUDAExecutionProvider", requested="nvidia-t4", table=mapping) == "nvidia-t4"
    assert resolve("CUDAExecutionProvider", table=mapping) == "nvidia-l4"
    assert resolve("CUDAExecutionProvider") is None  # no nvidia-smi on this PATH
    assert resolve("OpenVINOExecutionProvider") is None
    detected_nvidia_class.cache_clear()
    _fake_nvidia_smi(tmp_path, "Tesla T4")
    assert resolve("TensorrtExecutionProvider") == "nvidia-t4"
    assert resolve("OpenVINOExecutionProvider") is None  # not an NVIDIA provider: nvidia-smi says nothing of it
