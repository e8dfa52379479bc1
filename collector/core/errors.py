"""The exception hierarchy: one root, a few subclasses that callers actually tell apart."""

from __future__ import annotations


class InferwatchError(Exception):
    """Root of every error inferwatch raises on purpose."""


class ConfigError(InferwatchError):
    """A configuration value is missing or invalid; the message names the key, its source and the value."""


class UsageError(InferwatchError):
    """A command was given something it cannot use (a file that does not exist, a range with nothing in it):
    the CLI exits 2, as for bad options, since running it again unchanged cannot succeed."""


class StorageError(InferwatchError):
    """The database is unreachable, or its schema is not what this version of inferwatch expects."""


class NotFittedError(InferwatchError):
    """A detector was asked to score before it was fitted to a reference."""

    def __init__(self, detector: str) -> None:
        super().__init__(f"{detector} is not fitted: call fit(reference) before score(window)")
        self.detector = detector
