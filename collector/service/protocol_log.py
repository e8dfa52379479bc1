"""One clear log line per peer for requests in the wrong protocol, instead of a traceback per retry.

A gRPC exporter pointed at an HTTP port by mistake sends the HTTP/2 preface (``PRI * HTTP/2.0``) on every
retry; aiohttp logs each one as an ERROR with a traceback. This filter turns the first one from a peer into
a line that says what is wrong and what to do, and drops the repeats.
"""

from __future__ import annotations

import logging

from aiohttp.http_exceptions import HttpProcessingError

# Peers remembered; past this the set starts again, so a scan of many addresses cannot grow it without bound.
MAX_PEERS = 1024
AIOHTTP_SERVER_LOGGER = "aiohttp.server"


class WrongProtocolFilter(logging.Filter):
    """Rewrites aiohttp's "Error handling request" records for unparseable requests: one line per peer."""

    def __init__(self) -> None:
        super().__init__()
        self._seen: set[tuple[str, bool]] = set()

    def filter(self, record: logging.LogRecord) -> bool:
        """Keep other records as they are; rewrite or drop bad-request ones."""
        error = record.exc_info[1] if record.exc_info else None
        if not isinstance(error, HttpProcessingError):
            return True
        peer = str(record.args[0]) if isinstance(record.args, tuple) and record.args else "a client"
        http2 = "PRI" in str(error.message)
        if (peer, http2) in self._seen:
            return False
        if len(self._seen) >= MAX_PEERS:
            self._seen.clear()
        self._seen.add((peer, http2))
        if http2:
            record.msg = (
                "%s sends HTTP/2 without negotiation (a gRPC exporter?) to an HTTP/1.1 port; point gRPC exporters "
                "at the gRPC port (4317 by default) and OTLP/HTTP exporters at the OTLP/HTTP port (4318); further "
                "requests like it from this peer are not logged"
            )
        else:
            record.msg = "%s sent a request that is not valid HTTP (%s); further ones from this peer are not logged"
        record.args = (peer,) if http2 else (peer, str(error.message).splitlines()[0] if error.message else "")
        record.levelno, record.levelname = logging.WARNING, "WARNING"
        record.exc_info = None
        record.exc_text = None
        return True

    def forget(self) -> None:
        """Log the next bad request of every peer again."""
        self._seen.clear()


def install_wrong_protocol_filter() -> WrongProtocolFilter:
    """The filter on aiohttp's server logger, installed once per process (the logger is process-wide)."""
    logger = logging.getLogger(AIOHTTP_SERVER_LOGGER)
    for existing in logger.filters:
        if isinstance(existing, WrongProtocolFilter):
            return existing
    installed = WrongProtocolFilter()
    logger.addFilter(installed)
    return installed
