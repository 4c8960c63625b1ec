"""`mechtests report results.json`: render report.html and summary.md again from a results file.

    mechtests report reports/results.json               # next to the results file
    mechtests report ci/results.json --out public/       # somewhere else

Useful after an upgrade of mechtests (a newer page from the same run) or on a results.json
copied from a CI job. Nothing is measured; a baseline comparison stored in the file is shown
at the top, with the baseline's intervals when its file is a results.json still in place.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from mechtests.reports.pages import old_results_of, write_pages
from mechtests.reports.schema import load_results


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("results", metavar="RESULTS", help="a results.json written by a mechtests run")
    parser.add_argument("--out", metavar="DIR", default=None,
                        help="folder for report.html and summary.md (default: the folder of RESULTS)")


def run(args: argparse.Namespace) -> int:
    results = load_results(args.results)
    out = Path(args.out) if args.out else Path(args.results).parent
    for path in write_pages(results, out, old=old_results_of(results)):
        print(f"wrote {path}")
    return 0
