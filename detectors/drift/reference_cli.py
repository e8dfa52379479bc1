"""`inferwatch reference set|list`: the drift references that streaming drift detection compares windows with.

The composition root's CLI mounts these with ``add_reference_commands``; each handler takes the parsed
arguments and the resolved database URL and returns an exit status.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from collector.core.cli_args import add_db_flags, parse_since
from collector.core.storage.engine import create_engine_for
from detectors.drift.store import (
    DEFAULT_REFERENCE,
    ReferenceInfo,
    fit_from_file,
    fit_from_range,
    list_references,
    save_reference,
)


def add_reference_commands(commands: Any) -> None:
    """Add ``reference set`` and ``reference list``; each gets the shared --db-url and --config."""
    reference = commands.add_parser(
        "reference",
        help="drift references: what each model version's windows are compared with",
        description="Drift references. A model version with a reference named 'default' is checked for data, "
        "prediction, multivariate and performance drift on every detector pass.",
    )
    reference_commands = reference.add_subparsers(dest="reference_command", metavar="COMMAND", required=True)
    setting = reference_commands.add_parser(
        "set",
        help="fit and store a reference from recorded predictions or a training-data file",
        description="Fit a reference once and store it: from the version's recorded predictions in [--from, --to) "
        "(sampled evenly down to 200,000 rows; the model's performance there is kept when outcomes are known), or "
        "from a CSV or Parquet file of training data whose columns are the features. Setting a reference again "
        "replaces it.",
    )
    setting.add_argument("--model", required=True, help="model name, as in ml.model.name")
    setting.add_argument("--version", required=True, help="model version, as in ml.model.version")
    setting.add_argument("--from", dest="start", type=parse_since, help="start: ISO 8601 time or 7d, 12h ago")
    setting.add_argument("--to", dest="end", type=parse_since, help="end (exclusive): ISO 8601 time or 1h ago")
    setting.add_argument("--file", type=Path, help="a CSV or Parquet file of training data instead of a time range")
    setting.add_argument(
        "--categorical", default="", help="with --file: comma-separated columns to treat as categorical"
    )
    setting.add_argument("--name", default=DEFAULT_REFERENCE, help="reference name (default: default, the one used)")
    setting.set_defaults(feature_handler=cmd_reference_set)
    listing = reference_commands.add_parser(
        "list", help="list stored references", description="List stored references, newest first."
    )
    listing.add_argument("--model", help="only this model")
    listing.add_argument("--version", help="only this version")
    listing.set_defaults(feature_handler=cmd_reference_list)
    for parser in (setting, listing):
        add_db_flags(parser)
        parser.add_argument("--json", action="store_true", help="print one JSON document on stdout")


def reference_to_json(info: ReferenceInfo) -> dict[str, Any]:
    """A stored reference as a JSON object."""
    return {
        "model": info.model_name,
        "version": info.model_version,
        "name": info.name,
        "source": info.source,
        "range_start": info.range_start.isoformat() if info.range_start else None,
        "range_end": info.range_end.isoformat() if info.range_end else None,
        "source_path": info.source_path,
        "row_count": info.row_count,
        "features": list(info.features),
        "created_at": info.created_at.isoformat(),
    }


def _describe(info: ReferenceInfo) -> str:
    where = (
        info.source_path
        if info.source == "file"
        else f"{info.range_start:%Y-%m-%d %H:%M} .. {info.range_end:%Y-%m-%d %H:%M} UTC"
    )
    return (
        f"{info.model_name} {info.model_version} [{info.name}]: {info.row_count} rows from {where}; "
        f"{len(info.features)} columns"
    )


def cmd_reference_set(args: argparse.Namespace, db_url: str) -> int:
    """Fit and store a reference; exit 2 on a bad combination of options, a file it cannot read, or a range with
    nothing to fit (running it again unchanged cannot succeed)."""
    has_range = args.start is not None or args.end is not None
    if (args.file is None) == (not has_range) or (has_range and (args.start is None or args.end is None)):
        print("inferwatch reference set: give either --from and --to, or --file", file=sys.stderr)
        return 2
    engine = create_engine_for(db_url)
    try:
        try:
            if args.file is not None:
                categorical = [name.strip() for name in args.categorical.split(",") if name.strip()]
                fitted = fit_from_file(args.file, categorical)
            else:
                fitted = fit_from_range(engine, args.model, args.version, start=args.start, end=args.end)
        except ValueError as error:
            print(f"inferwatch reference set: {error}", file=sys.stderr)
            return 2
        info = save_reference(
            engine,
            args.model,
            args.version,
            fitted,
            name=args.name,
            range_start=args.start,
            range_end=args.end,
            source_path=str(args.file.resolve()) if args.file is not None else None,
        )
    finally:
        engine.dispose()
    _print(args, {"reference": reference_to_json(info)}, "stored " + _describe(info))
    return 0


def cmd_reference_list(args: argparse.Namespace, db_url: str) -> int:
    """Print stored references."""
    engine = create_engine_for(db_url)
    try:
        found = list_references(engine, args.model, args.version)
    finally:
        engine.dispose()
    text = "\n".join(_describe(info) for info in found) or "no references"
    _print(args, {"references": [reference_to_json(info) for info in found]}, text)
    return 0


def _print(args: argparse.Namespace, document: dict[str, Any], text: str) -> None:
    print(json.dumps(document, indent=2) if args.json else text)
