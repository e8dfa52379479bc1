"""inferwatch's collector: the kernel every package imports, the ingest path, the service shell and the CLI.

Four parts, each a subpackage, with one import rule each (``tests/test_architecture.py`` checks them):

- ``collector.core``: domain types, configuration and settings, storage, pricing, findings, metrics, errors,
  and the small contracts features plug in with; imports nothing else of inferwatch.
- ``collector.ingest``: OTLP and ``inferwatch.v1`` decoding, the durable spool, the batch writer; imports only
  ``core``.
- ``collector.service``: the composition root and the gRPC and HTTP servers; imports everything.
- ``collector.cli``: the ``inferwatch`` command; imports everything.

This module exports ``__version__``.
"""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("inferwatch")
except PackageNotFoundError:  # running from a source tree that was never installed
    __version__ = "0.0.0+unknown"
