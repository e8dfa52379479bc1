"""Configuration: frozen dataclasses, read once at start-up and passed down explicitly.

Precedence, highest first: command-line flags, ``INFERWATCH_*`` environment variables, the TOML file
(``--config``/``INFERWATCH_CONFIG``, else ``./inferwatch.toml`` when it exists), then defaults. Every
setting is declared once in ``collector.core.settings.SETTINGS``; the flag, the environment variable and the
README table are all derived from that declaration, so they cannot drift apart. A bad value stops start-up
with a ``ConfigError`` that names the key, where the value came from, and the value.
"""

from __future__ import annotations

import os
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from collector.core.errors import ConfigError
from collector.core.limits import DEFAULT_MAX_RAW_SPAN_BYTES, DEFAULT_PACE_ABOVE_BYTES
from collector.core.settings import (
    DEFAULT_DB_URL,
    DEFAULT_MAX_MESSAGE_BYTES,
    SETTINGS,
    Setting,
    parse_tokens,
)

DEFAULT_CONFIG_FILE = "inferwatch.toml"


@dataclass(frozen=True)
class ServerConfig:
    """Where the service listens and how much it accepts in one message."""

    grpc_addr: str = "127.0.0.1:4317"
    http_addr: str = "127.0.0.1:8080"
    otlp_http_addr: str = "127.0.0.1:4318"
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
    prediction_retention_days: float = 30.0
    finding_retention_days: float = 90.0


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
    pace_above_bytes: int = DEFAULT_PACE_ABOVE_BYTES
    spool_fsync: bool = False
    keep_non_inference_spans: bool = False
    keep_raw_spans: bool = True
    max_raw_span_bytes: int = DEFAULT_MAX_RAW_SPAN_BYTES
    max_models: int = 1000
    max_versions_per_model: int = 100
    max_operations_per_model: int = 200
    max_hardware_classes: int = 100
    hardware_class_attribute: str = "ml.hardware.class"
    retry_after_s: float = 1.0
    drain_timeout_s: float = 30.0
    check_outcome_ids: bool = True
    recent_prediction_ids: int = 100_000


@dataclass(frozen=True)
class DetectorsConfig:
    """How often detectors run, and how much traffic a latency point needs."""

    detector_interval_s: float = 60.0
    latency_min_requests: int = 20
    latency_max_pool_s: int = 3600


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


SETTINGS_BY_FILE_KEY = {setting.file_key: setting for setting in SETTINGS}
# Sections later features read whole from the file (pricing tables, SLOs, alert routes); they are parsed by
# their owners, so the loader only checks that they are tables.
OPEN_SECTIONS = frozenset({"pricing", "slo", "alerts", "shadow", "drift", "rightsize"})


@dataclass(frozen=True)
class ResolvedValue:
    """A setting's value and where it came from, for error messages and `inferwatch config show`."""

    value: Any
    source: str  # "flag --db-url", "env INFERWATCH_DB_URL", "file inferwatch.toml", "default"


def _parse(setting: Setting, raw: object, source: str) -> ResolvedValue:
    """Parse one raw value, turning any failure into a ConfigError that names key, source and value."""
    if setting.secret:
        shown = "<redacted>"
    else:
        shown = repr(setting.redact(raw) if setting.redact is not None and isinstance(raw, str) else raw)
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
    sections = OPEN_SECTIONS | {setting.section for setting in SETTINGS if setting.section}
    for name, value in document.items():
        if isinstance(value, dict):
            if name in OPEN_SECTIONS:
                continue
            if name not in sections:
                raise ConfigError(f"unknown section [{name}] in {path} (known sections: {', '.join(sorted(sections))})")
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

    def section(name: str) -> dict[str, Any]:
        # Every setting declared for the section reaches its dataclass: nothing to forget when one is added.
        return {
            setting.key: resolved[setting.key].value
            for setting in SETTINGS
            if setting.section == name and setting.key in resolved
        }

    return Config(
        server=ServerConfig(**section("server")),
        storage=StorageConfig(**section("storage")),
        auth=AuthConfig(**section("auth")),
        collector=CollectorConfig(**section("collector")),
        detectors=DetectorsConfig(**section("detectors")),
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
        elif setting.redact is not None and isinstance(value, str):
            value = setting.redact(value)
        elif isinstance(value, tuple):
            value = list(value)
        source = resolved[setting.key].source if setting.key in resolved else "default"
        rows.append({"key": setting.file_key, "env": setting.env_var, "value": value, "source": source})
    return rows
