"""gRPC error answers that clients act on correctly.

Overload is UNAVAILABLE with RetryInfo in both places real clients look: the status details
(``grpc-status-details-bin``, read by the Go collector) and the ``google.rpc.retryinfo-bin`` trailer (the only
place the Python SDK reads). research/otlp-anchors.md has the measurements behind this.
"""

from __future__ import annotations

from typing import NoReturn

import grpc
from google.protobuf import any_pb2, duration_pb2
from google.rpc import code_pb2, error_details_pb2, status_pb2

RETRY_INFO_TRAILER = "google.rpc.retryinfo-bin"
STATUS_DETAILS_TRAILER = "grpc-status-details-bin"


def retry_trailers(message: str, retry_after_s: float) -> tuple[tuple[str, bytes], ...]:
    """Trailing metadata for UNAVAILABLE with a RetryInfo of ``retry_after_s``."""
    seconds = int(retry_after_s)
    delay = duration_pb2.Duration(seconds=seconds, nanos=int((retry_after_s - seconds) * 1e9))
    retry_info = error_details_pb2.RetryInfo(retry_delay=delay)
    detail = any_pb2.Any()
    detail.Pack(retry_info)
    status = status_pb2.Status(code=code_pb2.UNAVAILABLE, message=message, details=[detail])
    return (
        (STATUS_DETAILS_TRAILER, status.SerializeToString()),
        (RETRY_INFO_TRAILER, retry_info.SerializeToString()),
    )


async def abort_retry_later(
    context: grpc.aio.ServicerContext[bytes, bytes], message: str, retry_after_s: float
) -> NoReturn:
    """Answer UNAVAILABLE and tell the client when to retry."""
    await context.abort(grpc.StatusCode.UNAVAILABLE, message, trailing_metadata=retry_trailers(message, retry_after_s))
    raise AssertionError("unreachable: abort raises")  # pragma: no cover
