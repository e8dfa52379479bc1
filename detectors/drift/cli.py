"""``inferwatch drift check``: compare two files offline and print a table or one JSON document.

Exit codes: 0 no drift, 1 drift detected (the dataset-level verdict), 2 bad input (unreadable file,
missing column, bad option) with the reason on stderr, 3 not enough data (nothing drifted, but at least one
feature had fewer than the minimum count of values on a side, so it was not judged). So ``drift check`` can
gate a CI job directly, and a gate fed a near-empty file does not pass silently.
"""

from __future__ import annotations

import argparse
import math
import sys
from pathlib import Path
from typing import Final, TextIO

import orjson

from detectors.drift.detectors import KSDrift
from detectors.drift.files import check_same_columns, read_table, release_memory
from detectors.drift.report_html import render_html
from detectors.drift.results import CORRECTIONS, DriftReport

EXIT_NO_DRIFT = 0
EXIT_DRIFT = 1
EXIT_BAD_INPUT = 2
EXIT_NOT_ENOUGH_DATA = 3
EXIT_CODES: Final = {"no_drift": EXIT_NO_DRIFT, "drift": EXIT_DRIFT, "not_enough_data": EXIT_NOT_ENOUGH_DATA}
# The verdict line names at most this many drifted features (largest effect first), then "and N more".
MAX_NAMED: Final = 5


def add_drift_commands(subparsers: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    """Add ``drift check`` to a CLI's subcommands; the handler is set as ``handler`` and returns the exit code."""
    drift = subparsers.add_parser("drift", help="data drift between two data sets", description=__doc__)
    commands = drift.add_subparsers(dest="drift_command", required=True)
    check = commands.add_parser(
        "check",
        help="compare a current data set with a reference (CSV or Parquet)",
        description=(
            "Test every column of REFERENCE against CURRENT: Kolmogorov-Smirnov and spread tests for numeric "
            "columns (numbers stored as text included), chi-square (rare values pooled) for text columns and "
            "numbers with <= 5 distinct values, nothing for identifiers (>= 95% distinct text), plus the "
            "missing-rate and unseen-value signals, corrected across all tests. Exit 0: no drift; 1: drift; "
            "2: bad input; 3: not enough data (nothing drifted, but some feature had too few values to judge)."
        ),
    )
    check.add_argument("--reference", required=True, type=Path, help="reference data (.csv, .parquet)")
    check.add_argument("--current", required=True, type=Path, help="current data (.csv, .parquet)")
    check.add_argument("--json", action="store_true", help="print one JSON document (schema inferwatch.drift/v1)")
    check.add_argument("--correction", choices=CORRECTIONS, default="bh", help="multiple-testing correction")
    check.add_argument("--alpha", type=float, default=0.05, help="significance level after correction (0.05)")
    check.add_argument("--columns", type=_names, default=None, help="comma-separated columns to test (default all)")
    check.add_argument("--categorical", type=_names, default=(), help="comma-separated columns to treat as categorical")
    check.add_argument(
        "--min-effect",
        type=float,
        default=0.0,
        help="also require a normalised Wasserstein of at least this for numeric drift (default 0: off)",
    )
    check.add_argument(
        "--report",
        type=Path,
        default=None,
        metavar="FILE.html",
        help="also write a self-contained HTML report: verdicts, statistics, a chart per feature",
    )
    check.set_defaults(handler=run_check)


def _names(text: str) -> tuple[str, ...]:
    names = tuple(name.strip() for name in text.split(",") if name.strip())
    if not names:
        raise argparse.ArgumentTypeError(f"expected comma-separated column names, got {text!r}")
    return names


def run_check(args: argparse.Namespace, out: TextIO | None = None, err: TextIO | None = None) -> int:
    """Run the check the parsed arguments describe; returns the exit code."""
    out, err = out or sys.stdout, err or sys.stderr
    try:
        reference = read_table(args.reference, args.columns)
        current = read_table(args.current, args.columns or list(reference))
        check_same_columns(reference, current, args.current)
        detector = KSDrift(
            alpha=args.alpha,
            correction=args.correction,
            categorical=[name for name in args.categorical if name in reference],
            min_effect=args.min_effect,
        )
        compared = {name: current[name] for name in reference}
        del current
        detector.fit(reference)
        del reference  # the fitted detector keeps what it needs (sorted values); the raw columns can go
        release_memory()
        report = detector.score(compared)
    except ValueError as error:
        print(f"inferwatch drift check: {error}", file=err)
        return EXIT_BAD_INPUT
    if args.report is not None:
        try:
            args.report.write_text(render_html(report, detector, compared), encoding="utf-8")
        except OSError as error:
            print(f"inferwatch drift check: {args.report}: cannot write the report: {error.strerror}", file=err)
            return EXIT_BAD_INPUT
    if args.json:
        out.write(orjson.dumps(report.to_dict(), option=orjson.OPT_INDENT_2).decode() + "\n")
    else:
        out.write(format_table(report))
    return EXIT_CODES[report.verdict]


def _number(value: float | None) -> str:
    if value is None or math.isnan(value):
        return "-"
    return f"{value:.3g}"


def format_table(report: DriftReport) -> str:
    """The human table: drifted features first, largest effect first, then the rest; then the verdict."""
    header = ("feature", "kind", "typed as", "method", "statistic", "p", "p adj", "effect", "threshold", "missing")
    rows = [(*header, "drift")]
    drifted = report.drifted
    for item in (*drifted, *(item for item in report.features if not item.drifted)):
        missing = f"{item.missing.reference_rate:.1%}->{item.missing.current_rate:.1%}"
        flags = [name for name, on in (("dist", item.distribution_drifted), ("missing", item.missing.drifted)) if on]
        if item.unseen is not None and item.unseen.drifted:
            flags.append(f"unseen({item.unseen.count})")
        verdict = (
            "n/a (not enough data)" if not item.enough_data else ("YES " + ",".join(flags) if item.drifted else "no")
        )
        rows.append(
            (
                item.feature,
                item.kind,
                item.typing or item.kind,
                item.method,
                _number(item.statistic),
                _number(item.p_value),
                _number(item.p_value_adjusted),
                _number(item.effect_size),
                _number(item.threshold),
                missing,
                verdict,
            )
        )
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    lines = ["  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip() for row in rows]
    if report.joint is not None:
        lines.append("\n" + report.joint.describe())
    lines.append("\n" + verdict_line(report))
    return "\n".join(lines) + "\n"


def _named(names: list[str]) -> str:
    more = f" and {len(names) - MAX_NAMED} more" if len(names) > MAX_NAMED else ""
    return ", ".join(names[:MAX_NAMED]) + more


def verdict_line(report: DriftReport) -> str:
    """One line a person reads first: the verdict, the features behind it, and what it was held against."""
    settings = (
        f"{report.correction} correction at alpha {report.alpha}; "
        f"{report.reference_rows} reference rows, {report.current_rows} current rows"
    )
    total = len(report.features)
    if report.verdict == "drift":
        named = _named([f"{item.feature} (effect {_number(item.effect_size)})" for item in report.drifted])
        joint = report.joint is not None and report.joint.drifted
        features = f"largest effect first: {named}" if report.drifted else "none on its own"
        return (
            f"DRIFT: {len(report.drifted)} of {total} features drifted ({report.share_drifted:.0%}), {features}"
            f"{'; and the numeric features no longer relate as in the reference (joint test)' if joint else ''}; "
            f"{settings}"
        )
    if report.verdict == "not_enough_data":
        unjudged = report.not_enough_data
        return (
            f"NOT ENOUGH DATA: {len(unjudged)} of {total} features had too few values to judge "
            f"({_named(list(unjudged))}); "
            f"nothing drifted in the other {total - len(unjudged)}; {settings}"
        )
    return f"no drift: 0 of {total} features drifted; {settings}"
