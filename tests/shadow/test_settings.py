"""The [shadow] section: defaults, every key, overrides, and a ConfigError naming each bad key or value."""

from __future__ import annotations

import importlib.abc
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from collector.core.errors import ConfigError
from collector.core.pricing import parse_pricing_section
from shadow.recommend import Margins
from shadow.settings import RAY_MISSING, ShadowSettings, parse_shadow_section


def test_empty_section_gives_the_issue_defaults_and_default_prices() -> None:
    """No [shadow] table: 99% agreement bound, 0.5 points, 10% gain, four looks, early stop, default prices."""
    settings = parse_shadow_section({})
    assert settings.margins == Margins()
    assert (settings.margins.min_agreement_lower_bound, settings.margins.max_accuracy_loss_points) == (0.99, 0.5)
    assert (settings.looks, settings.early_stop) == (4, True)
    assert settings.prices["cpu"] == pytest.approx(0.10)


def test_every_key_is_read_and_prices_come_from_pricing() -> None:
    """Each key sets its field; [pricing.hardware] adds a class and overrides a default price."""
    section = {
        "min_agreement_lower_bound": 0.995,
        "max_accuracy_loss_points": 1,
        "max_regression_error": 0.02,
        "min_improvement": 0.2,
        "confidence": 0.9,
        "min_requests": 50,
        "looks": 2,
        "early_stop": False,
        "provider_hardware": {"CUDAExecutionProvider": "nvidia-l4"},
        "slice_by": ["country", " segment "],
    }
    pricing = parse_pricing_section({"hardware": {"cpu": 0.2, "my-npu": 0.05}})
    settings = parse_shadow_section(section, pricing)
    assert settings.margins == Margins(0.995, 1.0, 0.02, 0.2, 0.9, 50)
    assert (settings.looks, settings.early_stop) == (2, False)
    assert (settings.prices["cpu"], settings.prices["my-npu"]) == (0.2, 0.05)
    assert settings.prices["nvidia-t4"] == pytest.approx(0.526)
    assert dict(settings.provider_hardware) == {"CUDAExecutionProvider": "nvidia-l4"}
    assert settings.slice_by == ("country", "segment")
    leases = parse_shadow_section({"lease_s": 10, "max_interruptions": 5})
    assert (leases.lease_s, leases.max_interruptions) == (10.0, 5)
    assert (ShadowSettings().lease_s, ShadowSettings().max_interruptions) == (60.0, 3)


@pytest.mark.parametrize(
    ("section", "named"),
    [
        ({"min_agreement": 0.9}, "unknown key(s): min_agreement"),
        ({"min_agreement_lower_bound": 1.5}, "min_agreement_lower_bound"),
        ({"min_agreement_lower_bound": "high"}, "min_agreement_lower_bound must be a number, got 'high'"),
        ({"max_accuracy_loss_points": -1}, "max_accuracy_loss_points"),
        ({"min_improvement": 0}, "min_improvement"),
        ({"min_requests": 2.5}, "min_requests must be an integer"),
        ({"looks": 0}, "looks"),
        ({"looks": True}, "looks must be an integer"),
        ({"early_stop": "no"}, "early_stop must be true or false, got 'no'"),
        ({"confidence": float("nan")}, "confidence must be finite"),
        ({"provider_hardware": "nvidia-t4"}, "provider_hardware] must be a table"),
        ({"provider_hardware": {"CUDA": "nvidia-t4"}}, "'CUDA' is not an execution provider name"),
        ({"provider_hardware": {"CUDAExecutionProvider": ""}}, "CUDAExecutionProvider must name a hardware class"),
        ({"slice_by": "country"}, "slice_by must be a list of feature or attribute names, got 'country'"),
        ({"slice_by": ["country", ""]}, "slice_by must be a list"),
        ({"lease_s": 0.5}, "[shadow] `lease_s` must be at least 1 second, got 0.5"),
        ({"lease_s": "60s"}, "lease_s must be a number, got '60s'"),
        ({"max_interruptions": 0}, "[shadow] `max_interruptions` must be >= 1, got 0"),
        ({"max_interruptions": 2.5}, "max_interruptions must be an integer"),
    ],
)
def test_bad_keys_and_values_raise_config_error_naming_them(section: dict[str, Any], named: str) -> None:
    """A misspelt key or a value out of range stops start-up with the section, key and value."""
    with pytest.raises(ConfigError, match=r"\[shadow[].]") as error:
        parse_shadow_section(section)
    assert named in str(error.value)


def test_overrides_replace_only_what_is_given() -> None:
    """None keeps the configured margin (an unset flag or a zero proto field); a value replaces it."""
    settings = ShadowSettings(margins=Margins(min_agreement_lower_bound=0.95))
    assert settings.with_margins(min_agreement_lower_bound=None) is settings
    changed = settings.with_margins(min_improvement=0.3, max_accuracy_loss_points=None)
    assert (changed.margins.min_agreement_lower_bound, changed.margins.min_improvement) == (0.95, 0.3)
    with pytest.raises(ValueError, match="min_improvement"):
        settings.with_margins(min_improvement=2.0)


class _HideRay(importlib.abc.MetaPathFinder):
    """An import hook that makes Ray look uninstalled, as on a machine without the ``ray`` extra."""

    def find_spec(self, name: str, path: object = None, target: object = None) -> None:
        if name == "ray" or name.startswith("ray."):
            raise ModuleNotFoundError(f"No module named {name!r}", name=name)


# The same hook for a child process: a sitecustomize module on PYTHONPATH is imported at its start-up.
_SITECUSTOMIZE = """
import importlib.abc, sys

class HideRay(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name == "ray" or name.startswith("ray."):
            raise ModuleNotFoundError(f"No module named {name!r}", name=name)

sys.meta_path.insert(0, HideRay())
"""


def test_executor_and_ray_address_are_read() -> None:
    """Default local; "ray" with an address (auto, HOST:PORT, ray://HOST:PORT) when Ray is installed."""
    assert (parse_shadow_section({}).executor, parse_shadow_section({}).ray_address) == ("local", None)
    pytest.importorskip("ray")
    for address in ("auto", "10.0.0.5:6379", "ray://head.internal:10001"):
        settings = parse_shadow_section({"executor": "ray", "ray_address": f" {address} "})
        assert (settings.executor, settings.ray_address) == ("ray", address)
    assert parse_shadow_section({"executor": "ray"}).ray_address is None


@pytest.mark.parametrize(
    ("section", "named"),
    [
        ({"executor": "dask"}, "executor must be one of 'local', 'ray', got 'dask'"),
        ({"executor": True}, "executor must be one of"),
        ({"executor": "ray", "ray_address": "http://head:8265"}, "ray_address must be"),
        ({"executor": "ray", "ray_address": 6379}, "ray_address must be"),
        ({"ray_address": "head:6379"}, "ray_address 'head:6379' is set but executor is 'local'"),
    ],
)
def test_bad_executor_settings_name_the_key(section: dict[str, Any], named: str) -> None:
    """An unknown executor, a malformed address, or an address that a local executor would ignore."""
    if section.get("executor") == "ray":
        pytest.importorskip("ray")
    with pytest.raises(ConfigError, match=r"\[shadow\]") as error:
        parse_shadow_section(section)
    assert named in str(error.value)


def test_executor_ray_without_ray_installed_is_a_config_error(monkeypatch: pytest.MonkeyPatch) -> None:
    """Without the extra, executor = "ray" stops start-up saying what to install (an already imported Ray too)."""
    monkeypatch.delitem(sys.modules, "ray", raising=False)
    monkeypatch.setattr(sys, "meta_path", [_HideRay(), *sys.meta_path])
    with pytest.raises(ConfigError) as error:
        parse_shadow_section({"executor": "ray"})
    assert str(error.value) == RAY_MISSING
    assert 'pip install "inferwatch[ray]"' in RAY_MISSING
    assert parse_shadow_section({}).executor == "local"


@pytest.mark.parametrize("command", [["config", "show"], ["serve", "--grpc-addr", "127.0.0.1:0"]])
def test_serve_and_config_show_exit_2_when_ray_is_asked_for_but_missing(tmp_path: Path, command: list[str]) -> None:
    """The real command, with Ray hidden from its interpreter: exit 2 and the message on stderr, before serving."""
    hook = tmp_path / "hook"
    hook.mkdir()
    (hook / "sitecustomize.py").write_text(_SITECUSTOMIZE)
    config = tmp_path / "inferwatch.toml"
    config.write_text('[shadow]\nexecutor = "ray"\n')
    environment = {**os.environ, "PYTHONPATH": os.pathsep.join([str(hook), os.environ.get("PYTHONPATH", "")])}
    completed = subprocess.run(
        [
            sys.executable,
            "-m",
            "collector.cli",
            *command,
            "--config",
            str(config),
            "--db-url",
            f"sqlite:///{tmp_path / 'ray.db'}",
        ],
        cwd=tmp_path,
        env=environment,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert completed.returncode == 2, completed.stderr
    assert RAY_MISSING in completed.stderr


def test_config_show_prints_the_executor_and_address(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """`config show --json` reads [shadow] with the same check as serve, executor and address included."""
    pytest.importorskip("ray")
    from collector.cli import main

    config = tmp_path / "inferwatch.toml"
    config.write_text('[shadow]\nexecutor = "ray"\nray_address = "10.1.2.3:6379"\n')
    assert main(["config", "show", "--config", str(config), "--json"]) == 0
    shadow = json.loads(capsys.readouterr().out)["sections"]["shadow"]
    assert (shadow["executor"], shadow["ray_address"]) == ("ray", "10.1.2.3:6379")
