"""The model registry: register a baseline version with its ONNX artifact and hardware class."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session

from collector.core.storage.tables import MODEL_TASKS, ModelRow, ModelVersionRow
from shadow.errors import ArtifactNotFoundError, ShadowError


class VersionConflictError(ShadowError):
    """The version is registered with a different artifact, and replacing it was not asked for."""


@dataclass(frozen=True)
class ModelVersion:
    """A registered model version."""

    model_name: str
    version: str
    artifact_uri: str
    artifact_sha256: str
    hardware_class: str
    task: str
    class_labels: tuple[str, ...]
    created_at: datetime


def sha256_of(path: Path) -> str:
    """Hex SHA-256 of a file, read in chunks."""
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def check_onnx_artifact(path: Path) -> None:
    """The artifact exists and is a well-formed ONNX model; raises ArtifactNotFoundError naming the file."""
    if not path.is_file():
        raise ArtifactNotFoundError(f"ONNX artifact {path} does not exist or is not a file")
    import onnx

    try:
        onnx.checker.check_model(str(path))
    except (onnx.checker.ValidationError, OSError, ValueError) as error:
        raise ArtifactNotFoundError(f"{path} is not a valid ONNX model: {str(error).splitlines()[0]}") from None


def _version(row: ModelVersionRow, model_name: str) -> ModelVersion:
    return ModelVersion(
        model_name,
        row.version,
        row.artifact_uri,
        row.artifact_sha256,
        row.hardware_class,
        row.task,
        tuple(row.class_labels),
        row.created_at,
    )


def register_model_version(
    engine: Engine,
    *,
    model_name: str,
    version: str,
    artifact: Path,
    hardware_class: str = "cpu",
    task: str = "unspecified",
    class_labels: tuple[str, ...] = (),
    replace: bool = False,
) -> tuple[ModelVersion, bool]:
    """Register (or confirm) a version; returns it and whether anything was created or changed.

    Registering the same version with the same artifact digest again is a no-op; a different digest is a
    VersionConflictError unless ``replace`` is set.
    """
    if not model_name or not version:
        raise ValueError(f"`model_name` and `version` are required, got {model_name!r} and {version!r}")
    if task not in MODEL_TASKS:
        raise ValueError(f"`task` must be one of {', '.join(MODEL_TASKS)}, got {task!r}")
    path = artifact.resolve()
    check_onnx_artifact(path)
    digest = sha256_of(path)
    with Session(engine) as session, session.begin():
        model = session.scalar(select(ModelRow).where(ModelRow.name == model_name))
        if model is None:
            model = ModelRow(name=model_name, description="")
            session.add(model)
            session.flush()
        row = session.scalar(
            select(ModelVersionRow).where(ModelVersionRow.model_id == model.id, ModelVersionRow.version == version)
        )
        if row is not None and row.artifact_sha256 == digest and row.artifact_uri == str(path):
            return _version(row, model_name), False
        if row is not None and not replace:
            raise VersionConflictError(
                f"{model_name} version {version} is registered with artifact {row.artifact_uri} "
                f"(sha256 {row.artifact_sha256[:12]}...); pass --replace to point it at {path}"
            )
        if row is None:
            row = ModelVersionRow(model_id=model.id, version=version, class_labels=[], metadata_={})
            session.add(row)
        row.artifact_uri = str(path)
        row.artifact_sha256 = digest
        row.artifact_format = "onnx"
        row.hardware_class = hardware_class
        row.task = task
        row.class_labels = list(class_labels)
        session.flush()
        return _version(row, model_name), True


def list_model_versions(engine: Engine, model_name: str | None = None) -> list[ModelVersion]:
    """Registered versions, by model name then registration time."""
    query = select(ModelVersionRow, ModelRow.name).join(ModelRow, ModelRow.id == ModelVersionRow.model_id)
    if model_name:
        query = query.where(ModelRow.name == model_name)
    with Session(engine) as session:
        rows = session.execute(query.order_by(ModelRow.name, ModelVersionRow.created_at)).all()
        return [_version(row, name) for row, name in rows]


def latest_version(engine: Engine, model_name: str) -> str:
    """The most recently registered version of a model; ShadowError when there is none."""
    versions = list_model_versions(engine, model_name)
    if not versions:
        raise ArtifactNotFoundError(f"model {model_name!r} has no registered version; run `inferwatch models register`")
    return max(versions, key=lambda v: v.created_at).version
