"""Ingest throughput: spans, predictions and outcomes accepted and stored by a running `inferwatch serve`.

Load comes from separate processes over loopback gRPC, with realistic requests: 512 spans of 10 attributes
each (GenAI and ML attributes, as instrumented services send them), 500 predictions of 20 features, and 500
outcomes. Spans are also sent over OTLP/HTTP, as protobuf and as OTLP JSON, to the same server. Every request
carries fresh ids, so nothing is deduplicated away. The baseline, measured in the same run on the same
machine, is the parse-only ceiling: a bare grpc.aio server that parses each request and answers, storing
nothing. Outcomes are compared with themselves: the prediction-id check off (``collector.check_outcome_ids``,
the baseline) and on, where every outcome names an unknown id, the dearest case (a database lookup that finds
nothing and a warning per outcome in the answer).

    python benchmarks/ingest.py [--seconds 10] [--clients 2] [--in-flight 4] [--db-url URL]

It prints one table: accepted and stored per second, p99 export latency, the server's peak memory (its
processes together) and its CPU time per item stored, which stays comparable when other work shares the
machine (a rate does not).
"""

from __future__ import annotations

import argparse
import base64
import http.client
import json
import math
import multiprocessing
import os
import re
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections import deque
from dataclasses import dataclass
from pathlib import Path

import grpc
from google.protobuf import json_format
from opentelemetry.proto.collector.trace.v1 import trace_service_pb2
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, KeyValue
from opentelemetry.proto.trace.v1.trace_pb2 import ResourceSpans, ScopeSpans, Span
from sqlalchemy import create_engine, text

from inferwatch.v1 import common_pb2, prediction_service_pb2

TRACE_EXPORT = "/opentelemetry.proto.collector.trace.v1.TraceService/Export"
LOG_PREDICTIONS = "/inferwatch.v1.PredictionService/LogPredictions"
LOG_OUTCOMES = "/inferwatch.v1.PredictionService/LogOutcomes"
METHODS = {"spans": TRACE_EXPORT, "predictions": LOG_PREDICTIONS, "outcomes": LOG_OUTCOMES}
SPANS_PER_REQUEST = 512
PREDICTIONS_PER_REQUEST = 500
OUTCOMES_PER_REQUEST = 500
# Replaced in the serialized request by a per-request counter, so every request has new ids.
MARKER = b"\xfeRQ\xfeMARK"
# fixed64 timestamps, replaced per request by the current time: real spans arrive in time order, and a
# template replayed with one frozen timestamp would make every insert land in the middle of the time index.
START_MARK = 0x7E57_A127_5EED_0001
END_MARK = 0x7E57_A127_5EED_0002


def span_request() -> bytes:
    """A 512-span request; every trace id contains MARKER."""
    spans = []
    for number in range(SPANS_PER_REQUEST):
        attributes: dict[str, str | int] = {
            "gen_ai.operation.name": "chat",
            "gen_ai.request.model": "gpt-4o",
            "gen_ai.response.model": "gpt-4o-2024-08-06",
            "gen_ai.provider.name": "openai",
            "gen_ai.usage.input_tokens": 300 + number,
            "gen_ai.usage.output_tokens": 40 + number % 17,
            "ml.model.version": "3",
            "http.route": "/v1/chat",
            "user.tier": "pro",
            "request.id": f"req-{number:06d}",
        }
        values = [
            KeyValue(key=k, value=AnyValue(int_value=v) if isinstance(v, int) else AnyValue(string_value=str(v)))
            for k, v in attributes.items()
        ]
        spans.append(
            Span(
                trace_id=MARKER + number.to_bytes(8, "big"),
                span_id=(number + 1).to_bytes(8, "big"),
                name="chat gpt-4o",
                kind=Span.SPAN_KIND_CLIENT,
                start_time_unix_nano=START_MARK,
                end_time_unix_nano=END_MARK,
                attributes=values,
            )
        )
    resource = ResourceSpans(scope_spans=[ScopeSpans(spans=spans)])
    for key, value in (
        ("service.name", "chat-api"),
        ("ml.hardware.class", "cpu"),
        ("host.name", "bench"),
        ("deployment.environment", "bench"),
    ):
        resource.resource.attributes.append(KeyValue(key=key, value=AnyValue(string_value=value)))
    return trace_service_pb2.ExportTraceServiceRequest(resource_spans=[resource]).SerializeToString()


def prediction_request() -> bytes:
    """A 500-prediction request with 20 features each; every prediction id contains MARKER."""
    predictions = []
    for number in range(PREDICTIONS_PER_REQUEST):
        prediction = prediction_service_pb2.Prediction(
            prediction_id=MARKER.hex() + f"-{number:06d}",
            model=common_pb2.ModelRef(name="fraud", version="7"),
            time_unix_nano=START_MARK,
        )
        for feature in range(20):
            if feature % 5 == 0:
                prediction.features[f"cat_{feature}"].category = f"c{(number + feature) % 13}"
            else:
                prediction.features[f"num_{feature}"].number = (number * 31 + feature) % 1000 / 7.0
        prediction.output.scores.labels.extend(["ok", "fraud"])
        prediction.output.scores.scores.extend([0.9, 0.1])
        predictions.append(prediction)
    return prediction_service_pb2.LogPredictionsRequest(predictions=predictions).SerializeToString()


def outcome_request() -> bytes:
    """A 500-outcome request, each a class label; every prediction id contains MARKER."""
    outcomes = [
        prediction_service_pb2.Outcome(
            prediction_id=MARKER.hex() + f"-{number:06d}",
            time_unix_nano=START_MARK,
            actual=common_pb2.Output(label="fraud" if number % 7 == 0 else "ok"),
        )
        for number in range(OUTCOMES_PER_REQUEST)
    ]
    return prediction_service_pb2.LogOutcomesRequest(outcomes=outcomes).SerializeToString()


REQUESTS = {"spans": span_request, "predictions": prediction_request, "outcomes": outcome_request}
PER_REQUEST = {"spans": SPANS_PER_REQUEST, "predictions": PREDICTIONS_PER_REQUEST, "outcomes": OUTCOMES_PER_REQUEST}


@dataclass(frozen=True)
class LoadSpec:
    """What one load generator sends, where, and for how long."""

    target: str
    method: str
    kind: str
    seconds: float
    in_flight: int
    # "grpc", or OTLP/HTTP as "http-protobuf" or "http-json" (spans only).
    transport: str = "grpc"
    # Requests per load generator at most (0: as many as the time allows); seeded ids run out after these.
    max_requests: int = 0


def span_request_json() -> bytes:
    """The span request as OTLP JSON: hex ids (with MARKER's hex inside), timestamps as decimal strings."""
    request = trace_service_pb2.ExportTraceServiceRequest.FromString(span_request())
    document = json_format.MessageToDict(request)
    for resource_spans in document["resourceSpans"]:
        for scope_spans in resource_spans["scopeSpans"]:
            for span in scope_spans["spans"]:
                for key in ("traceId", "spanId", "parentSpanId"):
                    if key in span:
                        span[key] = base64.b64decode(span[key]).hex()
    return json.dumps(document).encode()


def http_client_process(spec: LoadSpec, worker: int, results: multiprocessing.Queue) -> None:  # type: ignore[type-arg]
    """OTLP/HTTP load: ``in_flight`` keep-alive connections, each posting fresh requests in turn."""
    host, port = spec.target.rsplit(":", 1)
    json_body = spec.transport == "http-json"
    template = span_request_json() if json_body else span_request()
    content_type = "application/json" if json_body else "application/x-protobuf"
    marker = MARKER.hex().encode() if json_body else MARKER
    start_mark = str(START_MARK).encode() if json_body else START_MARK.to_bytes(8, "little")
    end_mark = str(END_MARK).encode() if json_body else END_MARK.to_bytes(8, "little")
    counter = [worker << 40]
    lock = threading.Lock()
    ok = [0]
    latencies: list[float] = []
    deadline = time.monotonic() + spec.seconds

    def connection_loop() -> None:
        connection = http.client.HTTPConnection(host, int(port), timeout=30)
        while time.monotonic() < deadline:
            with lock:
                counter[0] += 1
                unique = counter[0].to_bytes(len(MARKER), "big")
            payload = template.replace(marker, unique.hex().encode() if json_body else unique)
            now = time.time_ns()
            if json_body:
                payload = payload.replace(start_mark, str(now).encode()).replace(
                    end_mark, str(now + 250_000_000).encode()
                )
            else:
                payload = payload.replace(start_mark, now.to_bytes(8, "little"))
                payload = payload.replace(end_mark, (now + 250_000_000).to_bytes(8, "little"))
            started = time.perf_counter()
            connection.request("POST", "/v1/traces", body=payload, headers={"Content-Type": content_type})
            response = connection.getresponse()
            response.read()
            with lock:
                latencies.append(time.perf_counter() - started)
                ok[0] += response.status == 200
        connection.close()

    threads = [threading.Thread(target=connection_loop) for _ in range(spec.in_flight)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    results.put((ok[0], latencies))


def client_process(spec: LoadSpec, worker: int, results: multiprocessing.Queue) -> None:  # type: ignore[type-arg]
    """Send fresh requests with ``in_flight`` calls outstanding; report OK count and latencies."""
    target, method, kind, seconds, in_flight = spec.target, spec.method, spec.kind, spec.seconds, spec.in_flight
    template = REQUESTS[kind]()
    hex_ids = kind != "spans"
    marker = MARKER.hex().encode() if hex_ids else MARKER
    channel = grpc.insecure_channel(target, options=[("grpc.max_send_message_length", 64 << 20)])
    call = channel.unary_unary(method, request_serializer=None, response_deserializer=None)
    counter = worker << 40
    last = counter + spec.max_requests if spec.max_requests else None
    ok = 0
    latencies: list[float] = []
    pending: list[tuple[float, grpc.Future]] = []
    deadline = time.monotonic() + seconds

    def sending() -> bool:
        return time.monotonic() < deadline and counter != last

    while sending() or pending:
        while len(pending) < in_flight and sending():
            counter += 1
            # Same length as the marker, so the serialized message stays valid.
            unique = counter.to_bytes(len(MARKER), "big")
            payload = template.replace(marker, unique.hex().encode() if hex_ids else unique)
            now = time.time_ns()
            payload = payload.replace(START_MARK.to_bytes(8, "little"), now.to_bytes(8, "little"))
            payload = payload.replace(END_MARK.to_bytes(8, "little"), (now + 250_000_000).to_bytes(8, "little"))
            pending.append((time.perf_counter(), call.future(payload, timeout=30)))
        started, future = pending.pop(0)
        try:
            future.result()
            ok += 1
        except grpc.RpcError:
            pass
        latencies.append(time.perf_counter() - started)
    channel.close()
    results.put((ok, latencies))


@dataclass(frozen=True)
class LoadResult:
    """What the load generators saw."""

    items_ok: int
    seconds: float
    p99_ms: float


def drive(spec: LoadSpec, clients: int) -> LoadResult:
    """Run the load generators and gather what they saw."""
    results: multiprocessing.Queue = multiprocessing.Queue()  # type: ignore[type-arg]
    target = client_process if spec.transport == "grpc" else http_client_process
    workers = [multiprocessing.Process(target=target, args=(spec, n, results)) for n in range(clients)]
    seconds, kind = spec.seconds, spec.kind
    started = time.monotonic()
    for worker in workers:
        worker.start()
    gathered = [results.get(timeout=seconds + 120) for _ in workers]
    elapsed = time.monotonic() - started
    for worker in workers:
        worker.join()
    per_request = PER_REQUEST[kind]
    latencies = sorted(latency for _, batch in gathered for latency in batch)
    p99 = latencies[min(len(latencies) - 1, int(0.99 * len(latencies)))] * 1000 if latencies else float("nan")
    return LoadResult(sum(ok for ok, _ in gathered) * per_request, elapsed, p99)


def _family(pid: int) -> list[int]:
    """The process and its children (inferwatch's database writer)."""
    return [pid, *map(int, Path(f"/proc/{pid}/task/{pid}/children").read_text().split())]


def cpu_seconds(pid: int) -> float:
    """User plus system CPU time of the process and its children so far. Unlike a rate, CPU time per item
    changes little when other work shares the cores, so it compares runs on a busy machine."""
    ticks = os.sysconf("SC_CLK_TCK")
    total = 0
    for process in _family(pid):
        # Fields after the command name, which may contain spaces: utime and stime are the 12th and 13th.
        fields = Path(f"/proc/{process}/stat").read_text().rpartition(")")[2].split()
        total += int(fields[11]) + int(fields[12])
    return total / ticks


def peak_rss_mib(pid: int) -> float:
    """Peak resident memory (VmHWM) of the process plus its children (inferwatch's database writer)."""
    total_kib = 0
    for process in _family(pid):
        for line in Path(f"/proc/{process}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                total_kib += int(line.split()[1])
    return total_kib / 1024


PARSE_ONLY_SERVER = """
import asyncio, sys, grpc
from opentelemetry.proto.collector.trace.v1 import trace_service_pb2 as t
from inferwatch.v1 import prediction_service_pb2 as p
async def main():
    server = grpc.aio.server(options=[("grpc.max_receive_message_length", 64 << 20)])
    async def traces(raw, context):
        t.ExportTraceServiceRequest.FromString(raw)
        return b""
    async def predictions(raw, context):
        p.LogPredictionsRequest.FromString(raw)
        return b""
    server.add_generic_rpc_handlers((
        grpc.method_handlers_generic_handler("opentelemetry.proto.collector.trace.v1.TraceService",
            {"Export": grpc.unary_unary_rpc_method_handler(traces)}),
        grpc.method_handlers_generic_handler("inferwatch.v1.PredictionService",
            {"LogPredictions": grpc.unary_unary_rpc_method_handler(predictions)}),
    ))
    port = server.add_insecure_port("127.0.0.1:0")
    await server.start()
    print(port, flush=True)
    await server.wait_for_termination()
asyncio.run(main())
"""


def run_parse_only(kind: str, args: argparse.Namespace) -> tuple[LoadResult, float, float]:
    """The ceiling: parse and answer, nothing else."""
    server = subprocess.Popen([sys.executable, "-c", PARSE_ONLY_SERVER], stdout=subprocess.PIPE, text=True)
    assert server.stdout is not None
    port = int(server.stdout.readline())
    method = METHODS[kind]
    try:
        cpu_before = cpu_seconds(server.pid)
        result = drive(LoadSpec(f"127.0.0.1:{port}", method, kind, args.seconds, args.in_flight), args.clients)
        cpu = cpu_seconds(server.pid) - cpu_before
        memory = peak_rss_mib(server.pid)
    finally:
        server.terminate()
        server.wait()
    return result, memory, cpu


def seeded_ids(clients: int, requests: int) -> list[str]:
    """The prediction ids that ``requests`` outcome requests of each load generator will name."""
    return [
        f"{((worker << 40) + request).to_bytes(len(MARKER), 'big').hex()}-{number:06d}"
        for worker in range(clients)
        for request in range(1, requests + 1)
        for number in range(OUTCOMES_PER_REQUEST)
    ]


def seed_predictions(db_url: str, ids: list[str]) -> None:
    """Store a small prediction for each id, as if they had been ingested earlier."""
    engine = create_engine(db_url)
    now = time.time_ns()
    rows = [{"pid": pid, "ts": now} for pid in ids]
    try:
        with engine.begin() as connection:
            connection.execute(
                text(
                    "INSERT INTO predictions (prediction_id, model_name, model_version, ts_unix_nano, "
                    "received_unix_nano, features, outputs, attributes, non_finite_count) "
                    "VALUES (:pid, 'fraud', '7', :ts, :ts, '{}', '{}', '{}', 0)"
                ),
                rows,
            )
    finally:
        engine.dispose()


def run_inferwatch(
    kind: str,
    args: argparse.Namespace,
    workdir: Path,
    transport: str = "grpc",
    *,
    check_outcome_ids: bool = True,
    seed_requests: int = 0,
) -> tuple[LoadResult, float, float, int, float]:
    """`inferwatch serve` on a fresh database: accepted, stored, drained, and the server's CPU seconds.

    ``seed_requests``: outcomes only; store the predictions that this many requests per load generator name,
    and send no more than that."""
    name = f"{kind}-{transport}-{'checked' if check_outcome_ids else 'unchecked'}-{seed_requests}"
    db_url = args.db_url or f"sqlite:///{workdir / f'{name}.db'}"
    env = {k: v for k, v in os.environ.items() if not k.startswith("INFERWATCH_")}
    env["INFERWATCH_DB_URL"] = db_url
    env["INFERWATCH_SPOOL_DIR"] = str(workdir / f"{name}-spool")
    env["INFERWATCH_CHECK_OUTCOME_IDS"] = str(check_outcome_ids).lower()
    server = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "collector.cli",
            "serve",
            "--grpc-addr",
            "127.0.0.1:0",
            "--http-addr",
            "127.0.0.1:0",
            "--otlp-http-addr",
            "127.0.0.1:0",
        ],
        stderr=subprocess.PIPE,
        text=True,
        env=env,
        cwd=workdir,
    )
    assert server.stderr is not None
    port = 0
    for line in server.stderr:
        if match := re.search(r"gRPC on 127\.0\.0\.1:(\d+).*OTLP/HTTP on 127\.0\.0\.1:(\d+)", line):
            port = int(match.group(1) if transport == "grpc" else match.group(2))
            break
    # Keep reading: a server whose stderr pipe is full blocks on its next log line (the writer logs outcomes
    # whose prediction is not stored, once per batch).
    threading.Thread(target=deque, args=(server.stderr, 0), daemon=True).start()
    method = METHODS[kind]
    table = kind
    engine = create_engine(db_url)
    try:
        with engine.begin() as connection:
            connection.execute(text(f"DELETE FROM {table}"))
        if seed_requests:
            seed_predictions(db_url, seeded_ids(args.clients, seed_requests))
        cpu_before = cpu_seconds(server.pid)
        started = time.monotonic()
        spec = LoadSpec(f"127.0.0.1:{port}", method, kind, args.seconds, args.in_flight, transport, seed_requests)
        result = drive(spec, args.clients)
        # Stored throughput counts until the last acknowledged row is committed.
        stored = 0
        while time.monotonic() - started < args.seconds + 300:
            with engine.connect() as connection:
                stored = int(connection.execute(text(f"SELECT COUNT(*) FROM {table}")).scalar_one())
            if stored >= result.items_ok:
                break
            time.sleep(0.1)
        stored_seconds = time.monotonic() - started
        cpu = cpu_seconds(server.pid) - cpu_before
        memory = peak_rss_mib(server.pid)
    finally:
        engine.dispose()
        server.send_signal(signal.SIGTERM)
        server.wait(timeout=120)
    return result, stored / stored_seconds, memory, stored, cpu


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=float, default=10.0, help="load duration per row (default 10)")
    parser.add_argument("--clients", type=int, default=2, help="load-generator processes (default 2)")
    parser.add_argument("--in-flight", type=int, default=4, help="concurrent calls per client (default 4)")
    parser.add_argument("--db-url", default=None, help="database for inferwatch (default: a fresh SQLite file)")
    parser.add_argument(
        "--only", choices=["spans", "predictions", "outcomes"], default=None, help="run one signal only"
    )
    parser.add_argument(
        "--outcome-requests",
        type=int,
        default=300,
        help="outcome requests per client whose predictions are stored beforehand (default 300)",
    )
    parser.add_argument(
        "--transport", choices=["grpc", "http-protobuf", "http-json"], default=None, help="run one transport only"
    )
    args = parser.parse_args()

    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for kind in ("spans", "predictions"):
            if args.only and kind != args.only:
                continue
            ceiling, ceiling_memory, ceiling_cpu = run_parse_only(kind, args)
            rows.append(
                (
                    f"{kind}: parse-only ceiling (baseline)",
                    ceiling.items_ok / ceiling.seconds,
                    float("nan"),
                    ceiling.p99_ms,
                    ceiling_memory,
                    ceiling.items_ok,
                    0,
                    ceiling_cpu * 1e6 / max(ceiling.items_ok, 1),
                )
            )
            transports = ("grpc", "http-protobuf", "http-json") if kind == "spans" else ("grpc",)
            for transport in transports:
                if args.transport and transport != args.transport:
                    continue
                served, stored_rate, memory, stored, cpu = run_inferwatch(kind, args, Path(tmp), transport)
                label = {"grpc": "OTLP/gRPC", "http-protobuf": "OTLP/HTTP protobuf", "http-json": "OTLP/HTTP JSON"}
                rows.append(
                    (
                        f"{kind}: inferwatch, {label[transport] if kind == 'spans' else 'gRPC'}",
                        served.items_ok / served.seconds,
                        stored_rate,
                        served.p99_ms,
                        memory,
                        served.items_ok,
                        stored,
                        cpu * 1e6 / max(stored, 1),
                    )
                )
        if args.only in (None, "outcomes") and args.transport in (None, "grpc"):
            # Outcomes naming stored predictions (the usual case) with the check off and on, then naming
            # unknown ids: a lookup that finds nothing and a warning per outcome in the answer.
            seed = args.outcome_requests
            for row_name, checked, seeded in (
                ("outcomes: ids stored, no check (baseline)", False, seed),
                ("outcomes: ids stored, checked", True, seed),
                ("outcomes: ids unknown, checked", True, 0),
            ):
                served, stored_rate, memory, stored, cpu = run_inferwatch(
                    "outcomes", args, Path(tmp), check_outcome_ids=checked, seed_requests=seeded
                )
                rows.append(
                    (
                        row_name,
                        served.items_ok / served.seconds,
                        stored_rate,
                        served.p99_ms,
                        memory,
                        served.items_ok,
                        stored,
                        cpu * 1e6 / max(stored, 1),
                    )
                )
    print(
        f"machine: {os.cpu_count()} CPUs; {args.clients} client processes x {args.in_flight} calls in flight; "
        f"{args.seconds:g} s per row; database: {args.db_url or 'SQLite file'}; "
        f"load average {os.getloadavg()[0]:.2f} at the end"
    )
    header = (
        f"{'row':<38} {'accepted/s':>11} {'stored/s':>10} {'p99 ms':>8} {'peak MiB':>9} {'accepted':>9} {'stored':>9}"
        f" {'CPU us/item':>12}"
    )
    print(header)
    print("-" * len(header))
    for name, accepted, stored_rate, p99, memory, accepted_n, stored_n, cpu_per_item in rows:
        stored_text = "-" if math.isnan(stored_rate) else f"{stored_rate:,.0f}"
        print(
            f"{name:<38} {accepted:>11,.0f} {stored_text:>10} {p99:>8.1f} {memory:>9.0f} {accepted_n:>9,} "
            f"{stored_n if stored_n else '-':>9} {cpu_per_item:>12.1f}"
        )
    print("goal: >= 50,000 spans/s and >= 20,000 predictions/s stored (SQLite, 2 cores)")
    print("CPU us/item: the server's CPU time (with its writer) per item stored, load generators excluded")


if __name__ == "__main__":
    main()
