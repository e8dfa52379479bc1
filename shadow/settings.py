"""The ``[shadow]`` section of ``inferwatch.toml``: margins, sequential looks and the prices runs use.

Read once by the composition root and the CLI, with the ``[pricing]`` section parsed by the kernel's
``collector.core.pricing``, and passed down explicitly::

    [shadow]
    min_agreement_lower_bound = 0.99   # switch only if the agreement lower bound is at least this
    max_accuracy_loss_points = 0.5     # ... or the accuracy-loss upper bound (points) is at most this
    max_regression_error = 0.05        # regressors: MAE upper bound / baseline std
    min_improvement = 0.10             # latency or cost must improve by at least this fraction
    confidence = 0.95                  # of every bound, before the correction for looks and variants
    min_requests = 30                  # no quality verdict on fewer replayed requests
    looks = 4                          # sequential looks at the data
    early_stop = true                  # stop once every variant's answer is clear
    slice_by = ["country"]             # also judge quality per value of these prediction features/attributes
    executor = "ray"                   # where replays run: "local" (default, in this process) or "ray"
    ray_address = "ray://head:10001"   # the Ray cluster to join (default: RAY_ADDRESS, else a local one)
    lease_s = 60                       # a run whose replica has not said it is alive for this long is taken over
    max_interruptions = 3              # a run taken over this often (its replica died each time) fails

    [shadow.provider_hardware]         # the hardware class a run on another execution provider is priced by
    CUDAExecutionProvider = "nvidia-t4"   # default: the GPU nvidia-smi names; unknown means no gain is claimed
"""

from __future__ import annotations

import importlib.util
import math
import re
from collections.abc import Mapping
from dataclasses import dataclass, field, fields, replace
from types import MappingProxyType
from typing import Any, Final, Literal

from collector.core.errors import ConfigError
from collector.core.pricing import Pricing
from shadow.recommend import Margins

_MARGIN_KEYS = frozenset(f.name for f in fields(Margins))
_KEYS = _MARGIN_KEYS | {
    "looks",
    "early_stop",
    "provider_hardware",
    "slice_by",
    "executor",
    "ray_address",
    "lease_s",
    "max_interruptions",
}
Executor = Literal["local", "ray"]
EXECUTORS: Final[tuple[Executor, ...]] = ("local", "ray")
# What ray.init accepts as an address: "auto", "local", a Ray Client URL or the head's GCS host:port.
_RAY_ADDRESS = re.compile(r"^(auto|local|ray://[^\s/:]+:\d{1,5}|[^\s/:]+:\d{1,5})$")
RAY_MISSING: Final = (
    '[shadow] executor = "ray" needs Ray, which is not installed: pip install "inferwatch[ray]" '
    '(or set executor = "local")'
)


@dataclass(frozen=True)
class ShadowSettings:
    """What every shadow run of this process starts from; requests and flags may override parts of it."""

    margins: Margins = field(default_factory=Margins)
    looks: int = 4
    early_stop: bool = True
    # $/hour per hardware class, so each variant is priced by its own class.
    prices: Mapping[str, float] = field(default_factory=lambda: dict(Pricing().hardware))
    # Execution provider -> hardware class, for variants that run off the baseline's CPU.
    provider_hardware: Mapping[str, str] = field(default_factory=dict)
    # Prediction features or attributes whose values are slices that quality is judged on too.
    slice_by: tuple[str, ...] = ()
    # Where replays run: in this process, or on a Ray cluster with one worker per hardware class.
    executor: Executor = "local"
    # The cluster to join with executor "ray"; None: RAY_ADDRESS, else Ray starts a one-node cluster here.
    ray_address: str | None = None
    # A run's lease: its replica refreshes the heartbeat every lease_s / 4; after lease_s without one, any
    # replica takes the run over. A run taken over max_interruptions times fails instead.
    lease_s: float = 60.0
    max_interruptions: int = 3

    def __post_init__(self) -> None:
        if self.looks <= 0:
            raise ValueError(f"`looks` must be > 0, got {self.looks}")
        if not (math.isfinite(self.lease_s) and self.lease_s >= 1):
            raise ValueError(f"`lease_s` must be at least 1 second, got {self.lease_s}")
        if self.max_interruptions < 1:
            raise ValueError(f"`max_interruptions` must be >= 1, got {self.max_interruptions}")
        if self.executor not in EXECUTORS:
            raise ValueError(f"`executor` must be one of {', '.join(EXECUTORS)}, got {self.executor!r}")
        # Read-only, so one settings object can be shared by every run thread.
        object.__setattr__(self, "prices", MappingProxyType(dict(self.prices)))
        object.__setattr__(self, "provider_hardware", MappingProxyType(dict(self.provider_hardware)))

    def with_margins(self, **overrides: float | int | None) -> ShadowSettings:
        """A copy with the given margins replaced; None (an unset flag or a zero proto field) keeps the setting."""
        given: dict[str, Any] = {name: value for name, value in overrides.items() if value is not None}
        return replace(self, margins=replace(self.margins, **given)) if given else self


def _number(key: str, value: object, *, integer: bool = False) -> float | int:
    """A TOML number (bool refused, although Python counts it as an int)."""
    if isinstance(value, bool) or not isinstance(value, int | float) or (integer and not isinstance(value, int)):
        kind = "an integer" if integer else "a number"
        raise ConfigError(f"[shadow] {key} must be {kind}, got {value!r}")
    if not math.isfinite(value):
        raise ConfigError(f"[shadow] {key} must be finite, got {value!r}")
    return value


def provider_hardware_entry(provider: object, hardware: object) -> tuple[str, str]:
    """One execution provider and the hardware class its runs are priced by, checked; ValueError says why.

    Shared by ``[shadow.provider_hardware]`` and ``shadow run --provider-hardware``.
    """
    name = str(provider).strip()
    if not name.endswith("ExecutionProvider"):
        raise ValueError(f'{provider!r} is not an execution provider name (e.g. "CUDAExecutionProvider")')
    if not isinstance(hardware, str) or not hardware.strip():
        raise ValueError(f"{name} must name a hardware class, got {hardware!r}")
    return name, hardware.strip()


def _provider_hardware(table: object) -> dict[str, str]:
    """``[shadow.provider_hardware]``: execution provider names to hardware class names, both non-empty text."""
    if not isinstance(table, Mapping):
        raise ConfigError(f"[shadow.provider_hardware] must be a table, got {table!r}")
    try:
        return dict(provider_hardware_entry(provider, hardware) for provider, hardware in table.items())
    except ValueError as error:
        raise ConfigError(f"[shadow.provider_hardware] {error}") from None


def ray_installed() -> bool:
    """Whether Ray can be imported here, found without importing it (that takes a second)."""
    try:
        return importlib.util.find_spec("ray") is not None
    except (ImportError, ValueError):  # an import hook that refuses it, or a half-removed module
        return False


def _executor(section: Mapping[str, Any]) -> tuple[Executor, str | None]:
    """``executor`` and ``ray_address``, checked; Ray must be installed when it is asked for."""
    executor = section.get("executor", "local")
    if executor not in EXECUTORS:
        raise ConfigError(f"[shadow] executor must be one of {', '.join(map(repr, EXECUTORS))}, got {executor!r}")
    address = section.get("ray_address")
    if address is not None:
        if not isinstance(address, str) or not _RAY_ADDRESS.match(address.strip()):
            raise ConfigError(f'[shadow] ray_address must be "auto", "HOST:PORT" or "ray://HOST:PORT", got {address!r}')
        if executor != "ray":
            # A cluster address that is silently ignored would run every replay here instead.
            raise ConfigError(f'[shadow] ray_address {address!r} is set but executor is {executor!r}, not "ray"')
        address = address.strip()
    if executor == "ray" and not ray_installed():
        raise ConfigError(RAY_MISSING)
    return executor, address


def parse_shadow_section(section: Mapping[str, Any], pricing: Pricing | None = None) -> ShadowSettings:
    """The ``[shadow]`` table (and the hardware prices of ``[pricing]``); a bad key or value raises ConfigError."""
    if not isinstance(section, Mapping):
        raise ConfigError(f"[shadow] must be a table, got {section!r}")
    unknown = set(section) - _KEYS
    if unknown:
        raise ConfigError(
            f"[shadow] has unknown key(s): {', '.join(sorted(map(str, unknown)))} (known: {', '.join(sorted(_KEYS))})"
        )
    margins: dict[str, float | int] = {}
    for key in sorted(_MARGIN_KEYS & set(section)):
        margins[key] = _number(key, section[key], integer=key == "min_requests")
    looks = _number("looks", section.get("looks", 4), integer=True)
    early_stop = section.get("early_stop", True)
    if not isinstance(early_stop, bool):
        raise ConfigError(f"[shadow] early_stop must be true or false, got {early_stop!r}")
    prices = dict((pricing or Pricing()).hardware)
    provider_hardware = _provider_hardware(section.get("provider_hardware", {}))
    slice_by = section.get("slice_by", [])
    if not isinstance(slice_by, list) or not all(isinstance(name, str) and name.strip() for name in slice_by):
        raise ConfigError(f"[shadow] slice_by must be a list of feature or attribute names, got {slice_by!r}")
    executor, ray_address = _executor(section)
    lease_s = _number("lease_s", section.get("lease_s", 60.0))
    max_interruptions = _number("max_interruptions", section.get("max_interruptions", 3), integer=True)
    try:
        return ShadowSettings(
            Margins(**margins),  # type: ignore[arg-type]
            int(looks),
            early_stop,
            prices,
            provider_hardware,
            tuple(name.strip() for name in slice_by),
            executor,
            ray_address,
            float(lease_s),
            int(max_interruptions),
        )
    except ValueError as error:
        # Margins and settings name the offending field; the file's section is added for the reader.
        raise ConfigError(f"[shadow] {error}") from None
