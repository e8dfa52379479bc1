"""Configuration: frozen dataclasses, read once at start-up and passed down explicitly.

Precedence, highest first: command-line flags, ``INFERWATCH_*`` environment variables, the TOML file
(``--config``/``INFERWATCH_CONFIG``, else ``./inferwatch.toml`` when it exists), then defaults. Every
setting is declared once in ``SETTINGS``; the flag, the environment variable and the README table are
all derived from that declaration, so they cannot drift apart. A bad value stops start-up with a
``ConfigError`` that names the key, where the value came from, and the value.
"""

from __future__ import annotations

import os
import tomllib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from collector.errors import ConfigError

DEFAULT_CONFIG_FILE = "inferwatch.toml"
DEFAULT_DB_URL = "sqlite:///inferwatch.db"
# The OTLP specification recommends 64 MiB; grpc's own default of 4 MiB rejects real batches with embeddings.
DEFAULT_MAX_MESSAGE_BYTES = 64 * 1024 * 1024
LOG_LEVELS = ("debug", "info", "warning", "error")


@dataclass(frozen=True)
class ServerConfig:
    """Where the service listens and how much it accepts in one message."""

    grpc_addr: str = "127.0.0.1:4317"
    http_addr: str = "127.0.0.1:8080"
    max_message_bytes: int = DEFAULT_MAX_MESSAGE_BYTES
    shutdown_grace_s: float = 10.0


@dataclass(frozen=True)
class StorageConfig:
    """The one database URL, and whether start-up applies pending migrations."""

    db_url: str = DEFAULT_DB_URL
    migrate_on_start: bool = True
    # Days kept; 0 keeps forever. Rollups outlive raw spans: detectors read only rollups.
    span_retention_days: float = 7.0
    rollup_retention_days: float = 90.0


@dataclass(frozen=True)
class AuthConfig:
    """Bearer tokens; with none configured, the service accepts unauthenticated calls."""

    ingest_tokens: tuple[str, ...] = ()
    admin_tokens: tuple[str, ...] = ()

    @property
    def enabled(self) -> bool:
        """Whether any token is configured, which turns authentication on for every call."""
        return bool(self.ingest_tokens or self.admin_tokens)


@dataclass(frozen=True)
class CollectorConfig:
    """How ingest decodes, buffers and writes."""

    spool_dir: str = "inferwatch-spool"
    spool_max_bytes: int = 1024 * 1024 * 1024
    spool_fsync: bool = False
    keep_non_inference_spans: bool = False
    keep_raw_spans: bool = True
    hardware_class_attribute: str = "ml.hardware.class"
    retry_after_s: float = 1.0
    drain_timeout_s: float = 30.0


@dataclass(frozen=True)
class DetectorsConfig:
    """How often detectors run."""

    detector_interval_s: float = 60.0


@dataclass(frozen=True)
class Config:
    """Everything the service reads from its environment, resolved once."""

    server: ServerConfig = field(default_factory=ServerConfig)
    storage: StorageConfig = field(default_factory=StorageConfig)
    auth: AuthConfig = field(default_factory=AuthConfig)
    collector: CollectorConfig = field(default_factory=CollectorConfig)
    detectors: DetectorsConfig = field(default_factory=DetectorsConfig)
    log_level: str = "info"
    # The file the values came from, if any; shown by `inferwatch config show`.
    config_file: Path | None = None
    # Tables of the file that features parse themselves ([slo], [pricing], ...), as read.
    feature_sections: Mapping[str, Any] = field(default_factory=dict)


def parse_addr(raw: str) -> str:
    """Accept ``HOST:PORT`` or ``[IPV6]:PORT`` with a port in 0..65535 (0 picks a free port)."""
    host, sep, port = raw.rpartition(":")
    if not sep or not host or not port.isdigit() or not 0 <= int(port) <= 65535:
        raise ValueError("expected HOST:PORT with a port from 0 to 65535")
    return raw


def parse_db_url(raw: str) -> str:
    """Accept SQLite and PostgreSQL URLs, the two stores inferwatch is tested on."""
    scheme = raw.split("://", 1)[0] if "://" in raw else ""
    if not (scheme.startswith("sqlite") or scheme.startswith("postgres")):
        raise ValueError("expected a sqlite:/// or postgresql+psycopg:// URL")
    return raw


def parse_positive_int(raw: str) -> int:
    """A strictly positive integer."""
    value = int(raw)
    if value <= 0:
        raise ValueError("must be > 0")
    return value


def parse_positive_float(raw: str) -> float:
    """A strictly positive, finite number."""
    value = float(raw)
    if not 0 < value < float("inf"):
        raise ValueError("must be a finite number > 0")
    return value


def parse_retention_days(raw: str) -> float:
    """A finite number of days >= 0, where 0 means keep forever."""
    value = float(raw)
    if not 0 <= value < float("inf"):
        raise ValueError("must be a finite number of days >= 0 (0 keeps forever)")
    return value


def parse_bool(raw: str) -> bool:
    """The spellings people use in environment variables."""
    lowered = raw.strip().lower()
    if lowered in {"1", "true", "yes", "on"}:
        return True
    if lowered in {"0", "false", "no", "off"}:
        return False
    raise ValueError("expected true or false")


def parse_tokens(raw: str) -> tuple[str, ...]:
    """A comma-separated list of non-empty tokens."""
    tokens = tuple(token.strip() for token in raw.split(",") if token.strip())
    if not tokens:
        raise ValueError("expected one or more comma-separated tokens")
    return tokens


def parse_nonempty(raw: str) -> str:
    """A non-empty string."""
    if not raw.strip():
        raise ValueError("must not be empty")
    return raw.strip()


def parse_log_level(raw: str) -> str:
    """One of ``LOG_LEVELS``."""
    level = raw.strip().lower()
    if level not in LOG_LEVELS:
        raise ValueError(f"expected one of {', '.join(LOG_LEVELS)}")
    return level


@dataclass(frozen=True)
class Setting:
    """One configuration key: where it lives in the file, how it is parsed, and what it means."""

    section: str  # "" for the top level of the TOML file
    key: str
    parse: Callable[[str], Any]
    help: str
    secret: bool = False
    has_flag: bool = True

    @property
    def env_var(self) -> str:
        """``INFERWATCH_`` and the key in upper case."""
        return f"INFERWATCH_{self.key.upper()}"

    @property
    def flag(self) -> str:
        """The command-line flag, ``--`` and the key with dashes."""
        return "--" + self.key.replace("_", "-")

    @property
    def file_key(self) -> str:
        """The dotted path of the key in ``inferwatch.toml``."""
        return f"{self.section}.{self.key}" if self.section else self.key


SETTINGS: tuple[Setting, ...] = (
    Setting("server", "grpc_addr", parse_addr, "OTLP and inferwatch.v1 gRPC listen address (one port for both)."),
    Setting(
        "server",
        "http_addr",
        parse_addr,
        "HTTP listen address: /healthz, /readyz, /metrics and the JSON API.",
    ),
    Setting(
        "server",
        "max_message_bytes",
        parse_positive_int,
        "Largest gRPC message accepted, after decompression; larger ones get RESOURCE_EXHAUSTED.",
    ),
    Setting(
        "server",
        "shutdown_grace_s",
        parse_positive_float,
        "Seconds in-flight calls get on SIGTERM before accepted data is flushed and the process exits.",
    ),
    Setting(
        "storage",
        "db_url",
        parse_db_url,
        "Database URL: sqlite:///PATH or postgresql+psycopg://USER@HOST/DB.",
    ),
    Setting(
        "storage",
        "migrate_on_start",
        parse_bool,
        "Apply pending database migrations at start-up (the same code path as `inferwatch db upgrade`).",
    ),
    Setting(
        "storage",
        "span_retention_days",
        parse_retention_days,
        "Days raw spans are kept, once rolled up (0 keeps them forever); the detector pass prunes older ones.",
        has_flag=False,
    ),
    Setting(
        "storage",
        "rollup_retention_days",
        parse_retention_days,
        "Days span rollups are kept (0 keeps them forever); keep at least 30 for SLO budgets over 30 days.",
        has_flag=False,
    ),
    Setting(
        "auth",
        "ingest_tokens",
        parse_tokens,
        "Bearer tokens that may send telemetry and predictions (comma-separated in the environment).",
        secret=True,
        has_flag=False,
    ),
    Setting(
        "auth",
        "admin_tokens",
        parse_tokens,
        "Bearer tokens that may also register models, start shadow runs and manage alerts, and ingest.",
        secret=True,
        has_flag=False,
    ),
    Setting(
        "collector",
        "spool_dir",
        parse_nonempty,
        "Directory of the durable ingest buffer (acknowledged data not yet in the database); one per replica.",
    ),
    Setting(
        "collector",
        "spool_max_bytes",
        parse_positive_int,
        "Most bytes the buffer holds before exports get UNAVAILABLE with RetryInfo.",
        has_flag=False,
    ),
    Setting(
        "collector",
        "spool_fsync",
        parse_bool,
        "fsync every append: survives power loss, not only kill -9, at a cost per export.",
        has_flag=False,
    ),
    Setting(
        "collector",
        "keep_non_inference_spans",
        parse_bool,
        "Store spans without a model attribute too (they are always counted).",
        has_flag=False,
    ),
    Setting(
        "collector",
        "keep_raw_spans",
        parse_bool,
        "Keep each serialized span (all attributes and events) beside the extracted columns.",
        has_flag=False,
    ),
    Setting(
        "collector",
        "hardware_class_attribute",
        parse_nonempty,
        "Resource (or span) attribute naming the hardware class a model runs on.",
        has_flag=False,
    ),
    Setting(
        "collector",
        "retry_after_s",
        parse_positive_float,
        "Delay suggested to clients in RetryInfo when the buffer is full.",
        has_flag=False,
    ),
    Setting(
        "collector",
        "drain_timeout_s",
        parse_positive_float,
        "Seconds shutdown waits for the database to take buffered data; the rest is written at the next start.",
        has_flag=False,
    ),
    Setting(
        "detectors",
        "detector_interval_s",
        parse_positive_float,
        "Seconds between detector passes (rollups, latency, SLO burn); each pass evaluates the last full minute.",
        has_flag=False,
    ),
    Setting("", "log_level", parse_log_level, "Log level: debug, info, warning or error."),
)

_COLLECTOR_KEYS = frozenset(setting.key for setting in SETTINGS if setting.section == "collector")
SETTINGS_BY_FILE_KEY = {setting.file_key: setting for setting in SETTINGS}
# Sections later features read whole from the file (pricing tables, SLOs, alert routes); they are parsed by
# their owners, so the loader only checks that they are tables.
OPEN_SECTIONS = frozenset({"pricing", "slo", "alerts", "shadow", "drift"})


@dataclass(frozen=True)
class ResolvedValue:
    """A setting's value and where it came from, for error messages and `inferwatch config show`."""

    value: Any
    source: str  # "flag --db-url", "env INFERWATCH_DB_URL", "file inferwatch.toml", "default"


def _parse(setting: Setting, raw: object, source: str) -> ResolvedValue:
    """Parse one raw value, turning any failure into a ConfigError that names key, source and value."""
    shown = "<redacted>" if setting.secret else repr(raw)
    try:
        if isinstance(raw, list) and setting.parse is parse_tokens:
            raw = ",".join(str(item) for item in raw)
        elif isinstance(raw, bool):
            raw = "true" if raw else "false"
        elif not isinstance(raw, str):
            if isinstance(raw, int | float):
                raw = str(raw)
            else:
                raise ValueError(f"expected a string or number, got {type(raw).__name__}")
        return ResolvedValue(setting.parse(raw), source)
    except ValueError as error:
        raise ConfigError(f"invalid {setting.file_key} from {source}: {shown}: {error}") from None


def _flatten_file(document: Mapping[str, Any], path: Path) -> dict[str, object]:
    """Map a parsed TOML document onto dotted setting keys, rejecting keys nobody reads (typos)."""
    flat: dict[str, object] = {}
    for name, value in document.items():
        if isinstance(value, dict):
            if name in OPEN_SECTIONS:
                continue
            for key, inner in value.items():
                flat[f"{name}.{key}"] = inner
        else:
            flat[name] = value
    unknown = sorted(set(flat) - set(SETTINGS_BY_FILE_KEY))
    if unknown:
        known = ", ".join(sorted(SETTINGS_BY_FILE_KEY))
        raise ConfigError(f"unknown key {unknown[0]!r} in {path} (known keys: {known})")
    return flat


def read_config_file(path: Path) -> dict[str, Any]:
    """Parse a TOML file, turning I/O and syntax errors into ConfigError naming the file."""
    try:
        with path.open("rb") as handle:
            return tomllib.load(handle)
    except FileNotFoundError:
        raise ConfigError(f"config file {path} does not exist") from None
    except tomllib.TOMLDecodeError as error:
        raise ConfigError(f"config file {path} is not valid TOML: {error}") from None
    except OSError as error:
        raise ConfigError(f"config file {path} cannot be read: {error.strerror}") from None


def resolve(
    flags: Mapping[str, object | None] | None = None,
    environ: Mapping[str, str] | None = None,
    config_path: str | None = None,
    cwd: Path | None = None,
) -> dict[str, ResolvedValue]:
    """Resolve every setting from flags, environment, file and defaults, in that order.

    ``flags`` maps setting keys (``db_url``) to values, ``None`` meaning "not given".
    """
    flags = flags or {}
    environ = os.environ if environ is None else environ
    cwd = cwd or Path.cwd()
    file_path: Path | None
    explicit = config_path or environ.get("INFERWATCH_CONFIG")
    if explicit:
        file_path = Path(explicit)
        if not file_path.is_absolute():
            file_path = cwd / file_path
    else:
        candidate = cwd / DEFAULT_CONFIG_FILE
        file_path = candidate if candidate.exists() else None
    document = read_config_file(file_path) if file_path else {}
    file_values = _flatten_file(document, file_path) if file_path else {}

    resolved: dict[str, ResolvedValue] = {
        "config_file": ResolvedValue(file_path, "flag/env/default"),
        "feature_sections": ResolvedValue({k: v for k, v in document.items() if k in OPEN_SECTIONS}, "file"),
    }
    for setting in SETTINGS:
        flag_value = flags.get(setting.key)
        if flag_value is not None:
            resolved[setting.key] = _parse(setting, flag_value, f"flag {setting.flag}")
        elif setting.env_var in environ:
            resolved[setting.key] = _parse(setting, environ[setting.env_var], f"env {setting.env_var}")
        elif setting.file_key in file_values:
            resolved[setting.key] = _parse(setting, file_values[setting.file_key], f"file {file_path}")
    return resolved


def load_config(
    flags: Mapping[str, object | None] | None = None,
    environ: Mapping[str, str] | None = None,
    config_path: str | None = None,
    cwd: Path | None = None,
) -> Config:
    """Build the frozen Config; raises ConfigError on the first bad value."""
    resolved = resolve(flags, environ, config_path, cwd)

    def pick(key: str) -> dict[str, Any]:
        return {key: resolved[key].value} if key in resolved else {}

    return Config(
        server=ServerConfig(
            **pick("grpc_addr"), **pick("http_addr"), **pick("max_message_bytes"), **pick("shutdown_grace_s")
        ),
        storage=StorageConfig(
            **pick("db_url"),
            **pick("migrate_on_start"),
            **pick("span_retention_days"),
            **pick("rollup_retention_days"),
        ),
        auth=AuthConfig(**pick("ingest_tokens"), **pick("admin_tokens")),
        collector=CollectorConfig(**{key: value.value for key, value in resolved.items() if key in _COLLECTOR_KEYS}),
        detectors=DetectorsConfig(**pick("detector_interval_s")),
        **pick("log_level"),
        config_file=resolved["config_file"].value,
        feature_sections=resolved["feature_sections"].value,
    )


def describe(config: Config, resolved: Mapping[str, ResolvedValue]) -> list[dict[str, Any]]:
    """The effective settings with their sources, secrets redacted, for `inferwatch config show`."""
    rows = []
    for setting in SETTINGS:
        section = getattr(config, setting.section) if setting.section else config
        value = getattr(section, setting.key)
        if setting.secret and value:
            value = f"<{len(value)} redacted>"
        elif isinstance(value, tuple):
            value = list(value)
        source = resolved[setting.key].source if setting.key in resolved else "default"
        rows.append({"key": setting.file_key, "env": setting.env_var, "value": value, "source": source})
    return rows
