"""The latency detector's settings: in the registry, so `serve` and `config show` read and check them alike."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from collector.cli.commands import main
from collector.core.config import load_config
from collector.core.errors import ConfigError


def test_the_file_sets_the_latency_minimum_and_pool(tmp_path: Path) -> None:
    """[detectors] latency_min_requests and latency_max_pool_s reach the config."""
    (tmp_path / "inferwatch.toml").write_text("[detectors]\nlatency_min_requests = 50\nlatency_max_pool_s = 900\n")
    config = load_config({}, environ={}, cwd=tmp_path)
    assert config.detectors.latency_min_requests == 50
    assert config.detectors.latency_max_pool_s == 900


@pytest.mark.parametrize(
    ("key", "value", "reason"),
    [
        ("latency_min_requests", "0", "must be > 0"),
        ("latency_max_pool_s", "30", "must be >= 60"),
        ("latency_max_pool_s", "an hour", "invalid literal"),
    ],
)
def test_bad_latency_settings_name_the_key_and_value(key: str, value: str, reason: str) -> None:
    """A bad value stops start-up naming the key, where it came from, and the value."""
    with pytest.raises(ConfigError, match=rf"detectors\.{key} from env INFERWATCH_{key.upper()}: '{value}': {reason}"):
        load_config({}, environ={f"INFERWATCH_{key.upper()}": value})


def test_config_show_checks_and_prints_them(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """`config show` prints both with their source, and exits 2 for a value `serve` would refuse."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("INFERWATCH_LATENCY_MIN_REQUESTS", "5")
    assert main(["config", "show", "--json"]) == 0
    rows = {row["key"]: row for row in json.loads(capsys.readouterr().out)["settings"]}
    assert rows["detectors.latency_min_requests"]["value"] == 5
    assert rows["detectors.latency_min_requests"]["source"] == "env INFERWATCH_LATENCY_MIN_REQUESTS"
    assert rows["detectors.latency_max_pool_s"] == {
        "key": "detectors.latency_max_pool_s",
        "env": "INFERWATCH_LATENCY_MAX_POOL_S",
        "value": 3600,
        "source": "default",
    }
    monkeypatch.setenv("INFERWATCH_LATENCY_MAX_POOL_S", "10")
    assert main(["config", "show"]) == 2
    assert "detectors.latency_max_pool_s" in capsys.readouterr().err
