"""`inferwatch rightsize`: the command-line side of right-sizing.

The composition root's CLI mounts it with ``add_commands`` and calls the handler with the parsed arguments,
the database URL and a ``RightsizeContext`` built from the configuration (SLOs, prices, ``[rightsize]``).
"""

from __future__ import annotations

import argparse
import json
from dataclasses import replace
from typing import Any

from collector.core.cli_args import add_db_flags, parse_since
from collector.core.storage.engine import create_engine_for
from rightsize.settings import RightsizeContext


def _fraction(raw: str) -> float:
    try:
        value = float(raw)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number in [0, 1), got {raw!r}") from None
    if not 0 <= value < 1:
        raise argparse.ArgumentTypeError(f"expected a number in [0, 1), got {raw!r}")
    return value


def _count(raw: str) -> int:
    if not raw.isdigit() or int(raw) < 1:
        raise argparse.ArgumentTypeError(f"expected a whole number >= 1, got {raw!r}")
    return int(raw)


def add_commands(commands: Any) -> None:
    """Add ``rightsize`` to the top-level subcommands."""
    parser = commands.add_parser(
        "rightsize",
        help="the cheapest hardware, replicas and batching that meet the SLO at the traffic observed",
        description="Size how a model is served from its observed traffic (60-second rollups), its latency SLO "
        "([slo.<model>]), the prices ([pricing.hardware]) and the batch curves its shadow runs measured: for "
        "every hardware class, safe variant, max batch size and batching delay, the fewest replicas that serve "
        "the peak with headroom under the SLO, and what they cost a month. Keeps today's setup unless an option "
        "is cheaper by more than the margin at its bound. Exits 2 naming what is missing (SLO, prices, traffic, "
        "measurements).",
    )
    parser.add_argument("--model", required=True, help="model name, as in ml.model.name")
    parser.add_argument("--version", help="only this version's traffic and shadow runs (default: every version)")
    parser.add_argument(
        "--since", type=parse_since, default="14d", help="traffic window: 14d, 36h, or an ISO time (default 14d)"
    )
    parser.add_argument(
        "--replicas", type=_count, help="replicas serving the model today ([rightsize.replicas]; default: assumed)"
    )
    parser.add_argument("--hardware", help="hardware class serving it today (default: the class its spans name)")
    parser.add_argument("--headroom", type=_fraction, help="spare capacity at the peak ([rightsize] headroom, 0.3)")
    parser.add_argument("--margin", type=_fraction, help="saving needed to switch ([rightsize] margin, 0.1)")
    add_db_flags(parser)
    parser.add_argument("--json", action="store_true", help="print one JSON document on stdout")
    parser.set_defaults(feature_handler=cmd_rightsize)


def cmd_rightsize(args: argparse.Namespace, db_url: str, context: RightsizeContext) -> int:
    """Right-size one model and print the answer."""
    from rightsize.advisor import rightsize_with
    from rightsize.report import to_json, to_text

    settings = context.settings
    overrides = {"headroom": args.headroom, "margin": args.margin}
    settings = replace(settings, **{key: value for key, value in overrides.items() if value is not None})
    engine = create_engine_for(db_url)
    try:
        result = rightsize_with(
            engine,
            context,
            args.model,
            model_version=args.version,
            since=args.since,
            settings=settings,
            replicas=args.replicas,
            hardware_class=args.hardware,
        )
    finally:
        engine.dispose()
    print(json.dumps(to_json(result), indent=2, allow_nan=False) if args.json else to_text(result))
    return 0
