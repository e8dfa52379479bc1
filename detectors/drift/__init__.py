"""Data drift: batch detectors over raw columns, mergeable summaries, and scoring from summaries.

``KSDrift`` is the default (KS for numbers, pooled chi-square for categories, Benjamini-Hochberg across
every test); ``SummaryDrift`` scores per-window summaries that merge across windows and replicas.
"""

from __future__ import annotations

from detectors.drift.base import DriftDetector
from detectors.drift.detectors import JensenShannonDrift, KSDrift, PSIDrift, WassersteinDrift
from detectors.drift.results import DriftReport, FeatureDrift, MissingRateChange, Statistic, UnseenCategories
from detectors.drift.streaming import SummaryDrift
from detectors.drift.summaries import CategoricalSummary, NumericSummary, summary_from_json

__all__ = [
    "CategoricalSummary",
    "DriftDetector",
    "DriftReport",
    "FeatureDrift",
    "JensenShannonDrift",
    "KSDrift",
    "MissingRateChange",
    "NumericSummary",
    "PSIDrift",
    "Statistic",
    "SummaryDrift",
    "UnseenCategories",
    "WassersteinDrift",
    "summary_from_json",
]
