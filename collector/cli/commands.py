"""The ``inferwatch`` command: serve, manage the database, show the configuration.

Every command that prints a result takes ``--json`` and then prints exactly one JSON document on stdout;
logs and errors go to stderr. Exit status: 0 on success, 1 when the command failed, 2 for bad usage or
configuration.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import sys
from collections.abc import Callable, Sequence
from typing import Any

from sqlalchemy.exc import SQLAlchemyError

import collector
from collector.cli.reports import add_report_commands
from collector.core.cli_args import (
    EXIT_FAILED,
    EXIT_OK,
    EXIT_USAGE,
    add_config_flags,
    add_db_flags,
    add_json_flag,
    config_of,
    database_config_of,
    emit,
    flags_of,
)
from collector.core.config import describe, load_config, resolve
from collector.core.errors import ConfigError, InferwatchError, UsageError
from collector.core.settings import redacted_url

# Re-exported: scripts and tests read the exit codes from the command's own module.
__all__ = ["EXIT_FAILED", "EXIT_OK", "EXIT_USAGE", "build_parser", "main"]

DESCRIPTION = """\
inferwatch watches machine-learning models in production: it collects OpenTelemetry traces and logs and
prediction records over gRPC, detects drift, latency, error and cost anomalies per model and version,
alerts on-call engineers, and replays recorded traffic against cheaper variants of a model.
"""

EPILOG = """\
Configuration comes from flags, then INFERWATCH_* environment variables, then inferwatch.toml
(or --config FILE), then defaults; `inferwatch config show` prints the result and where each value came from.

examples:
  inferwatch serve                              serve on 127.0.0.1:4317 (gRPC) and :8080 (HTTP), SQLite file
  inferwatch serve --db-url postgresql+psycopg://inferwatch@db/inferwatch
  inferwatch db upgrade                         apply pending migrations and exit
  inferwatch config show --json                 the effective configuration as JSON
  inferwatch drift check --reference train.csv --current today.parquet --json
  inferwatch alerts list                        pending and firing alerts
  inferwatch alerts silence model=fraud --duration 2h --comment "deploying"
  inferwatch cost report --since 6h             spend per model and version over the last six hours
  inferwatch rightsize --model fraud --json     the cheapest hardware, replicas and batching under the SLO
"""


def build_parser() -> argparse.ArgumentParser:
    """The whole command tree."""
    parser = argparse.ArgumentParser(
        prog="inferwatch",
        description=DESCRIPTION,
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"inferwatch {collector.__version__}")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)

    serve = commands.add_parser(
        "serve",
        help="run the collector, detectors, alerting and shadow runner",
        description="Run the service until SIGTERM or SIGINT. It migrates the database on start (unless "
        "migrate_on_start is false), serves OTLP and inferwatch.v1 gRPC with standard health checking and "
        "reflection on one port, and HTTP /healthz, /readyz and /metrics. On SIGTERM it stops taking calls, "
        "lets in-flight calls finish for shutdown_grace_s, and flushes everything it acknowledged.",
    )
    add_config_flags(serve)
    serve.set_defaults(handler=cmd_serve)

    db = commands.add_parser(
        "db",
        help="database schema: upgrade, downgrade, current revision",
        description="Manage the database schema (Alembic migrations shipped with inferwatch).",
    )
    db_commands = db.add_subparsers(dest="db_command", metavar="COMMAND", required=True)
    upgrade = db_commands.add_parser(
        "upgrade",
        help="apply pending migrations",
        description="Apply pending migrations up to REVISION (default: head). The same code path runs at "
        "start-up. Safe to run from several replicas at once on PostgreSQL: an advisory lock serialises "
        "them.",
    )
    upgrade.add_argument("--revision", default="head", help="target revision (default: head)")
    downgrade = db_commands.add_parser(
        "downgrade",
        help="revert migrations (destroys data in dropped tables)",
        description="Revert migrations down to REVISION ('base' drops every inferwatch table and its data).",
    )
    downgrade.add_argument("revision", help="target revision, or 'base'")
    current = db_commands.add_parser(
        "current",
        help="show the database's revision and the head revision",
        description="Show the revision the database is at and the head revision this version of inferwatch expects.",
    )
    for sub in (upgrade, downgrade, current):
        add_db_flags(sub)
        add_json_flag(sub)
    upgrade.set_defaults(handler=cmd_db_upgrade)
    downgrade.set_defaults(handler=cmd_db_downgrade)
    current.set_defaults(handler=cmd_db_current)

    add_report_commands(commands)
    _add_feature_commands(commands)

    config = commands.add_parser(
        "config", help="show the effective configuration", description="Inspect configuration."
    )
    config_commands = config.add_subparsers(dest="config_command", metavar="COMMAND", required=True)
    show = config_commands.add_parser(
        "show",
        help="print every setting, its value and where it came from (tokens redacted)",
        description="Print every setting with its effective value and its source: flag, environment, file "
        "or default. Secrets are redacted. Exits 2 with the offending key when a value is invalid.",
    )
    add_config_flags(show)
    add_json_flag(show)
    show.set_defaults(handler=cmd_config_show)
    return parser


def _add_feature_commands(commands: Any) -> None:
    """Commands the feature packages bring: drift, references, models, shadow and alerts."""
    # Feature packages bring their own commands; they receive the resolved database URL.
    from shadow.cli import add_commands as add_shadow_commands

    add_shadow_commands(commands)
    from detectors.drift.cli import add_drift_commands
    from detectors.drift.reference_cli import add_reference_commands

    add_reference_commands(commands)
    for name in ("models", "shadow", "reference"):
        commands.choices[name].set_defaults(handler=cmd_feature)
    add_drift_commands(commands)
    from alerts.cli import add_commands as add_alert_commands

    add_alert_commands(commands)
    commands.choices["alerts"].set_defaults(handler=cmd_alerts)
    from rightsize.cli import add_commands as add_rightsize_commands

    add_rightsize_commands(commands)
    commands.choices["rightsize"].set_defaults(handler=cmd_rightsize)


def cmd_serve(args: argparse.Namespace) -> int:
    """Run the service in the foreground."""
    from collector.service.app import serve

    config = config_of(args)
    logging.getLogger().setLevel(config.log_level.upper())
    asyncio.run(serve(config))
    return EXIT_OK


def cmd_db_upgrade(args: argparse.Namespace) -> int:
    """Apply migrations."""
    from collector.core.storage.engine import create_engine_for
    from collector.core.storage.migrate import current_revision, upgrade

    config = config_of(args)
    upgrade(config.storage.db_url, args.revision)
    engine = create_engine_for(config.storage.db_url)
    try:
        revision = current_revision(engine)
    finally:
        engine.dispose()
    url = redacted_url(config.storage.db_url)
    emit(args, {"database": url, "revision": revision}, f"{url} is at revision {revision}")
    return EXIT_OK


def cmd_db_downgrade(args: argparse.Namespace) -> int:
    """Revert migrations."""
    from collector.core.storage.engine import create_engine_for
    from collector.core.storage.migrate import current_revision, downgrade

    config = config_of(args)
    downgrade(config.storage.db_url, args.revision)
    engine = create_engine_for(config.storage.db_url)
    try:
        revision = current_revision(engine)
    finally:
        engine.dispose()
    url = redacted_url(config.storage.db_url)
    emit(args, {"database": url, "revision": revision}, f"{url} is at revision {revision or 'base (empty)'}")
    return EXIT_OK


def cmd_db_current(args: argparse.Namespace) -> int:
    """Show the current and head revisions; exit 1 when the schema is behind."""
    from collector.core.storage.engine import create_engine_for
    from collector.core.storage.migrate import current_revision, head_revision

    config = config_of(args)
    engine = create_engine_for(config.storage.db_url)
    try:
        revision = current_revision(engine)
    finally:
        engine.dispose()
    head = head_revision()
    url = redacted_url(config.storage.db_url)
    at_head = revision == head
    text = f"{url}: revision {revision or 'none'}, head {head}" + ("" if at_head else " (run `inferwatch db upgrade`)")
    emit(args, {"database": url, "revision": revision, "head": head, "at_head": at_head}, text)
    return EXIT_OK if at_head else EXIT_FAILED


def cmd_feature(args: argparse.Namespace) -> int:
    """Run a feature package's command with the configured database (shadow: also its [shadow] and [pricing])."""
    config = database_config_of(args)
    if args.command == "shadow":
        from collector.core.pricing import parse_pricing_section
        from shadow.settings import parse_shadow_section

        sections = config.feature_sections
        settings = parse_shadow_section(sections.get("shadow", {}), parse_pricing_section(sections.get("pricing", {})))
        shadow_result: int = args.feature_handler(args, config.storage.db_url, settings)
        return shadow_result
    result: int = args.feature_handler(args, config.storage.db_url)
    return result


def cmd_rightsize(args: argparse.Namespace) -> int:
    """Run `inferwatch rightsize` with the configured SLOs, prices and [rightsize] settings."""
    from collector.core.cli_args import warn_if_empty
    from collector.service.features import parse_features, rightsize_context

    config = database_config_of(args)
    warn_if_empty(config, "pricing", "right-sizing uses the built-in list prices of cpu and four GPU classes")
    result: int = args.feature_handler(args, config.storage.db_url, rightsize_context(parse_features(config)))
    return result


def cmd_alerts(args: argparse.Namespace) -> int:
    """Run an `inferwatch alerts` command with the resolved configuration (database, inhibition rules)."""
    result: int = args.alerts_handler(args, database_config_of(args))
    return result


def cmd_config_show(args: argparse.Namespace) -> int:
    """Print the effective configuration."""
    flags = flags_of(args)
    resolved = resolve(flags, config_path=args.config)
    config = load_config(flags, config_path=args.config)
    # The same checks `serve` runs: a typo it would refuse makes this exit 2 too.
    from collector.service.features import describe_features, parse_features

    sections = describe_features(parse_features(config))
    rows = describe(config, resolved)
    width = max(len(row["key"]) for row in rows)
    lines = [f"config file: {config.config_file or 'none'}"]
    lines += [f"{row['key']:<{width}}  {json.dumps(row['value'])}  ({row['source']})" for row in rows]
    lines += [f"[{name}]  {json.dumps(section, default=str)}" for name, section in sections.items()]
    document = {"config_file": config.config_file, "settings": rows, "sections": sections}
    emit(args, document, "\n".join(lines))
    return EXIT_OK


def _quiet_alembic_setup(record: logging.LogRecord) -> bool:
    """Keep alembic's "Running upgrade ..." lines; drop its per-connection "Context impl" chatter."""
    return not record.getMessage().startswith(("Context impl", "Will assume"))


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``inferwatch`` console script."""
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s", stream=sys.stderr)
    # Alembic logs each of its plugins at INFO on import, which buries `--help` and every command's output, and
    # two lines of set-up each time it reads the revision, which /readyz does on every probe.
    logging.getLogger("alembic.runtime.plugins").setLevel(logging.WARNING)
    logging.getLogger("alembic.runtime.migration").addFilter(_quiet_alembic_setup)
    parser = build_parser()
    args = parser.parse_args(argv)
    handler: Callable[[argparse.Namespace], int] = args.handler
    try:
        return handler(args)
    except ConfigError as error:
        print(f"inferwatch: configuration error: {error}", file=sys.stderr)
        return EXIT_USAGE
    except UsageError as error:
        print(f"inferwatch: error: {error}", file=sys.stderr)
        return EXIT_USAGE
    except InferwatchError as error:
        print(f"inferwatch: error: {error}", file=sys.stderr)
        return EXIT_FAILED
    except ValueError as error:
        # Option values that parse but make no sense (a batch size of 0): a usage error, named by the check.
        print(f"inferwatch: error: {error}", file=sys.stderr)
        return EXIT_USAGE
    except SQLAlchemyError as error:
        # A database that is down or refuses us is an operational condition, not a crash: say so in one line.
        reason = getattr(error, "orig", None) or error
        print(f"inferwatch: database error: {type(reason).__name__}: {reason}".rstrip(), file=sys.stderr)
        return EXIT_FAILED
    except KeyboardInterrupt:
        return EXIT_FAILED
