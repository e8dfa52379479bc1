"""The price table and the attribution rule: known answers, and config mistakes named by key and value."""

from __future__ import annotations

import pytest

from collector.core.errors import ConfigError
from collector.core.pricing import (
    DEFAULT_HARDWARE_USD_PER_HOUR,
    NANOS_PER_HOUR,
    UNPRICED,
    Cost,
    Pricing,
    TokenPrice,
    parse_pricing_section,
)


def test_defaults_cover_the_named_hardware_classes() -> None:
    """cpu, T4, A10G, L4 and H100 have an hourly price out of the box."""
    assert set(DEFAULT_HARDWARE_USD_PER_HOUR) == {"cpu", "nvidia-t4", "nvidia-a10g", "nvidia-l4", "nvidia-h100"}
    assert Pricing().hardware["nvidia-l4"] == pytest.approx(0.805)


def test_self_hosted_cost_is_busy_time_times_hourly_price() -> None:
    """Half an hour busy on a $2/h class costs $1, all of it compute."""
    pricing = Pricing(hardware={"gpu": 2.0})
    cost = pricing.cost("fraud", "gpu", NANOS_PER_HOUR // 2, input_tokens=999, output_tokens=999)
    assert cost == Cost(compute_usd=1.0)
    assert cost.total_usd == pytest.approx(1.0)


def test_token_priced_cost_is_tokens_times_price_whatever_the_hardware() -> None:
    """2M input at $2.5/M and 0.5M output at $10/M: $5 in, $5 out, busy time ignored."""
    pricing = Pricing(hardware={"gpu": 2.0}, tokens={"gpt-4o": TokenPrice(2.5, 10.0)})
    cost = pricing.cost("gpt-4o", "gpu", NANOS_PER_HOUR, input_tokens=2_000_000, output_tokens=500_000)
    assert (cost.input_usd, cost.output_usd, cost.compute_usd) == pytest.approx((5.0, 5.0, 0.0))
    assert cost.priced
    assert pricing.is_token_priced("gpt-4o")
    assert not pricing.is_token_priced("fraud")


def test_unknown_hardware_is_unpriced_not_an_error() -> None:
    """A class without a price (or no class at all) costs nothing and says so."""
    pricing = Pricing()
    assert pricing.cost("fraud", "tpu-v9", NANOS_PER_HOUR, 0, 0) is UNPRICED
    assert pricing.cost("fraud", "", NANOS_PER_HOUR, 0, 0).priced is False


def test_parse_adds_to_and_overrides_the_defaults() -> None:
    """A user writes only what differs: new classes are added, known ones replaced, the rest kept."""
    pricing = parse_pricing_section(
        {
            "hardware": {"cpu": 0.2, "my-tpu": 4},
            "tokens": {
                "gpt-4o": {"input_per_million": 2.5, "output_per_million": 10},
                "embed": {"input_per_million": 0.02},
            },
        }
    )
    assert pricing.hardware["cpu"] == 0.2
    assert pricing.hardware["my-tpu"] == 4.0
    assert pricing.hardware["nvidia-h100"] == DEFAULT_HARDWARE_USD_PER_HOUR["nvidia-h100"]
    assert pricing.tokens["gpt-4o"] == TokenPrice(2.5, 10.0)
    assert pricing.tokens["embed"] == TokenPrice(0.02, 0.0)
    assert parse_pricing_section({}) == Pricing()


@pytest.mark.parametrize(
    ("section", "message"),
    [
        ({"hardware": {"cpu": -1}}, r"`\[pricing.hardware\] cpu` must be a finite number >= 0, got -1"),
        ({"hardware": {"cpu": "cheap"}}, r"`\[pricing.hardware\] cpu` must be a number, got 'cheap'"),
        ({"hardware": {"cpu": True}}, r"`\[pricing.hardware\] cpu` must be a number, got True"),
        ({"hardware": {"cpu": float("nan")}}, r"`\[pricing.hardware\] cpu` must be a finite number >= 0, got nan"),
        (
            {"tokens": {"gpt-4o": {"input_per_million": -2}}},
            r'`\[pricing.tokens."gpt-4o"\] input_per_million` must be a finite number >= 0, got -2',
        ),
        ({"tokens": {"gpt-4o": {"input": 2}}}, r'\[pricing.tokens."gpt-4o"\] needs .* got key\(s\): input'),
        ({"tokens": {"gpt-4o": {}}}, r'\[pricing.tokens."gpt-4o"\] needs .* got key\(s\): none'),
        ({"tokens": {"gpt-4o": 3}}, r'\[pricing.tokens."gpt-4o"\] must be a table, got 3'),
        ({"hardware": 3}, r"\[pricing.hardware\] must be a table, got 3"),
        ({"gpus": {}}, r"\[pricing\] has unknown key\(s\): gpus"),
    ],
)
def test_parse_names_the_bad_key_and_value(section: dict[str, object], message: str) -> None:
    """Every mistake stops start-up with the key and the value that is wrong."""
    with pytest.raises(ConfigError, match=message):
        parse_pricing_section(section)


def test_pricing_is_read_only() -> None:
    """The tables cannot be changed behind the scheduler's back once built."""
    pricing = Pricing(hardware={"cpu": 1.0})
    with pytest.raises(TypeError):
        pricing.hardware["cpu"] = 0.0  # type: ignore[index]
    with pytest.raises(ValueError, match=r"`input_per_million` must be a finite number >= 0, got -1"):
        TokenPrice(-1.0)


def test_a_hardware_table_gives_an_on_demand_and_a_spot_price() -> None:
    """[pricing.hardware.<class>] per_hour and spot_per_hour; per_hour may be left to the built-in price."""
    pricing = parse_pricing_section(
        {"hardware": {"nvidia-t4": {"spot_per_hour": 0.2}, "my-gpu": {"per_hour": 2.0, "spot_per_hour": 0.7}}}
    )
    assert pricing.hardware["nvidia-t4"] == 0.526
    assert dict(pricing.spot) == {"nvidia-t4": 0.2, "my-gpu": 0.7}
    assert pricing.hardware["my-gpu"] == 2.0


@pytest.mark.parametrize(
    ("table", "named"),
    [
        ({"my-gpu": {"spot_per_hour": 0.5}}, "[pricing.hardware.my-gpu] needs per_hour"),
        ({"cpu": {"spot": 0.05}}, "[pricing.hardware.cpu] takes per_hour and/or spot_per_hour, got key(s): spot"),
        ({"cpu": {"spot_per_hour": -1}}, "[pricing.hardware.cpu] spot_per_hour"),
    ],
)
def test_a_bad_hardware_table_names_its_key(table: dict[str, object], named: str) -> None:
    """A spot price without an on-demand one, an unknown key, a negative price: ConfigError naming it."""
    with pytest.raises(ConfigError) as error:
        parse_pricing_section({"hardware": table})
    assert named in str(error.value)
