"""`inferwatch alerts list|show|ack|silence|unsilence`: the command-line side of the AlertService.

The composition root's CLI mounts these with ``add_commands``; each handler takes the parsed arguments and
the resolved Config and returns an exit status.
"""

from __future__ import annotations

import argparse
import getpass
import json
import sys
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

from alerts.config import parse_alerts_section, parse_duration
from alerts.dispatcher import utcnow
from alerts.model import FIRING, PENDING, RESOLVED, Alert, Matcher
from alerts.probe import describe_probe, probe, probe_to_json
from alerts.sinks import build_sinks
from alerts.store import (
    AlertFilter,
    acknowledge,
    alert_to_json,
    create_silence,
    expire_silence,
    get_alert,
    list_alerts,
    list_silences,
    silence_to_json,
)
from collector.core.cli_args import EXIT_FAILED, EXIT_OK, add_config_flags, add_db_flags, config_of, emit
from collector.core.config import Config
from collector.core.errors import UsageError
from collector.core.storage.engine import create_engine_for

Handler = Callable[[argparse.Namespace, Config], int]


def _user() -> str:
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return "unknown"


def _label(raw: str) -> tuple[str, str]:
    name, sep, value = raw.partition("=")
    if not sep or not name:
        raise argparse.ArgumentTypeError(f"expected NAME=VALUE, got {raw!r}")
    return name, value


def _matcher(raw: str) -> Matcher:
    try:
        return Matcher.parse(raw)
    except ValueError as error:
        raise argparse.ArgumentTypeError(str(error)) from None


def _time(raw: str) -> datetime:
    try:
        moment = datetime.fromisoformat(raw)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected an ISO time, got {raw!r}") from None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def _duration(raw: str) -> float:
    try:
        seconds = parse_duration(raw)
    except ValueError as error:
        raise argparse.ArgumentTypeError(f"{error}, got {raw!r}") from None
    if seconds <= 0:
        raise argparse.ArgumentTypeError(f"must be > 0, got {raw!r}")
    return seconds


def add_commands(commands: Any) -> None:
    """Add ``alerts`` to the top-level subcommands; each gets the shared --db-url and --config."""
    alerts = commands.add_parser(
        "alerts",
        help="alerts: list, show, acknowledge, silence",
        description="Alerts built from findings: their state, delivery log, acknowledgements and silences. "
        "The same as the gRPC AlertService.",
    )
    sub = alerts.add_subparsers(dest="alerts_command", metavar="COMMAND", required=True)
    listing = sub.add_parser(
        "list",
        help="list pending and firing alerts (--all: resolved too)",
        description="List alerts, most recently changed first: pending and firing by default.",
    )
    listing.add_argument("--all", action="store_true", help="include resolved alerts")
    listing.add_argument("--state", action="append", choices=(PENDING, FIRING, RESOLVED), help="only this state")
    listing.add_argument("--label", action="append", type=_label, default=[], help="NAME=VALUE; repeatable")
    listing.add_argument("--limit", type=int, default=100, help="at most this many (default 100)")
    listing.set_defaults(alerts_handler=cmd_list)
    show = sub.add_parser("show", help="one alert with its delivery log", description="Show one alert, by fingerprint.")
    show.add_argument("fingerprint")
    show.set_defaults(alerts_handler=cmd_show)
    ack = sub.add_parser(
        "ack",
        help="acknowledge an alert: no more repeats of it",
        description="Acknowledge an alert. It is not repeated until it resolves and fires again; resolution "
        "is still notified.",
    )
    ack.add_argument("fingerprint")
    ack.add_argument("--by", default=_user(), help="who acknowledges (default: the current user)")
    ack.add_argument("--comment", default="", help="why, or what is being done")
    ack.set_defaults(alerts_handler=cmd_ack)
    silence = sub.add_parser(
        "silence",
        help="mute alerts matching label matchers until an expiry; --list shows silences",
        description='Create a silence: alerts matching every matcher (name="value", name!=value, name=~regex, '
        "name!~regex) are not notified until it expires. With --list, list silences instead.",
    )
    silence.add_argument("matchers", nargs="*", type=_matcher, metavar="MATCHER")
    silence.add_argument("--duration", type=_duration, help="how long, e.g. 2h (default 1h)")
    silence.add_argument("--until", type=_time, help="end time (ISO; UTC if no zone)")
    silence.add_argument("--start", type=_time, help="start time (default now)")
    silence.add_argument("--by", default=_user(), help="who silences (default: the current user)")
    silence.add_argument("--comment", default="", help="why")
    silence.add_argument("--list", action="store_true", help="list silences instead of creating one")
    silence.add_argument("--expired", action="store_true", help="with --list: include expired silences")
    silence.set_defaults(alerts_handler=cmd_silence)
    unsilence = sub.add_parser("unsilence", help="expire a silence now", description="End a silence now.")
    unsilence.add_argument("silence_id")
    unsilence.set_defaults(alerts_handler=cmd_unsilence)
    for parser in (listing, show, ack, silence, unsilence):
        add_db_flags(parser)
        parser.add_argument("--json", action="store_true", help="print one JSON document on stdout")
    test = sub.add_parser(
        "test",
        help="send a test notification through a receiver and report its answer",
        description="Send one test notification (alertname InferwatchTestNotification, severity info) through "
        "RECEIVER's real sink, as configured under [alerts.receivers], and report the answer: HTTP status, "
        "latency, and on failure the error and what to check. Exit 0 when the receiver took it, 1 when it "
        "refused it or could not be reached, 2 when no receiver has that name. Needs no database.",
    )
    test.add_argument("receiver", metavar="RECEIVER", help="a receiver name from [alerts.receivers]")
    add_config_flags(test, keys=())
    test.add_argument("--json", action="store_true", help="print one JSON document on stdout")
    # Its own top-level handler: it reads the configuration but not the database, which it must not require.
    test.set_defaults(handler=cmd_test)


def _emit(args: argparse.Namespace, document: dict[str, Any], text: str) -> None:
    print(json.dumps(document, indent=2, default=str) if args.json else text)


def _inhibited(alert: Alert) -> str:
    """`` INHIBITED by 1a2b... ModelDataDrift (critical)``: what mutes the alert, so nobody has to look it up."""
    if not alert.inhibited_by:
        return ""
    named = [f"{i.fingerprint} {i.alertname} ({i.severity})" for i in alert.inhibitors] or list(alert.inhibited_by)
    return " INHIBITED by " + ", ".join(named)


def _line(alert: Alert) -> str:
    labels = alert.labels
    marks = ((alert.acknowledgement, " ACKED"), (alert.silenced_by, " SILENCED"))
    flags = "".join(text for present, text in marks if present) + _inhibited(alert)
    return (
        f"{alert.fingerprint} {alert.state.upper():<8} {labels.get('severity', ''):<8} "
        f"{labels.get('alertname', '')} {labels.get('model', '')}:{labels.get('version') or '-'}"
        f" {labels.get('subject', '')}{flags}: {alert.annotations.get('summary', '')}"
    )


_COLUMNS = ("FINGERPRINT", "STATE", "SEVERITY", "ALERTNAME", "MODEL", "VERSION", "SUBJECT")


def _with_inhibitors(alerts: list[Alert]) -> list[Alert]:
    """The same alerts, each inhibited one right after the alert that inhibits it when that one is listed."""
    listed = {alert.fingerprint for alert in alerts}
    under: dict[str, list[Alert]] = {}
    for alert in alerts:
        parent = next((key for key in alert.inhibited_by if key in listed and key != alert.fingerprint), None)
        if parent is not None:
            under.setdefault(parent, []).append(alert)
    ordered: list[Alert] = []
    placed: set[str] = set()

    def place(alert: Alert) -> None:
        if alert.fingerprint in placed:
            return
        placed.add(alert.fingerprint)
        ordered.append(alert)
        for muted in under.get(alert.fingerprint, []):
            place(muted)

    for alert in alerts:
        parent = next((key for key in alert.inhibited_by if key in listed and key != alert.fingerprint), None)
        if parent is None:
            place(alert)
    for alert in alerts:  # inhibitors that inhibit each other: kept, in their own order
        place(alert)
    return ordered


def _table(alerts: list[Alert]) -> str:
    """One aligned row per alert, each column as wide as its widest value: a version is never cut, since two
    versions that share a prefix (``2026-11-30-a``, ``2026-11-30-b``) must stay apart. Inhibited alerts follow
    the alert that inhibits them."""
    alerts = _with_inhibitors(alerts)
    rows = [
        (
            a.fingerprint,
            a.state.upper(),
            a.labels.get("severity", ""),
            a.labels.get("alertname", ""),
            a.labels.get("model", ""),
            a.labels.get("version") or "-",
            a.labels.get("subject") or "-",
        )
        for a in alerts
    ]
    widths = [max(len(row[n]) for row in [_COLUMNS, *rows]) for n in range(len(_COLUMNS))]
    lines = ["  ".join(f"{cell:<{width}}" for cell, width in zip(_COLUMNS, widths, strict=True)) + "  SUMMARY"]
    for alert, row in zip(alerts, rows, strict=True):
        marks = ((alert.acknowledgement, "ACKED "), (alert.silenced_by, "SILENCED "))
        flags = "".join(text for present, text in marks if present) + _inhibited(alert).lstrip()
        cells = "  ".join(f"{cell:<{width}}" for cell, width in zip(row, widths, strict=True))
        lines.append(f"{cells}  {alert.annotations.get('summary', '')}" + (f"  [{flags.strip()}]" if flags else ""))
    return "\n".join(lines)


def cmd_list(args: argparse.Namespace, config: Config) -> int:
    """List alerts."""
    if args.limit < 1:
        raise ValueError(f"--limit must be >= 1, got {args.limit}")
    rules = parse_alerts_section(config.feature_sections.get("alerts", {})).inhibit_rules
    states = tuple(args.state or (() if args.all else (PENDING, FIRING)))
    engine = create_engine_for(config.storage.db_url)
    try:
        found = list_alerts(engine, AlertFilter(dict(args.label), states, True, args.limit), utcnow(), rules)
    finally:
        engine.dispose()
    _emit(args, {"alerts": [alert_to_json(a) for a in found]}, _table(found) if found else "no alerts")
    return 0


def cmd_show(args: argparse.Namespace, config: Config) -> int:
    """Show one alert and its delivery log."""
    rules = parse_alerts_section(config.feature_sections.get("alerts", {})).inhibit_rules
    engine = create_engine_for(config.storage.db_url)
    try:
        alert = get_alert(engine, args.fingerprint, utcnow(), rules)
    finally:
        engine.dispose()
    lines = [_line(alert), *(f"  {k}={v}" for k, v in sorted(alert.labels.items()))]
    lines += [f"  {k}: {v}" for k, v in sorted(alert.annotations.items()) if v]
    if alert.acknowledgement:
        ack = alert.acknowledgement
        lines.append(f"  acknowledged by {ack.by} at {ack.at:%Y-%m-%d %H:%M:%S} {ack.comment}".rstrip())
    lines.append("  deliveries:" if alert.deliveries else "  no deliveries")
    for d in alert.deliveries:
        when = f"sent {d.sent_at:%Y-%m-%d %H:%M:%S}" if d.sent_at else f"next {d.next_attempt_at:%Y-%m-%d %H:%M:%S}"
        error = f" ({d.last_error})" if d.last_error and d.state != "sent" else ""
        lines.append(f"    {d.sink} {d.status} {d.state} after {d.attempts} attempt(s), {when}{error}")
    _emit(args, alert_to_json(alert), "\n".join(lines))
    return 0


def cmd_ack(args: argparse.Namespace, config: Config) -> int:
    """Acknowledge an alert."""
    engine = create_engine_for(config.storage.db_url)
    try:
        alert = acknowledge(engine, args.fingerprint, args.by, args.comment, utcnow())
    finally:
        engine.dispose()
    _emit(args, alert_to_json(alert), f"acknowledged {alert.fingerprint} as {args.by}")
    return 0


def cmd_silence(args: argparse.Namespace, config: Config) -> int:
    """Create a silence, or list them."""
    now = utcnow()
    engine = create_engine_for(config.storage.db_url)
    try:
        if args.list:
            silences = list_silences(engine, now, include_expired=args.expired)
            lines = [
                f"{s.id} {s.status(now):<8} until {s.ends_at:%Y-%m-%d %H:%M} {' '.join(map(str, s.matchers))} "
                f"by {s.created_by}: {s.comment}"
                for s in silences
            ]
            _emit(args, {"silences": [silence_to_json(s, now) for s in silences]}, "\n".join(lines) or "no silences")
            return 0
        if not args.matchers:
            raise ValueError('give at least one matcher, e.g. model="fraud" severity="warning"')
        starts = args.start or now
        ends = args.until or starts + timedelta(seconds=args.duration or 3600)
        silence = create_silence(
            engine, args.matchers, starts_at=starts, ends_at=ends, created_by=args.by, comment=args.comment
        )
    finally:
        engine.dispose()
    text = f"silence {silence.id} until {silence.ends_at:%Y-%m-%d %H:%M:%S} UTC: {' '.join(map(str, silence.matchers))}"
    _emit(args, silence_to_json(silence, now), text)
    return 0


def cmd_unsilence(args: argparse.Namespace, config: Config) -> int:
    """Expire a silence now."""
    now = utcnow()
    engine = create_engine_for(config.storage.db_url)
    try:
        silence = expire_silence(engine, args.silence_id, now)
    finally:
        engine.dispose()
    _emit(args, silence_to_json(silence, now), f"silence {silence.id} expired")
    return 0


def cmd_test(args: argparse.Namespace) -> int:
    """Send a test notification through one receiver; 0 when it was taken, 1 when not, 2 for an unknown name."""
    config = config_of(args)
    source = str(config.config_file) if config.config_file else "no configuration file"
    print(f"inferwatch: {source}", file=sys.stderr)
    alerting = parse_alerts_section(config.feature_sections.get("alerts", {}))
    if args.receiver not in alerting.receivers:
        known = ", ".join(sorted(alerting.receivers)) or "none"
        raise UsageError(f"no receiver {args.receiver!r} in [alerts.receivers] of {source} (configured: {known})")
    sink = build_sinks(alerting)[args.receiver]
    result = probe(
        sink,
        alerting.receivers[args.receiver].type,
        utcnow(),
        external_url=alerting.external_url,
        timeout_s=alerting.send_timeout_s,
    )
    emit(args, probe_to_json(result), describe_probe(result))
    return EXIT_OK if result.ok else EXIT_FAILED
