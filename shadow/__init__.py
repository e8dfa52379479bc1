"""Variant builders, traffic replay, comparison statistics and the switch recommendation."""
