"""The settings registry: every configuration key declared once, with its parser and its meaning.

``collector.core.config`` resolves these from flags, the environment and the file; the CLI derives its flags and
the README its table from the same declarations, so they cannot drift apart.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from sqlalchemy import make_url
from sqlalchemy.exc import ArgumentError

DEFAULT_DB_URL = "sqlite:///inferwatch.db"
# The OTLP specification recommends 64 MiB; grpc's own default of 4 MiB rejects real batches with embeddings.
DEFAULT_MAX_MESSAGE_BYTES = 64 * 1024 * 1024
LOG_LEVELS = ("debug", "info", "warning", "error")


def parse_addr(raw: str) -> str:
    """Accept ``HOST:PORT`` or ``[IPV6]:PORT`` with a port in 0..65535 (0 picks a free port)."""
    host, sep, port = raw.rpartition(":")
    if not sep or not host or not port.isdigit() or not 0 <= int(port) <= 65535:
        raise ValueError("expected HOST:PORT with a port from 0 to 65535")
    return raw


def redacted_url(url: str) -> str:
    """A database URL with its password hidden, for logs, errors and `config show`."""
    try:
        return make_url(url).render_as_string(hide_password=True)
    except ArgumentError:
        # Not a URL SQLAlchemy can parse: hide whatever sits between "user:" and "@".
        return re.sub(r"(://[^/:@]*:)[^@/]*@", r"\1***@", url)


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


def parse_nonnegative_int(raw: str) -> int:
    """An integer >= 0."""
    value = int(raw)
    if value < 0:
        raise ValueError("must be >= 0")
    return value


def parse_pool_seconds(raw: str) -> int:
    """Whole seconds of at least one rollup minute: a shorter pool could never gather two minutes."""
    value = int(raw)
    if value < 60:
        raise ValueError("must be >= 60 (one rollup minute)")
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
    # For values that hold a secret in part (a password in a URL): how to show them.
    redact: Callable[[str], str] | None = None

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
        "otlp_http_addr",
        parse_addr,
        "OTLP/HTTP listen address: POST /v1/traces, /v1/logs and /v1/metrics, protobuf or JSON.",
    ),
    Setting(
        "server",
        "max_message_bytes",
        parse_positive_int,
        "Largest gRPC message or OTLP/HTTP body accepted, after decompression; larger ones are refused "
        "(RESOURCE_EXHAUSTED, or 413).",
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
        redact=redacted_url,
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
        "storage",
        "prediction_retention_days",
        parse_retention_days,
        "Days predictions (with their raw inputs) and outcomes are kept (0 keeps them forever); at least the "
        "longest drift window.",
        has_flag=False,
    ),
    Setting(
        "storage",
        "finding_retention_days",
        parse_retention_days,
        "Days detector findings, drift interval summaries and finished alert deliveries are kept "
        "(0 keeps them forever).",
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
        "pace_above_bytes",
        parse_nonnegative_int,
        "Backlog past which answers wait (up to 1 s) for the writer to drain it; 0 never waits.",
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
        "max_raw_span_bytes",
        parse_positive_int,
        "Largest serialized span kept as raw bytes; a larger one keeps its columns only (counted on /metrics).",
        has_flag=False,
    ),
    Setting(
        "collector",
        "max_models",
        parse_positive_int,
        "Most distinct model names rolled up per replica; spans of further models are rolled up as 'other'.",
        has_flag=False,
    ),
    Setting(
        "collector",
        "max_versions_per_model",
        parse_positive_int,
        "Most distinct versions per model; further ones are rolled up as 'other'.",
        has_flag=False,
    ),
    Setting(
        "collector",
        "max_operations_per_model",
        parse_positive_int,
        "Most distinct operations per model; further ones are rolled up as 'other'.",
        has_flag=False,
    ),
    Setting(
        "collector",
        "max_hardware_classes",
        parse_positive_int,
        "Most distinct hardware classes; further ones are rolled up as 'other'.",
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
        "collector",
        "check_outcome_ids",
        parse_bool,
        "Look up each outcome's prediction id when it is accepted (one query per request) and warn about unknown "
        "ones in the answer.",
        has_flag=False,
    ),
    Setting(
        "collector",
        "recent_prediction_ids",
        parse_positive_int,
        "Prediction ids accepted last that are remembered, so outcomes sent before the writer stores their "
        "prediction are not warned about (about 140 bytes each for UUIDs).",
        has_flag=False,
    ),
    Setting(
        "detectors",
        "detector_interval_s",
        parse_positive_float,
        "Seconds between detector passes (rollups, latency, SLO burn); each pass evaluates the last full minute.",
        has_flag=False,
    ),
    Setting(
        "detectors",
        "latency_min_requests",
        parse_positive_int,
        "Requests a latency point needs; quieter consecutive minutes are pooled until they hold this many.",
        has_flag=False,
    ),
    Setting(
        "detectors",
        "latency_max_pool_s",
        parse_pool_seconds,
        "Longest stretch of quiet minutes pooled into one latency point (seconds, at least 60); a stretch "
        "with fewer requests says nothing.",
        has_flag=False,
    ),
    Setting("", "log_level", parse_log_level, "Log level: debug, info, warning or error."),
)
