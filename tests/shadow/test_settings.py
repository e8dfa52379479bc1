"""The [shadow] section: defaults, every key, overrides, and a ConfigError naming each bad key or value."""

from __future__ import annotations

from typing import Any

import pytest

from collector.core.errors import ConfigError
from collector.core.pricing import parse_pricing_section
from shadow.recommend import Margins
from shadow.settings import ShadowSettings, parse_shadow_section


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
