"""`inferwatch findings list` and `inferwatch cost report`: what the detectors found and what models cost."""

from __future__ import annotations

import argparse
import sys
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy.engine import Engine

from collector.core.cli_args import (
    EXIT_OK,
    add_db_flags,
    add_json_flag,
    database_config_of,
    emit,
    parse_since,
    warn_if_empty,
)
from collector.core.errors import ConfigError, UsageError


def add_report_commands(commands: Any) -> None:
    """Add ``findings list`` and ``cost report`` to the top-level subcommands."""
    findings = commands.add_parser(
        "findings",
        help="detector findings: latency anomalies, SLO burn, drift, cost",
        description="Inspect what the detectors found.",
    )
    findings_commands = findings.add_subparsers(dest="findings_command", metavar="COMMAND", required=True)
    findings_list = findings_commands.add_parser(
        "list",
        help="list findings, newest window first",
        description="List findings, newest window first. Firing findings are the anomalies; a quiet finding "
        "right after a firing one records that the condition resolved. The same as FindingService/ListFindings.",
    )
    findings_list.add_argument("--model", help="only this model")
    findings_list.add_argument("--version", dest="model_version", help="only this model version")
    findings_list.add_argument("--detector", help="only this detector (latency, slo.burn, drift.data, cost, ...)")
    findings_list.add_argument(
        "--since", type=parse_since, help="only windows ending after this: an ISO time (UTC if no zone) or 30m, 6h, 2d"
    )
    findings_list.add_argument("--firing", action="store_true", help="only findings that fired")
    findings_list.add_argument("--limit", type=int, default=50, help="at most this many (default 50)")
    add_db_flags(findings_list)
    add_json_flag(findings_list)
    findings_list.set_defaults(handler=cmd_findings_list)
    cost = commands.add_parser(
        "cost",
        help="what models cost: per model and version, per 1,000 predictions and per hour",
        description="Cost from the stored rollups, priced with the [pricing] section of the configuration.",
    )
    cost_commands = cost.add_subparsers(dest="cost_command", metavar="COMMAND", required=True)
    cost_report = cost_commands.add_parser(
        "report",
        help="spend per model and version over a range, most expensive first",
        description="Spend per model and version from the rollups that start after --since (default 24h): "
        "total, per 1,000 predictions, and per hour while the version served traffic. Token-priced models "
        "cost tokens x price; the others busy time x the hourly price of their hardware class. Prices apply "
        "to the whole range, so a corrected price reprices the past.",
    )
    cost_report.add_argument("--model", help="only this model")
    cost_report.add_argument("--version", dest="model_version", help="only this model version")
    cost_report.add_argument(
        "--since", type=parse_since, help="rollups starting after this: an ISO time or 30m, 6h, 2d (default 24h)"
    )
    add_db_flags(cost_report)
    add_json_flag(cost_report)
    cost_report.set_defaults(handler=cmd_cost_report)


def known_detectors() -> tuple[str, ...]:
    """The detector names findings carry, for `findings list --detector`."""
    from detectors.cost_anomaly import COST
    from detectors.drift.monitor import DATA, ESTIMATED, MULTIVARIATE, PERFORMANCE, PREDICTION
    from detectors.scheduler import LATENCY, SLO_BURN

    return (LATENCY, SLO_BURN, COST, DATA, PREDICTION, MULTIVARIATE, PERFORMANCE, ESTIMATED)


def _say_if_model_unknown(engine: Engine, model: str) -> None:
    """A note on stderr when no finding names ``model`` at all: a typo reads differently from a quiet model."""
    from sqlalchemy import select

    from collector.core.storage.tables import FindingRow

    with engine.connect() as connection:
        names = sorted(connection.execute(select(FindingRow.model_name).distinct().limit(50)).scalars())
    if model not in names:
        print(
            f"inferwatch: no finding names model {model!r}; models with findings: {', '.join(names) or 'none yet'}",
            file=sys.stderr,
        )


def cmd_findings_list(args: argparse.Namespace) -> int:
    """List findings from the database."""
    from collector.core.findings import FindingFilter, finding_to_json, list_findings
    from collector.core.storage.engine import create_engine_for

    if args.limit < 1:
        raise ConfigError(f"--limit must be >= 1, got {args.limit}")
    if args.detector is not None and args.detector not in known_detectors():
        raise UsageError(f"unknown detector {args.detector!r}; detectors: {', '.join(known_detectors())}")
    config = database_config_of(args)
    engine = create_engine_for(config.storage.db_url)
    try:
        found = list_findings(
            engine,
            FindingFilter(
                model_name=args.model,
                model_version=args.model_version,
                detector=args.detector,
                since=args.since,
                firing_only=args.firing,
                limit=args.limit,
            ),
        )
        if not found and args.model:
            _say_if_model_unknown(engine, args.model)
    finally:
        engine.dispose()
    lines = [
        f"{f.window_end:%Y-%m-%d %H:%M} {'FIRING' if f.firing else 'ok    '} {f.severity:<8} {f.detector:<10} "
        f"{f.model_name}:{f.model_version or '-'} {f.subject or '-'}: {f.summary}"
        for f in found
    ]
    emit(args, {"findings": [finding_to_json(f) for f in found]}, "\n".join(lines) or "no findings")
    return EXIT_OK


def cmd_cost_report(args: argparse.Namespace) -> int:
    """Report spend per model and version from the rollups."""
    from collector.core.pricing import parse_pricing_section
    from collector.core.storage.engine import create_engine_for
    from detectors.cost import cost_line_to_json, cost_report_frame, format_cost_report
    from detectors.frame import load_frame

    config = database_config_of(args)
    warn_if_empty(
        config,
        "pricing",
        "no token prices, so LLMs are priced by busy time at the default hardware rates; pass the server's "
        "file with --config",
    )
    pricing = parse_pricing_section(config.feature_sections.get("pricing", {}))
    now = datetime.now(tz=UTC)
    since = args.since or now - timedelta(days=1)
    engine = create_engine_for(config.storage.db_url)
    try:
        frame = load_frame(engine, int(since.timestamp()), int(now.timestamp()) + 1, model_name=args.model)
    finally:
        engine.dispose()
    lines = [
        line
        for line in cost_report_frame(frame, pricing)
        if args.model_version is None or line.model_version == args.model_version
    ]
    document = {"since": since.isoformat(), "until": now.isoformat(), "models": [cost_line_to_json(x) for x in lines]}
    emit(args, document, format_cost_report(lines))
    return EXIT_OK
