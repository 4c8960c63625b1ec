"""`mechtests compare OLD NEW`: the baseline gate, offline, between two runs.

    mechtests compare reports/baseline.json reports/results.json
    mechtests compare old/results.json new/results.json --tolerance 0.05 --strict

OLD and NEW are results.json files or baselines written by --mech-save-baseline (schema
version 1 or 2). Exit status: 0 when no verdict changed, 1 when one did (listed), 2 when an
input is unreadable, of an unknown schema or version, or has nothing in common with the other
(one line saying why). A move into or out of inconclusive is a warning, a change with
--strict; metric drift beyond the tolerance and cases present in only one file are printed.
"""

from __future__ import annotations

import argparse

from mechtests.errors import MechtestsError
from mechtests.reports import gate
from mechtests.reports.pages import comparison_page
from mechtests.reports.schema import atomic_write, check_writable
from mechtests.run.parsing import Tolerance, parse_tolerance


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("old", metavar="OLD", help="baseline: a results.json or a --mech-save-baseline file")
    parser.add_argument("new", metavar="NEW", help="the run to check: a results.json or a baseline file")
    parser.add_argument("--tolerance", metavar="TOL", type=_tolerance, default=parse_tolerance("10%"),
                        help="metric drift to report: 10%% (relative) or 0.05 (absolute) (default: 10%%)")
    parser.add_argument("--html", metavar="OUT", default=None,
                        help="also write NEW's report.html with the comparison at its top to OUT (default: off)")
    parser.add_argument("--strict", action="store_true",
                        help="a move into or out of inconclusive is a change, not a warning (default: off)")


def _tolerance(text: str) -> Tolerance:
    try:
        return parse_tolerance(text)
    except MechtestsError as err:  # argparse shows ArgumentTypeError's message as a usage error
        raise argparse.ArgumentTypeError(str(err)) from None


def run(args: argparse.Namespace) -> int:
    if args.html:
        check_writable(args.html)  # before the comparison: a bad --html is a usage error (2), never "a verdict changed" (1)
    comparison = gate.compare(gate.load_baseline(args.old), gate.load_baseline(args.new), args.tolerance, args.strict)
    for line in gate.describe(comparison, args.old):
        print(line)
    if args.html:
        atomic_write(args.html, comparison_page(args.old, args.new, comparison))
    return 1 if gate.failed(comparison) else 0
