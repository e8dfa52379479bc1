"""Which features of a model are numeric, as its drift reference says, held in memory for the ingest path.

The drift reference is the only schema inferwatch has of a model's features. Ingest checks each prediction
against it without touching the database: a background pass replaces the whole mapping now and then, and a
lookup is a dictionary read (one pointer swap makes the replacement atomic for readers in other threads).
"""

from __future__ import annotations

from collections.abc import Mapping

ModelVersion = tuple[str, str]


class NumericFeatures:
    """Numeric feature names per (model, version); empty until the first refresh."""

    def __init__(self, by_version: Mapping[ModelVersion, frozenset[str]] | None = None) -> None:
        self._by_version: Mapping[ModelVersion, frozenset[str]] = {}
        self._by_model: Mapping[str, frozenset[str]] = {}
        self.replace(by_version or {})

    def replace(self, by_version: Mapping[ModelVersion, frozenset[str]]) -> None:
        """Swap in a fresh mapping, as read from the stored references."""
        by_model: dict[str, frozenset[str]] = {}
        for (model, _), names in by_version.items():
            by_model[model] = by_model.get(model, frozenset()) | names
        self._by_version, self._by_model = dict(by_version), by_model

    def of(self, model: str, version: str) -> frozenset[str]:
        """The version's numeric features; for a version without a reference, those of the model's others
        (a new version usually keeps its inputs)."""
        names = self._by_version.get((model, version))
        return names if names is not None else self._by_model.get(model, frozenset())
