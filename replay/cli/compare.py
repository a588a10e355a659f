"""`bakeoff compare RUN_DIR`: the verdict again (other baseline, alpha, margin), or against an older run."""

from __future__ import annotations

import argparse
import sys

from bakeoff.replay.cli.flags import add_format


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("run_dir", metavar="RUN_DIR", help="a run directory written by bakeoff replay")
    parser.add_argument("--baseline", metavar="ID", help="compare every provider against this one")
    parser.add_argument(
        "--compare-with", metavar="OLD", help="an older run directory or its benchmark_results.json"
    )
    parser.add_argument("--alpha", type=float, default=0.05, help="significance level (default 0.05)")
    parser.add_argument(
        "--margin",
        type=float,
        default=None,
        help="tolerated drop (non-inferiority); default replay.margin, else 0.02; the gate's default is 0",
    )
    parser.add_argument(
        "--unpaired",
        action="store_true",
        help="with --compare-with over a different dataset: test the unpaired differences all the same",
    )
    add_format(parser)
    parser.add_argument(
        "--fail-on-regression",
        action="store_true",
        help="exit 1 on a significant drop beyond the margin against the baseline (or the old run)",
    )


def run(args: argparse.Namespace) -> int:
    import orjson

    from bakeoff.errors import UsageError
    from bakeoff.replay.report.render import format_p, render, render_cross_run
    from bakeoff.replay.run.loading import load_run
    from bakeoff.replay.stats.analysis import AnalysisOptions
    from bakeoff.replay.stats.cross_run import compare_runs, load_old, regressions
    from bakeoff.replay.stats.recommend import Constraints, recommend

    if not 0 < args.alpha < 1:
        raise UsageError(f"--alpha {args.alpha}: must be between 0 and 1")
    if args.margin is not None and args.margin < 0:
        raise UsageError(f"--margin {args.margin}: must not be negative")
    run_files = load_run(args.run_dir)
    options = AnalysisOptions(baseline=args.baseline, alpha=args.alpha, margin=args.margin)
    benchmark, comparison = run_files.analyse(options)
    if args.compare_with:
        old_benchmark, old_rows = load_old(args.compare_with)
        cross = compare_runs(
            benchmark, run_files.rows, old_benchmark, old_rows, run_files.kinds, options, args.unpaired
        )
        found = regressions(cross["comparisons"], args.margin or 0.0)
        if args.format == "json":
            print(
                orjson.dumps({"cross_run": cross, "regressions": found}, option=orjson.OPT_INDENT_2).decode()
            )
        else:
            print(render_cross_run(cross, args.format))
    else:
        gate = comparison["comparisons"] + comparison["error_rate_comparisons"]
        found = regressions(gate, args.margin or 0.0)
        print(render(benchmark, comparison, args.format, recommend(benchmark, comparison, Constraints())))
    if found:
        for item in found:
            print(
                f"regression: {item['provider']} on {item['metric']}: {item['diff']:+.3f} "
                f"(CI {item['ci95'][0]:+.3f}..{item['ci95'][1]:+.3f}) vs {item['baseline']}, "
                f"p (Holm) {format_p(item['p_adjusted'])}",
                file=sys.stderr,
            )
    return 1 if args.fail_on_regression and found else 0
