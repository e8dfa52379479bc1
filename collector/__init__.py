"""inferwatch's kernel (domain types, config, storage, errors) and the collector service around it."""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("inferwatch")
except PackageNotFoundError:  # running from a source tree that was never installed
    __version__ = "0.0.0+unknown"
