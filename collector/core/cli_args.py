"""What every command of the inferwatch CLI shares: argument types, config flags, exit codes and output."""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

from collector.core.config import Config, load_config
from collector.core.errors import InferwatchError
from collector.core.settings import SETTINGS, redacted_url

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


def database_config_of(args: argparse.Namespace) -> Config:
    """``config_of`` for commands that read or write the service's database: says on stderr, in one line, which
    configuration file and database it uses, and refuses a database that does not exist or is not migrated
    (naming it), instead of creating an empty one or failing with a traceback."""
    config = config_of(args)
    url = redacted_url(config.storage.db_url)
    source = str(config.config_file) if config.config_file else "no configuration file"
    print(f"inferwatch: {source}; database {url}", file=sys.stderr)
    require_migrated(config.storage.db_url)
    return config


def require_migrated(db_url: str) -> None:
    """Raise InferwatchError, saying what to do, unless ``db_url`` names a database at the head revision."""
    from collector.core.storage.engine import create_engine_for, sqlite_file
    from collector.core.storage.migrate import current_revision, head_revision

    shown = redacted_url(db_url)
    path = sqlite_file(db_url)
    if path is not None and not path.exists():
        raise InferwatchError(
            f"no database at {path}: point --db-url (or --config) at the service's database, or create this "
            f"one with `inferwatch db upgrade --db-url {shown}`"
        )
    engine = create_engine_for(db_url)
    try:
        revision = current_revision(engine)
    finally:
        engine.dispose()
    head = head_revision()
    if revision is None:
        raise InferwatchError(
            f"the database {shown} has no inferwatch schema: run `inferwatch db upgrade --db-url {shown}`"
        )
    if revision != head:
        raise InferwatchError(
            f"the database {shown} is at revision {revision}, this inferwatch expects {head}: "
            "run `inferwatch db upgrade` (or upgrade inferwatch, if the database is newer)"
        )


def warn_if_empty(config: Config, section: str, consequence: str) -> None:
    """One stderr warning when a command needs ``[section]`` and the configuration it read has none."""
    if config.feature_sections.get(section):
        return
    where = str(config.config_file) if config.config_file else "no configuration file was read"
    print(f"inferwatch: warning: [{section}] is empty ({where}): {consequence}", file=sys.stderr)
