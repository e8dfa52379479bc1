"""Prices and the rule that turns a model's usage into dollars (kernel: detectors and shadow both price).

The rule, one model at a time:

- a model with a token price (``[pricing.tokens."<model>"]``) costs
  ``input_tokens * input_per_million / 1e6 + output_tokens * output_per_million / 1e6``: the provider bills
  tokens, whatever hardware it runs on;
- any other model costs its busy time (the sum of its inference spans' durations) times the hourly price of
  the hardware class its spans name (``[pricing.hardware]``): a self-hosted replica is paid for by the hour,
  and busy time is the share of that hour the model used. Idle time is not attributed to anyone;
- a self-hosted model whose hardware class has no price (or names none) is *unpriced*: it costs nothing
  and is counted, so a report can say how much traffic it could not price, instead of failing.

Configured in ``inferwatch.toml``::

    [pricing.hardware]           # $ per hour; adds to or overrides the defaults below
    cpu = 0.10
    nvidia-h100 = 6.88
    my-tpu = 4.20

    [pricing.hardware.nvidia-l4]  # the table form, when a class also has a spot (preemptible) price
    per_hour = 0.805
    spot_per_hour = 0.32         # right-sizing offers it as an option, marked with its interruption risk

    [pricing.tokens."gpt-4o"]    # $ per million tokens
    input_per_million = 2.5
    output_per_million = 10.0
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

from collector.core.errors import ConfigError

NANOS_PER_HOUR = 3600 * 1_000_000_000

# Defaults to override, not a quote: approximate public on-demand list prices (AWS us-east-1, 2025) of the
# smallest instance with one such device, per hour: m7i.large (2 vCPU) for cpu, g4dn.xlarge, g5.xlarge,
# g6.xlarge, and a p5.48xlarge divided by its 8 GPUs. Your own contract or cloud is what counts.
DEFAULT_HARDWARE_USD_PER_HOUR: Mapping[str, float] = MappingProxyType(
    {
        "cpu": 0.10,
        "nvidia-t4": 0.526,
        "nvidia-a10g": 1.006,
        "nvidia-l4": 0.805,
        "nvidia-h100": 6.88,
    }
)


def _check_price(name: str, value: object) -> float:
    """A price is a finite number >= 0; bool is refused although Python counts it as an int."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ValueError(f"`{name}` must be a number, got {value!r}")
    if not math.isfinite(value) or value < 0:
        raise ValueError(f"`{name}` must be a finite number >= 0, got {value!r}")
    return float(value)


@dataclass(frozen=True)
class TokenPrice:
    """What a token-priced model costs, in $ per million input and output tokens."""

    input_per_million: float = 0.0
    output_per_million: float = 0.0

    def __post_init__(self) -> None:
        _check_price("input_per_million", self.input_per_million)
        _check_price("output_per_million", self.output_per_million)


@dataclass(frozen=True)
class Cost:
    """The dollars of some usage, split by what was paid for; ``priced`` is False when no price applied."""

    input_usd: float = 0.0
    output_usd: float = 0.0
    compute_usd: float = 0.0
    priced: bool = True

    @property
    def total_usd(self) -> float:
        """All of it."""
        return self.input_usd + self.output_usd + self.compute_usd


UNPRICED = Cost(priced=False)


@dataclass(frozen=True)
class Pricing:
    """Hardware classes in $/hour and token prices per model; read-only once built."""

    hardware: Mapping[str, float] = field(default_factory=lambda: DEFAULT_HARDWARE_USD_PER_HOUR)
    tokens: Mapping[str, TokenPrice] = field(default_factory=dict)
    # Spot or preemptible $/hour, for the classes that have one; only right-sizing reads it.
    spot: Mapping[str, float] = field(default_factory=dict)

    def __post_init__(self) -> None:
        for name, price in self.hardware.items():
            _check_price(f"hardware.{name}", price)
        for name, price in self.spot.items():
            _check_price(f"hardware.{name}.spot_per_hour", price)
            if name not in self.hardware:
                raise ValueError(f"`hardware.{name}` has a spot price but no on-demand price")
        for model, token_price in self.tokens.items():
            if not isinstance(token_price, TokenPrice):
                raise ValueError(f"`tokens.{model}` must be a TokenPrice, got {token_price!r}")
        # Frozen all the way down, so options holding a Pricing can be shared between threads.
        object.__setattr__(self, "hardware", MappingProxyType(dict(self.hardware)))
        object.__setattr__(self, "tokens", MappingProxyType(dict(self.tokens)))
        object.__setattr__(self, "spot", MappingProxyType(dict(self.spot)))

    def is_token_priced(self, model_name: str) -> bool:
        """Whether the model is billed by tokens rather than by busy time."""
        return model_name in self.tokens

    def cost(self, model_name: str, hardware_class: str, busy_ns: int, input_tokens: int, output_tokens: int) -> Cost:
        """The attribution rule of the module docstring, for one model's usage on one hardware class."""
        token_price = self.tokens.get(model_name)
        if token_price is not None:
            return Cost(
                input_usd=input_tokens * token_price.input_per_million / 1e6,
                output_usd=output_tokens * token_price.output_per_million / 1e6,
            )
        hourly = self.hardware.get(hardware_class)
        if hourly is None:
            return UNPRICED
        return Cost(compute_usd=busy_ns * hourly / NANOS_PER_HOUR)


# ``[pricing.anomaly]`` holds the cost anomaly thresholds; detectors.cost_anomaly reads it.
_SECTION_KEYS = frozenset(("hardware", "tokens", "anomaly"))
_TOKEN_KEYS = frozenset(("input_per_million", "output_per_million"))
_HARDWARE_TABLE_KEYS = frozenset(("per_hour", "spot_per_hour"))


def _table(value: object, where: str) -> Mapping[str, Any]:
    if not isinstance(value, Mapping):
        raise ConfigError(f"{where} must be a table, got {value!r}")
    return value


def parse_pricing_section(section: Mapping[str, Any]) -> Pricing:
    """The ``[pricing]`` table of the config file; a bad entry raises ConfigError naming its key and value.

    Hardware prices are added to the defaults (a name that is already there is overridden), so a user only
    writes what differs.
    """
    section = _table(section, "[pricing]")
    unknown = set(section) - _SECTION_KEYS
    if unknown:
        names = ", ".join(sorted(unknown))
        raise ConfigError(f"[pricing] has unknown key(s): {names} (expected hardware, tokens, anomaly)")
    hardware = dict(DEFAULT_HARDWARE_USD_PER_HOUR)
    spot: dict[str, float] = {}
    for name, value in _table(section.get("hardware", {}), "[pricing.hardware]").items():
        try:
            if isinstance(value, Mapping):
                _hardware_table(str(name), value, hardware, spot)
            else:
                hardware[str(name)] = _check_price(f"[pricing.hardware] {name}", value)
        except ValueError as error:
            raise ConfigError(str(error)) from None
    tokens: dict[str, TokenPrice] = {}
    for model, raw_table in _table(section.get("tokens", {}), "[pricing.tokens]").items():
        where = f'[pricing.tokens."{model}"]'
        table = _table(raw_table, where)
        unknown = set(table) - _TOKEN_KEYS
        if unknown or not table:
            raise ConfigError(
                f"{where} needs input_per_million and/or output_per_million, got key(s): "
                f"{', '.join(sorted(map(str, table))) or 'none'}"
            )
        try:
            prices = {key: _check_price(f"{where} {key}", value) for key, value in table.items()}
        except ValueError as error:
            raise ConfigError(str(error)) from None
        tokens[str(model)] = TokenPrice(**prices)
    return Pricing(hardware=hardware, tokens=tokens, spot=spot)


def _hardware_table(name: str, table: Mapping[str, Any], hardware: dict[str, float], spot: dict[str, float]) -> None:
    """``[pricing.hardware.<name>]``: ``per_hour`` (on demand; default: the built-in price) and ``spot_per_hour``."""
    where = f"[pricing.hardware.{name}]"
    unknown = set(table) - _HARDWARE_TABLE_KEYS
    if unknown or not table:
        raise ValueError(
            f"{where} takes per_hour and/or spot_per_hour, got key(s): {', '.join(sorted(map(str, table))) or 'none'}"
        )
    if "per_hour" in table:
        hardware[name] = _check_price(f"{where} per_hour", table["per_hour"])
    elif name not in hardware:
        raise ValueError(f"{where} needs per_hour (the on-demand $/hour): {name} has no built-in price")
    if "spot_per_hour" in table:
        spot[name] = _check_price(f"{where} spot_per_hour", table["spot_per_hour"])
