"""`bakeoff report RUN_DIR --html FILE`: a self-contained HTML report of a run."""

from __future__ import annotations

import argparse


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("run_dir", metavar="RUN_DIR", help="a run directory written by bakeoff replay")
    parser.add_argument("--html", required=True, metavar="FILE", help="where to write the report")
    parser.add_argument("--baseline", metavar="ID", help="compare against this provider")


def run(args: argparse.Namespace) -> int:
    from bakeoff.replay.report.html import write_report
    from bakeoff.replay.run.loading import load_run
    from bakeoff.replay.stats.analysis import AnalysisOptions

    run_files = load_run(args.run_dir)
    benchmark, comparison = run_files.analyse(AnalysisOptions(baseline=args.baseline))
    path = write_report(run_files, benchmark, comparison, args.html)
    print(f"report written to {path}")
    return 0
