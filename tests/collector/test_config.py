"""Configuration precedence and validation: flags, then environment, then file, then defaults."""

from __future__ import annotations

from pathlib import Path

import pytest

from collector.core.config import Config, load_config
from collector.core.errors import ConfigError
from collector.core.settings import DEFAULT_DB_URL, DEFAULT_MAX_MESSAGE_BYTES, SETTINGS


def test_defaults_need_nothing(tmp_path: Path) -> None:
    """With no flags, environment or file, the service listens on loopback and uses a local SQLite file."""
    config = load_config({}, environ={}, cwd=tmp_path)
    assert config.server.grpc_addr == "127.0.0.1:4317"
    assert config.server.http_addr == "127.0.0.1:8080"
    assert config.server.max_message_bytes == DEFAULT_MAX_MESSAGE_BYTES == 64 * 1024 * 1024
    assert config.storage.db_url == DEFAULT_DB_URL
    assert config.auth.enabled is False
    assert config.config_file is None


def test_flag_beats_env_beats_file_beats_default(tmp_path: Path) -> None:
    """Each source overrides the ones below it, key by key."""
    (tmp_path / "inferwatch.toml").write_text(
        '[server]\ngrpc_addr = "127.0.0.1:1001"\nhttp_addr = "127.0.0.1:1002"\nmax_message_bytes = 1003\n'
    )
    environ = {"INFERWATCH_GRPC_ADDR": "127.0.0.1:2001", "INFERWATCH_HTTP_ADDR": "127.0.0.1:2002"}
    config = load_config({"grpc_addr": "127.0.0.1:3001"}, environ=environ, cwd=tmp_path)
    assert config.server.grpc_addr == "127.0.0.1:3001"
    assert config.server.http_addr == "127.0.0.1:2002"
    assert config.server.max_message_bytes == 1003
    assert config.server.shutdown_grace_s == 10.0
    assert config.config_file == tmp_path / "inferwatch.toml"


def test_config_file_from_environment_relative_to_cwd(tmp_path: Path) -> None:
    """INFERWATCH_CONFIG names the file; a relative path is taken from the working directory."""
    (tmp_path / "custom.toml").write_text('log_level = "debug"\n[storage]\ndb_url = "sqlite:///x.db"\n')
    config = load_config({}, environ={"INFERWATCH_CONFIG": "custom.toml"}, cwd=tmp_path)
    assert config.log_level == "debug"
    assert config.storage.db_url == "sqlite:///x.db"


def test_tokens_parse_from_env_list_and_file_array(tmp_path: Path) -> None:
    """Tokens come comma-separated from the environment or as a TOML array, and turn auth on."""
    (tmp_path / "inferwatch.toml").write_text('[auth]\ningest_tokens = ["a", "b"]\n')
    config = load_config({}, environ={"INFERWATCH_ADMIN_TOKENS": " x , y "}, cwd=tmp_path)
    assert config.auth.ingest_tokens == ("a", "b")
    assert config.auth.admin_tokens == ("x", "y")
    assert config.auth.enabled is True


@pytest.mark.parametrize(
    ("environ", "expected"),
    [
        ({"INFERWATCH_GRPC_ADDR": "4317"}, "invalid server.grpc_addr from env INFERWATCH_GRPC_ADDR: '4317'"),
        (
            {"INFERWATCH_HTTP_ADDR": "host:99999"},
            "invalid server.http_addr from env INFERWATCH_HTTP_ADDR: 'host:99999'",
        ),
        (
            {"INFERWATCH_DB_URL": "mysql://x"},
            "invalid storage.db_url from env INFERWATCH_DB_URL: 'mysql://x'",
        ),
        (
            {"INFERWATCH_MAX_MESSAGE_BYTES": "0"},
            "invalid server.max_message_bytes from env INFERWATCH_MAX_MESSAGE_BYTES: '0'",
        ),
        (
            {"INFERWATCH_MAX_MESSAGE_BYTES": "big"},
            "invalid server.max_message_bytes from env INFERWATCH_MAX_MESSAGE_BYTES: 'big'",
        ),
        (
            {"INFERWATCH_SHUTDOWN_GRACE_S": "nan"},
            "invalid server.shutdown_grace_s from env INFERWATCH_SHUTDOWN_GRACE_S: 'nan'",
        ),
        (
            {"INFERWATCH_MIGRATE_ON_START": "maybe"},
            "invalid storage.migrate_on_start from env INFERWATCH_MIGRATE_ON_START: 'maybe'",
        ),
        ({"INFERWATCH_LOG_LEVEL": "loud"}, "invalid log_level from env INFERWATCH_LOG_LEVEL: 'loud'"),
        (
            {"INFERWATCH_SPAN_RETENTION_DAYS": "-1"},
            "invalid storage.span_retention_days from env INFERWATCH_SPAN_RETENTION_DAYS: '-1'",
        ),
        (
            {"INFERWATCH_ROLLUP_RETENTION_DAYS": "inf"},
            "invalid storage.rollup_retention_days from env INFERWATCH_ROLLUP_RETENTION_DAYS: 'inf'",
        ),
    ],
)
def test_bad_values_name_key_source_and_value(tmp_path: Path, environ: dict[str, str], expected: str) -> None:
    """A bad value raises ConfigError naming the key, where it came from and the value."""
    with pytest.raises(ConfigError) as raised:
        load_config({}, environ=environ, cwd=tmp_path)
    assert str(raised.value).startswith(expected)


def test_bad_token_value_is_redacted(tmp_path: Path) -> None:
    """An invalid secret is reported without echoing it."""
    with pytest.raises(ConfigError) as raised:
        load_config({}, environ={"INFERWATCH_INGEST_TOKENS": " , "}, cwd=tmp_path)
    assert "<redacted>" in str(raised.value)


def test_unknown_file_key_is_rejected(tmp_path: Path) -> None:
    """A typo in the file is an error naming the key, not a silently ignored setting."""
    (tmp_path / "inferwatch.toml").write_text('[server]\ngrpc_adr = "127.0.0.1:1"\n')
    with pytest.raises(ConfigError, match=r"unknown key 'server\.grpc_adr'"):
        load_config({}, environ={}, cwd=tmp_path)


def test_file_sections_owned_by_features_are_allowed(tmp_path: Path) -> None:
    """Sections read by later features (pricing, SLOs, alert routes) do not trip the unknown-key check."""
    (tmp_path / "inferwatch.toml").write_text("[pricing]\ncpu = 0.1\n[slo.fraud]\ntarget = 0.99\n")
    config = load_config({}, environ={}, cwd=tmp_path)
    assert config.config_file == tmp_path / "inferwatch.toml"
    assert config.feature_sections == {"pricing": {"cpu": 0.1}, "slo": {"fraud": {"target": 0.99}}}


def test_missing_and_malformed_files_are_clear(tmp_path: Path) -> None:
    """A named file that is absent or not TOML is an error naming the file."""
    with pytest.raises(ConfigError, match="does not exist"):
        load_config({}, environ={}, config_path=str(tmp_path / "nope.toml"), cwd=tmp_path)
    (tmp_path / "bad.toml").write_text("[server\n")
    with pytest.raises(ConfigError, match="is not valid TOML"):
        load_config({}, environ={}, config_path="bad.toml", cwd=tmp_path)


def test_wrong_type_in_file_is_named(tmp_path: Path) -> None:
    """A table where a string belongs is reported with the key."""
    (tmp_path / "inferwatch.toml").write_text("[storage]\ndb_url = [1, 2]\n")
    with pytest.raises(ConfigError, match=r"invalid storage\.db_url from file"):
        load_config({}, environ={}, cwd=tmp_path)


def test_every_setting_has_a_unique_env_var_and_help() -> None:
    """Derived names never collide, and every key is documented."""
    env_vars = [setting.env_var for setting in SETTINGS]
    assert len(env_vars) == len(set(env_vars))
    assert all(setting.help.endswith(".") for setting in SETTINGS)


def test_readme_documents_every_key() -> None:
    """The README's configuration table names every key and its environment variable."""
    readme = (Path(__file__).parents[2] / "README.md").read_text()
    for setting in SETTINGS:
        assert f"`{setting.file_key}`" in readme
        assert f"`{setting.env_var}`" in readme


def test_retention_days_from_file_and_env(tmp_path: Path) -> None:
    """Raw-span and rollup retention are set separately; 0 keeps forever."""
    (tmp_path / "inferwatch.toml").write_text("[storage]\nspan_retention_days = 2.5\nrollup_retention_days = 0\n")
    config = load_config({}, environ={"INFERWATCH_ROLLUP_RETENTION_DAYS": "30"}, cwd=tmp_path)
    assert (config.storage.span_retention_days, config.storage.rollup_retention_days) == (2.5, 30.0)
    assert load_config({}, environ={}, cwd=tmp_path).storage.rollup_retention_days == 0.0


def test_every_setting_reaches_the_config() -> None:
    """Each declared setting, set in the environment, arrives in its section of the Config (none forgotten)."""
    samples = {
        "grpc_addr": "127.0.0.1:1",
        "http_addr": "127.0.0.1:2",
        "otlp_http_addr": "127.0.0.1:3",
        "db_url": "sqlite:///elsewhere.db",
        "spool_dir": "elsewhere-spool",
        "hardware_class_attribute": "hw",
        "log_level": "debug",
        "ingest_tokens": "a,b",
        "admin_tokens": "c",
        "latency_max_pool_s": "600",
    }
    defaults = Config()
    environ = {}
    for setting in SETTINGS:
        default = getattr(getattr(defaults, setting.section) if setting.section else defaults, setting.key)
        if setting.key in samples:
            environ[setting.env_var] = samples[setting.key]
        elif isinstance(default, bool):
            environ[setting.env_var] = "false" if default else "true"
        else:
            environ[setting.env_var] = "9" if default == 7 else "7"
    config = load_config({}, environ=environ)
    for setting in SETTINGS:
        section = getattr(config, setting.section) if setting.section else config
        expected = setting.parse(environ[setting.env_var])
        default = getattr(getattr(defaults, setting.section) if setting.section else defaults, setting.key)
        assert expected != default, f"pick a non-default sample for {setting.key}"
        assert getattr(section, setting.key) == expected, setting.key
