"""inferwatch.v1.AlertService: alerts, acknowledgements and silences over gRPC, as the CLI has them."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any, NoReturn

import grpc
from sqlalchemy.engine import Engine

from alerts.config import InhibitRule
from alerts.model import FIRING, PENDING, RESOLVED, Alert, Matcher, Silence
from alerts.store import (
    AlertFilter,
    NotFoundError,
    acknowledge,
    create_silence,
    expire_silence,
    get_alert,
    list_alerts,
    list_silences,
)
from collector.core.registration import ServiceRegistration
from inferwatch.v1 import alert_service_pb2 as pb
from inferwatch.v1 import alert_service_pb2_grpc

MAX_PAGE = 1000
DEFAULT_PAGE = 100
DEFAULT_SILENCE = timedelta(hours=1)
_STATE = {PENDING: pb.ALERT_STATE_PENDING, FIRING: pb.ALERT_STATE_FIRING, RESOLVED: pb.ALERT_STATE_RESOLVED}
_STATE_NAME = {value: key for key, value in _STATE.items()}
_DELIVERY = {
    "pending": pb.DELIVERY_STATE_PENDING,
    "sent": pb.DELIVERY_STATE_SENT,
    "retrying": pb.DELIVERY_STATE_RETRYING,
    "failed": pb.DELIVERY_STATE_FAILED,
}
Clock = Callable[[], datetime]


def _utcnow() -> datetime:
    return datetime.now(tz=UTC)


def alert_to_proto(alert: Alert) -> pb.Alert:
    """A domain alert as its wire message."""
    message = pb.Alert(
        fingerprint=alert.fingerprint,
        labels=dict(alert.labels),
        annotations=dict(alert.annotations),
        state=_STATE.get(alert.state, pb.ALERT_STATE_UNSPECIFIED),
        silenced_by=list(alert.silenced_by),
        inhibited_by=list(alert.inhibited_by),
        inhibitors=[
            pb.Inhibitor(fingerprint=i.fingerprint, alertname=i.alertname, severity=i.severity, summary=i.summary)
            for i in alert.inhibitors
        ],
        finding_id=alert.finding_id or 0,
    )
    message.starts_at.FromDatetime(alert.starts_at)
    if alert.ends_at is not None:
        message.ends_at.FromDatetime(alert.ends_at)
    if alert.updated_at is not None:
        message.updated_at.FromDatetime(alert.updated_at)
    if alert.acknowledgement is not None:
        message.acknowledgement.by = alert.acknowledgement.by
        message.acknowledgement.comment = alert.acknowledgement.comment
        message.acknowledgement.at.FromDatetime(alert.acknowledgement.at)
    for delivery in alert.deliveries:
        entry = message.deliveries.add(
            sink=delivery.sink,
            state=_DELIVERY.get(delivery.state, pb.DELIVERY_STATE_UNSPECIFIED),
            attempts=delivery.attempts,
            last_error=delivery.last_error or "",
            status=delivery.status,
        )
        entry.created_at.FromDatetime(delivery.created_at)
        entry.next_attempt_at.FromDatetime(delivery.next_attempt_at)
        if delivery.sent_at is not None:
            entry.sent_at.FromDatetime(delivery.sent_at)
    return message


def silence_to_proto(silence: Silence, now: datetime) -> pb.Silence:
    """A domain silence as its wire message."""
    message = pb.Silence(
        id=silence.id,
        matchers=[
            pb.Matcher(name=m.name, value=m.value, is_regex=m.is_regex, is_equal=m.is_equal) for m in silence.matchers
        ],
        created_by=silence.created_by,
        comment=silence.comment,
        status=silence.status(now),
    )
    message.starts_at.FromDatetime(silence.starts_at)
    message.ends_at.FromDatetime(silence.ends_at)
    return message


async def _abort(context: Any, code: grpc.StatusCode, message: str) -> NoReturn:
    await context.abort(code, message)
    raise AssertionError("unreachable: abort raises")  # pragma: no cover


class AlertServicer(alert_service_pb2_grpc.AlertServiceServicer):
    """Reads and changes alerts and silences; the database work runs off the event loop."""

    def __init__(self, engine: Engine, rules: Sequence[InhibitRule], clock: Clock = _utcnow) -> None:
        self._engine = engine
        self._rules = tuple(rules)
        self._clock = clock

    async def ListAlerts(self, request: pb.ListAlertsRequest, context: Any) -> pb.ListAlertsResponse:
        size = request.page_size or DEFAULT_PAGE
        if size > MAX_PAGE:
            await _abort(context, grpc.StatusCode.INVALID_ARGUMENT, f"page_size must be <= {MAX_PAGE}, got {size}")
        try:
            offset = int(request.page_token or "0")
        except ValueError:
            await _abort(context, grpc.StatusCode.INVALID_ARGUMENT, f"page_token {request.page_token!r} is not valid")
        states = tuple(_STATE_NAME[s] for s in request.states if s in _STATE_NAME)
        where = AlertFilter(
            labels=dict(request.labels),
            states=states,
            include_silenced=request.include_silenced,
            limit=size + 1,
            offset=offset,
        )
        alerts = await asyncio.to_thread(list_alerts, self._engine, where, self._clock(), self._rules)
        return pb.ListAlertsResponse(
            alerts=[alert_to_proto(alert) for alert in alerts[:size]],
            next_page_token=str(offset + size) if len(alerts) > size else "",
        )

    async def GetAlert(self, request: pb.GetAlertRequest, context: Any) -> pb.Alert:
        try:
            alert = await asyncio.to_thread(get_alert, self._engine, request.fingerprint, self._clock(), self._rules)
        except NotFoundError as error:
            await _abort(context, grpc.StatusCode.NOT_FOUND, str(error))
        return alert_to_proto(alert)

    async def AcknowledgeAlert(self, request: pb.AcknowledgeAlertRequest, context: Any) -> pb.Alert:
        try:
            alert = await asyncio.to_thread(
                acknowledge, self._engine, request.fingerprint, request.by, request.comment, self._clock()
            )
        except NotFoundError as error:
            await _abort(context, grpc.StatusCode.NOT_FOUND, str(error))
        except ValueError as error:
            await _abort(context, grpc.StatusCode.INVALID_ARGUMENT, str(error))
        return alert_to_proto(alert)

    async def CreateSilence(self, request: pb.CreateSilenceRequest, context: Any) -> pb.Silence:
        now = self._clock()
        starts = request.starts_at.ToDatetime(tzinfo=UTC) if request.HasField("starts_at") else now
        ends = request.ends_at.ToDatetime(tzinfo=UTC) if request.HasField("ends_at") else starts + DEFAULT_SILENCE
        try:
            matchers = [Matcher(m.name, m.value, m.is_regex, m.is_equal) for m in request.matchers]
            silence = await asyncio.to_thread(
                create_silence,
                self._engine,
                matchers,
                starts_at=starts,
                ends_at=ends,
                created_by=request.created_by,
                comment=request.comment,
            )
        except ValueError as error:
            await _abort(context, grpc.StatusCode.INVALID_ARGUMENT, str(error))
        return silence_to_proto(silence, now)

    async def ExpireSilence(self, request: pb.ExpireSilenceRequest, context: Any) -> pb.Silence:
        now = self._clock()
        try:
            silence = await asyncio.to_thread(expire_silence, self._engine, request.id, now)
        except NotFoundError as error:
            await _abort(context, grpc.StatusCode.NOT_FOUND, str(error))
        return silence_to_proto(silence, now)

    async def ListSilences(self, request: pb.ListSilencesRequest, context: Any) -> pb.ListSilencesResponse:
        now = self._clock()
        silences = await asyncio.to_thread(list_silences, self._engine, now, include_expired=request.include_expired)
        return pb.ListSilencesResponse(silences=[silence_to_proto(s, now) for s in silences])


def registration(engine: Engine, rules: Sequence[InhibitRule]) -> ServiceRegistration:
    """Mount the servicer."""
    servicer = AlertServicer(engine, rules)
    return ServiceRegistration(
        "inferwatch.v1.AlertService",
        lambda server: alert_service_pb2_grpc.add_AlertServiceServicer_to_server(servicer, server),  # type: ignore[no-untyped-call]
    )
