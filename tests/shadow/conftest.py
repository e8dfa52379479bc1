"""Models built once per test module for the shadow tests, and a fresh GPU detection for each test."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from shadow.hardware import detected_nvidia_class
from tests.shadow.models import BuiltModel, digits_mlp, extreme_range_mlp, iris_tiny_mlp


@pytest.fixture(autouse=True)
def _fresh_gpu_detection() -> Iterator[None]:
    """nvidia-smi's answer is cached per process; tests that change PATH must not leak theirs to others."""
    detected_nvidia_class.cache_clear()
    yield
    detected_nvidia_class.cache_clear()


@pytest.fixture(scope="session")
def model_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A directory for the built ONNX files."""
    return tmp_path_factory.mktemp("shadow-models")


@pytest.fixture(scope="session")
def digits(model_dir: Path) -> BuiltModel:
    """The digits MLP and its test split."""
    return digits_mlp(model_dir)


@pytest.fixture(scope="session")
def extreme(model_dir: Path) -> BuiltModel:
    """The MLP that int8 breaks."""
    return extreme_range_mlp(model_dir)


@pytest.fixture(scope="session")
def tiny(model_dir: Path) -> BuiltModel:
    """The 4-8-3 iris MLP."""
    return iris_tiny_mlp(model_dir)
