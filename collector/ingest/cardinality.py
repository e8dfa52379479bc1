"""Cardinality limits on what spans are rolled up by: models, versions, operations and hardware classes.

Every distinct model, version, operation and hardware class becomes rollup rows, detector state and (on
the pages) series; a client that sends 200,000 made-up model names would otherwise grow all of them without
bound. Past a limit, new values are stored as ``OTHER`` and counted, first come first served; the values
already known are seeded from the last day of rollups at start, so a restart does not let newcomers take
the place of models that were already watched. Each replica keeps its own sets.
"""

from __future__ import annotations

import logging
import time
from collections import defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select
from sqlalchemy.engine import Engine

from collector.core.domain import SpanRecord
from collector.core.storage.tables import SpanRollupRow

logger = logging.getLogger(__name__)

OTHER = "other"
DIMENSIONS = ("model", "version", "operation", "hardware_class")
SEED_WINDOW_S = 86400
# Label combinations already known to be within the limits: one set lookup per span on the hot path
# instead of four. Cleared when it reaches this size, so it stays bounded.
ADMITTED_CACHE = 100_000


@dataclass(frozen=True)
class CardinalityLimits:
    """The most distinct values kept per dimension; versions and operations count per model."""

    max_models: int = 1000
    max_versions_per_model: int = 100
    max_operations_per_model: int = 200
    max_hardware_classes: int = 100

    def __post_init__(self) -> None:
        for name in ("max_models", "max_versions_per_model", "max_operations_per_model", "max_hardware_classes"):
            if getattr(self, name) <= 0:
                raise ValueError(f"`{name}` must be > 0, got {getattr(self, name)}")


class CardinalityLimiter:
    """Maps span labels past the limits to ``OTHER``; ``on_overflow(dimension, count)`` counts each."""

    def __init__(self, limits: CardinalityLimits, on_overflow: Callable[[str, int], object] | None = None) -> None:
        self.limits = limits
        self._on_overflow = on_overflow
        self._models: set[str] = set()
        self._versions: dict[str, set[str]] = defaultdict(set)
        self._operations: dict[str, set[str]] = defaultdict(set)
        self._hardware: set[str] = set()
        self._admitted: set[tuple[str, str | None, str | None, str | None]] = set()

    def seed(self, known: Iterable[tuple[str, str, str, str]]) -> None:
        """Values already watched, as ``(model, version, operation, hardware_class)``, up to the limits."""
        for model, version, operation, hardware in known:
            if self._admit_model(model):
                self._admit(self._versions[model], version, self.limits.max_versions_per_model)
                self._admit(self._operations[model], operation, self.limits.max_operations_per_model)
            self._admit(self._hardware, hardware, self.limits.max_hardware_classes)

    def seed_from(self, engine: Engine) -> None:
        """Seed from the rollups of the last day; a database that cannot answer leaves the sets empty."""
        since = int(time.time()) - SEED_WINDOW_S
        query = (
            select(
                SpanRollupRow.model_name,
                SpanRollupRow.model_version,
                SpanRollupRow.operation,
                SpanRollupRow.hardware_class,
            )
            .distinct()
            .where(SpanRollupRow.bucket_start_unix_s >= since)
            .limit(self.limits.max_models * self.limits.max_versions_per_model)
        )
        try:
            with engine.connect() as connection:
                self.seed((row[0], row[1], row[2], row[3]) for row in connection.execute(query))
        except Exception as error:  # a cold start without seeds is still correct, only less stable
            logger.warning("could not read known models for the cardinality limits: %s", error)

    def limit(self, records: list[SpanRecord]) -> list[SpanRecord]:
        """The records with labels past the limits replaced by ``OTHER``."""
        overflow: dict[str, int] = defaultdict(int)
        limited = records
        admitted = self._admitted
        for index, record in enumerate(records):
            model = record.model_name
            labels = (model, record.model_version, record.operation, record.hardware_class)
            if model is None or labels in admitted:
                continue
            changes: dict[str, Any] = {}
            if not self._admit_model(model):
                changes["model_name"] = model = OTHER
                overflow["model"] += 1
            version = record.model_version or ""
            if not self._admit(self._versions[model], version, self.limits.max_versions_per_model):
                changes["model_version"] = OTHER
                overflow["version"] += 1
            operation = record.operation or ""
            if not self._admit(self._operations[model], operation, self.limits.max_operations_per_model):
                changes["operation"] = OTHER
                overflow["operation"] += 1
            hardware = record.hardware_class
            if hardware is not None and not self._admit(self._hardware, hardware, self.limits.max_hardware_classes):
                changes["hardware_class"] = OTHER
                overflow["hardware_class"] += 1
            if changes:
                if limited is records:
                    limited = list(records)
                limited[index] = record._replace(**changes)
            else:
                if len(admitted) >= ADMITTED_CACHE:
                    admitted.clear()
                admitted.add(labels)  # type: ignore[arg-type]  # model is not None here
        if self._on_overflow is not None:
            for dimension, count in overflow.items():
                self._on_overflow(dimension, count)
        return limited

    def series_labels(self, model: str, version: str, hardware_class: str) -> tuple[str, str, str]:
        """A per-model series' labels as the limits allow them, admitting new values while there is room.

        For series built from what is stored (``/metrics``), where labels may come from before a limit was
        lowered or from another replica's sets; an empty hardware class (a token-priced model) stays empty.
        """
        if not self._admit_model(model):
            model = OTHER
        if not self._admit(self._versions[model], version, self.limits.max_versions_per_model):
            version = OTHER
        if hardware_class and not self._admit(self._hardware, hardware_class, self.limits.max_hardware_classes):
            hardware_class = OTHER
        return model, version, hardware_class

    def _admit_model(self, model: str) -> bool:
        return model == OTHER or self._admit(self._models, model, self.limits.max_models)

    @staticmethod
    def _admit(known: set[str], value: str, limit: int) -> bool:
        if value in known or value == OTHER:
            return True
        if len(known) >= limit:
            return False
        known.add(value)
        return True
