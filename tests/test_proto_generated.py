"""The committed inferwatch.v1 code is exactly what the pinned grpcio-tools generates from the sources."""

from __future__ import annotations

import importlib.util
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
GENERATED = REPO / "proto" / "inferwatch" / "v1"


def load_generator() -> object:
    """Import proto/generate.py by path: `proto` must never be an import package."""
    spec = importlib.util.spec_from_file_location("inferwatch_proto_generate", REPO / "proto" / "generate.py")
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def generated_files(root: Path) -> dict[str, bytes]:
    """Every generated file under root/inferwatch/v1, by name."""
    folder = root / "inferwatch" / "v1"
    return {path.name: path.read_bytes() for path in sorted(folder.glob("*_pb2*.py*"))}


def test_committed_code_matches_a_fresh_generation(tmp_path: Path) -> None:
    """Regenerating into a scratch folder gives byte-identical files; run `make proto` when this fails."""
    generator = load_generator()
    generator.generate(tmp_path)  # type: ignore[attr-defined]
    fresh = generated_files(tmp_path)
    committed = generated_files(REPO / "proto")
    assert sorted(fresh) == sorted(committed), "generated file set differs; run `make proto`"
    stale = [name for name in fresh if fresh[name] != committed[name]]
    assert not stale, f"stale generated code: {stale}; run `make proto` and commit the result"


def test_every_proto_file_has_generated_code() -> None:
    """Each .proto source has its _pb2, _pb2.pyi and _pb2_grpc module."""
    for source in GENERATED.glob("*.proto"):
        for suffix in ("_pb2.py", "_pb2.pyi", "_pb2_grpc.py"):
            assert (GENERATED / f"{source.stem}{suffix}").exists(), f"{source.name} lacks {suffix}"


def test_wire_services_for_the_whole_mission_exist() -> None:
    """The API names the services the mission needs, so later features grow fields, not packages."""
    from inferwatch.v1 import (
        alert_service_pb2,
        finding_service_pb2,
        model_service_pb2,
        prediction_service_pb2,
        shadow_service_pb2,
    )

    services = {
        name
        for module in (
            prediction_service_pb2,
            model_service_pb2,
            shadow_service_pb2,
            finding_service_pb2,
            alert_service_pb2,
        )
        for name in module.DESCRIPTOR.services_by_name
    }
    assert services == {
        "PredictionService",
        "ModelService",
        "ShadowService",
        "FindingService",
        "ReferenceService",
        "AlertService",
    }
    methods = set(prediction_service_pb2.DESCRIPTOR.services_by_name["PredictionService"].methods_by_name)
    assert methods == {"LogPredictions", "LogOutcomes"}
    shadow_methods = set(shadow_service_pb2.DESCRIPTOR.services_by_name["ShadowService"].methods_by_name)
    assert {"StartShadowRun", "GetShadowRun", "GetShadowRunResult"} <= shadow_methods
