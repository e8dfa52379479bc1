"""OTLP JSON parsing on its own: protobuf's ``json_format.ParseDict`` against ``collector.service.otlp_json``.

Named baseline: ``ParseDict`` (with the hex ids rewritten to base64 first, as the receiver did before), on the
same body, in the same process, rounds alternating so machine load hits both alike. The body is the
span request of ``benchmarks/ingest.py`` (512 GenAI spans, 10 attributes each) as an OTLP/HTTP JSON exporter
sends it. Both parse the document ``orjson`` read; both results are checked equal. The whole-service row is
``benchmarks/ingest.py --only spans --transport http-json``.
Run: ``.venv/bin/python benchmarks/otlp_json_parse.py``.
"""

from __future__ import annotations

import argparse
import base64
import os
import time
from collections.abc import Callable
from typing import Any

import orjson
from google.protobuf import json_format
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

from benchmarks.ingest import span_request_json
from collector.service.otlp_json import parse

_HEX_KEYS = frozenset(("traceId", "spanId", "parentSpanId"))


def _base64_ids(value: Any) -> Any:
    if isinstance(value, dict):
        return {
            key: base64.b64encode(bytes.fromhex(item)).decode() if key in _HEX_KEYS else _base64_ids(item)
            for key, item in value.items()
        }
    if isinstance(value, list):
        return [_base64_ids(item) for item in value]
    return value


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=2.0, help="per round and parser")
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    body = span_request_json()
    spans = sum(
        len(scope["spans"]) for resource in orjson.loads(body)["resourceSpans"] for scope in resource["scopeSpans"]
    )
    parsers: dict[str, Callable[[], ExportTraceServiceRequest]] = {
        "json_format.ParseDict (baseline)": lambda: json_format.ParseDict(
            _base64_ids(orjson.loads(body)), ExportTraceServiceRequest(), ignore_unknown_fields=True
        ),
        "otlp_json.parse": lambda: parse(orjson.loads(body), ExportTraceServiceRequest()),
    }
    results = {name: make() for name, make in parsers.items()}
    if len({result.SerializeToString(deterministic=True) for result in results.values()}) != 1:
        raise SystemExit("the parsers disagree on the request")
    best: dict[str, float] = dict.fromkeys(parsers, 0.0)
    for _ in range(args.rounds):
        for name, make in parsers.items():
            began, calls = time.perf_counter(), 0
            while time.perf_counter() - began < args.seconds:
                make()
                calls += 1
            best[name] = max(best[name], spans * calls / (time.perf_counter() - began))
    baseline = best["json_format.ParseDict (baseline)"]
    print(f"{spans} spans per request; load average {os.getloadavg()[0]:.2f}; best of {args.rounds} rounds\n")
    print("| parser | spans/s | µs/span | × baseline |")
    print("|---|---|---|---|")
    for name, rate in best.items():
        print(f"| {name} | {rate:,.0f} | {1e6 / rate:.1f} | {rate / baseline:.2f} |")


if __name__ == "__main__":
    main()
