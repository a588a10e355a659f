"""`bakeoff recommend RUN_DIR`: the provider to choose under constraints and weights, and why."""

from __future__ import annotations

import argparse

from bakeoff.replay.cli.flags import add_format, non_negative_float


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("run_dir", metavar="RUN_DIR", help="a run directory written by bakeoff replay")
    parser.add_argument("--min-score", type=float, metavar="X", help="lowest acceptable primary-metric score")
    parser.add_argument("--max-cost", type=float, metavar="USD", help="highest acceptable cost per request")
    parser.add_argument("--max-p95-ms", type=float, metavar="N", help="highest acceptable p95 latency")
    parser.add_argument(
        "--weights", metavar="quality=.5,cost=.3,speed=.2", help="how to rank the providers that qualify"
    )
    parser.add_argument(
        "--margin",
        type=non_negative_float,
        default=None,
        help="tolerated drop against the baseline (default replay.margin of the run's config, else 0.02)",
    )
    add_format(parser)


def run(args: argparse.Namespace) -> int:
    import orjson

    from bakeoff.replay.run.loading import load_run
    from bakeoff.replay.stats.analysis import AnalysisOptions
    from bakeoff.replay.stats.recommend import DEFAULT_WEIGHTS, Constraints, parse_weights, recommend

    run_files = load_run(args.run_dir)
    benchmark, comparison = run_files.analyse(
        AnalysisOptions(margin=args.margin, alpha=run_files.meta.options.alpha)
    )
    constraints = Constraints(
        min_score=args.min_score,
        max_cost=args.max_cost,
        max_p95_ms=args.max_p95_ms,
        weights=parse_weights(args.weights) if args.weights else dict(DEFAULT_WEIGHTS),
    )
    result = recommend(benchmark, comparison, constraints)
    if args.format == "json":
        print(orjson.dumps(result, option=orjson.OPT_INDENT_2).decode())
        return 0
    bullet = "- " if args.format == "markdown" else "  "
    lines = [
        f"recommended: {result['reason']}"
        if result["recommended"]
        else f"no recommendation: {result['reason']}"
    ]
    if result["ranking"][1:]:
        lines.append("runners-up:")
        for entry in result["ranking"][1:]:
            lines.append(
                f"{bullet}{entry['provider']}: utility {entry['utility']:.3f}, score {entry['score']:.3f}"
            )
    if result["promising"]:
        lines.append(f"promising (within the margin {result['margin']:g} by their estimate, not yet shown):")
        for hope in result["promising"]:
            settle = f"; ~{hope['n_needed']} paired samples would settle it" if hope.get("n_needed") else ""
            low, high = hope["ci95"]
            interval = f"{hope['diff']:+.3f} [{low:+.3f}, {high:+.3f}], n={hope['n']}"
            lines.append(f"{bullet}{hope['provider']}: {interval}{settle}")
    if result["excluded"]:
        lines.append("excluded:")
        lines += [f"{bullet}{provider}: {why}" for provider, why in result["excluded"].items()]
    print("\n".join(lines))
    return 0
