"""What every command of the inferwatch CLI shares: argument types, config flags, exit codes and output."""

from __future__ import annotations

import argparse
import json
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

from collector.core.config import Config, load_config
from collector.core.settings import SETTINGS

EXIT_OK, EXIT_FAILED, EXIT_USAGE = 0, 1, 2


def parse_since(raw: str) -> datetime:
    """``30m``, ``6h``, ``2d`` before now, or an ISO 8601 time (UTC when it names no zone)."""
    units = {"s": 1, "m": 60, "h": 3600, "d": 86400}
    if raw[-1:] in units and raw[:-1].isdigit():
        return datetime.now(tz=UTC) - timedelta(seconds=int(raw[:-1]) * units[raw[-1]])
    try:
        moment = datetime.fromisoformat(raw)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected an ISO time or a duration like 30m, 6h, 2d; got {raw!r}") from None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def add_config_flags(parser: argparse.ArgumentParser, *, keys: Sequence[str] | None = None) -> None:
    """Add ``--config`` and one flag per setting (all, or those in ``keys``), derived from SETTINGS."""
    parser.add_argument(
        "--config",
        metavar="FILE",
        help="TOML configuration file (env INFERWATCH_CONFIG; default ./inferwatch.toml)",
    )
    for setting in SETTINGS:
        if not setting.has_flag or (keys is not None and setting.key not in keys):
            continue
        parser.add_argument(
            setting.flag,
            dest=setting.key,
            metavar="VALUE",
            default=None,
            help=f"{setting.help} (env {setting.env_var})",
        )


def add_db_flags(parser: argparse.ArgumentParser) -> None:
    """Add ``--config`` and ``--db-url``: what every command that reads or writes the database takes."""
    add_config_flags(parser, keys=("db_url",))


def add_json_flag(parser: argparse.ArgumentParser) -> None:
    """Add ``--json``: print one JSON document instead of text."""
    parser.add_argument("--json", action="store_true", help="print one JSON document on stdout")


def flags_of(args: argparse.Namespace) -> dict[str, object | None]:
    """The setting flags a command was given (None where not)."""
    return {setting.key: getattr(args, setting.key, None) for setting in SETTINGS}


def config_of(args: argparse.Namespace) -> Config:
    """The configuration a command runs with: its flags, then environment, file and defaults."""
    return load_config(flags_of(args), config_path=args.config)


def emit(args: argparse.Namespace, document: dict[str, Any], text: str) -> None:
    """Print either the JSON document or the human text."""
    print(json.dumps(document, indent=2, default=str) if getattr(args, "json", False) else text)
