"""Drift, latency, error/SLO and cost detectors, their windows and references, and the scheduler."""
