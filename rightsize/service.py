"""``inferwatch.v1.RightsizeService``: right-sizing over gRPC, answering what ``inferwatch rightsize --json`` prints.

The servicer holds the context the composition root read from the configuration (SLOs, prices,
``[rightsize]``); the work runs on a worker thread, off the event loop.
"""

from __future__ import annotations

import asyncio
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

import grpc
from google.protobuf.timestamp_pb2 import Timestamp
from sqlalchemy.engine import Engine

from collector.core.registration import ServiceRegistration
from inferwatch.v1 import common_pb2, rightsize_service_pb2, rightsize_service_pb2_grpc
from rightsize.advisor import RightsizeInputError, Rightsizing, rightsize_with
from rightsize.report import to_json, to_text
from rightsize.settings import RightsizeContext

DEFAULT_WINDOW = timedelta(days=14)
_DECISIONS = {
    "keep": rightsize_service_pb2.RIGHTSIZE_DECISION_KEEP,
    "switch": rightsize_service_pb2.RIGHTSIZE_DECISION_SWITCH,
    "unknown": rightsize_service_pb2.RIGHTSIZE_DECISION_UNKNOWN,
    "none": rightsize_service_pb2.RIGHTSIZE_DECISION_NONE,
}


def _timestamp(unix_s: float) -> Timestamp:
    stamp = Timestamp()
    stamp.FromNanoseconds(int(unix_s * 1e9))
    return stamp


def _zero_if_none(value: Any) -> Any:
    return 0 if value is None else value


def _hours(rows: list[dict[str, Any]], key: str) -> list[rightsize_service_pb2.RightsizeHour]:
    return [
        rightsize_service_pb2.RightsizeHour(hour=row[key], mean_rps=row["mean_rps"], peak_rps=row["peak_rps"])
        for row in rows
    ]


def report_to_proto(result: Rightsizing) -> rightsize_service_pb2.RightsizeReport:
    """The report's JSON document, field by field (nulls as zeros, as the proto comments say)."""
    document = to_json(result)
    demand, today, answer = document["demand"], document["today"], document["answer"]
    report = rightsize_service_pb2.RightsizeReport(
        model=common_pb2.ModelRef(name=result.model_name, version=result.model_version or ""),
        generated_at=_timestamp(result.generated_at.timestamp()),
        slo_latency_threshold_ms=result.objective.threshold_ms,
        slo_quantile=result.objective.quantile,
        headroom=document["headroom"],
        margin=document["margin"],
        queueing_model=document["queueing_model"],
        demand=rightsize_service_pb2.RightsizeDemand(
            start=_timestamp(demand["start"]),
            end=_timestamp(demand["end"]),
            requests=demand["requests"],
            active_minutes=demand["active_minutes"],
            peak_quantile=demand["peak_quantile"],
            peak_rps=demand["peak_rps"],
            max_rps=demand["max_rps"],
            mean_rps=demand["mean_rps"],
            busy_replicas=demand["busy_replicas"],
            busy_share=_zero_if_none(demand["busy_share"]),
            daily=_hours(demand["daily"], "hour"),
            weekly=_hours(demand["weekly"], "hour_of_week"),
        ),
        unpriced_hardware_classes=document["unpriced_hardware_classes"],
        today=rightsize_service_pb2.RightsizeToday(
            hardware_class=today["hardware_class"] or "",
            replicas=_zero_if_none(today["replicas"]),
            replicas_source=today["replicas_source"],
            needed_replicas=_zero_if_none(today["needed_replicas"]),
            usd_per_hour=_zero_if_none(today["usd_per_hour"]),
            usd_per_month=_zero_if_none(today["usd_per_month"]),
            latency_at_peak_ms=_zero_if_none(today["latency_at_peak_ms"]),
        ),
        answer=rightsize_service_pb2.RightsizeAnswer(
            decision=_DECISIONS[answer["decision"]],
            option=answer["option"] or "",
            saving_usd_per_month=_zero_if_none(answer["saving_usd_per_month"]),
            saving_bound_usd_per_month=_zero_if_none(answer["saving_bound_usd_per_month"]),
            text=answer["text"],
        ),
        measure_next=document["measure_next"],
        text=to_text(result),
    )
    for measured in document["supply"]:
        report.supply.add(
            hardware_class=measured["hardware_class"],
            variant=measured["variant"],
            execution_provider=measured["execution_provider"],
            shadow_run_id=measured["shadow_run_id"],
            safe=measured["safe"],
            unsafe_reason=measured["unsafe_reason"] or "",
            note=measured["note"] or "",
            priced=measured["priced"],
            batch_curve=[
                rightsize_service_pb2.RightsizeServicePoint(
                    batch_size=p["batch"],
                    calls=p["calls"],
                    mean_ms=p["mean_ms"],
                    p99_ms=p["p99_ms"],
                    rows_per_s=p["rows_per_s"],
                    rows_per_s_bound=p["rows_per_s_bound"],
                )
                for p in measured["batch_curve"]
            ],
        )
    for option in document["options"]:
        report.options.add(
            name=option["name"],
            hardware_class=option["hardware_class"],
            variant=option["variant"],
            execution_provider=option["execution_provider"],
            shadow_run_id=option["shadow_run_id"],
            max_batch_size=option["max_batch"],
            batching_delay_ms=option["batching_delay_ms"],
            replicas=option["replicas"],
            replicas_bound=_zero_if_none(option["replicas_bound"]),
            usd_per_hour=option["usd_per_hour"],
            usd_per_month=option["usd_per_month"],
            usd_per_month_bound=_zero_if_none(option["usd_per_month_bound"]),
            mean_batch_at_peak=option["mean_batch_at_peak"],
            utilisation_at_peak=option["utilisation_at_peak"],
            latency_at_peak_ms=_zero_if_none(option["latency_at_peak_ms"]),
            latency_at_max_ms=_zero_if_none(option["latency_at_max_ms"]),
            spot=option["spot"],
            interruption_risk=option["interruption_risk"] or "",
            assumption=option["assumption"],
            bound=option["bound"],
        )
    if (scaling := document["autoscaling"]) is not None:
        report.autoscaling.CopyFrom(
            rightsize_service_pb2.RightsizeAutoscaling(
                option=scaling["option"],
                shape=scaling["shape"],
                fixed_replicas=scaling["fixed_replicas"],
                mean_replicas=scaling["mean_replicas"],
                usd_per_month_fixed=scaling["usd_per_month_fixed"],
                usd_per_month_autoscaled=scaling["usd_per_month_autoscaled"],
                saving_usd_per_month=scaling["saving_usd_per_month"],
                hours=[
                    rightsize_service_pb2.RightsizeHourPlan(
                        hour=h["hour"], peak_rps=h["peak_rps"], replicas=h["replicas"]
                    )
                    for h in scaling["hours"]
                ],
            )
        )
    return report


class RightsizeServicer(rightsize_service_pb2_grpc.RightsizeServiceServicer):
    """Answers ``Rightsize`` from the database and the configuration it was built with."""

    def __init__(self, engine: Engine, context: RightsizeContext) -> None:
        self._engine = engine
        self._context = context

    def _run(self, request: rightsize_service_pb2.RightsizeRequest) -> rightsize_service_pb2.RightsizeReport:
        settings = self._context.settings
        if request.HasField("headroom"):
            settings = replace(settings, headroom=request.headroom)
        if request.HasField("margin"):
            settings = replace(settings, margin=request.margin)
        now = datetime.now(tz=UTC)
        since = request.since.ToDatetime(tzinfo=UTC) if request.HasField("since") else now - DEFAULT_WINDOW
        result = rightsize_with(
            self._engine,
            self._context,
            request.model.name,
            model_version=request.model.version or None,
            since=since,
            settings=settings,
            replicas=request.current_replicas or None,
            hardware_class=request.current_hardware_class or None,
            now=now,
        )
        return report_to_proto(result)

    async def Rightsize(self, request: rightsize_service_pb2.RightsizeRequest, context: Any) -> Any:
        if not request.model.name:
            await context.abort(grpc.StatusCode.INVALID_ARGUMENT, "model.name is required")
        try:
            return await asyncio.to_thread(self._run, request)
        except RightsizeInputError as error:
            await context.abort(grpc.StatusCode.FAILED_PRECONDITION, str(error))
        except ValueError as error:
            await context.abort(grpc.StatusCode.INVALID_ARGUMENT, str(error))
        raise AssertionError("unreachable: abort raises")  # pragma: no cover


def registration(engine: Engine, context: RightsizeContext) -> ServiceRegistration:
    """The servicer, for the composition root to mount."""
    servicer = RightsizeServicer(engine, context)
    return ServiceRegistration(
        "inferwatch.v1.RightsizeService",
        lambda server: rightsize_service_pb2_grpc.add_RightsizeServiceServicer_to_server(servicer, server),  # type: ignore[no-untyped-call]
    )
