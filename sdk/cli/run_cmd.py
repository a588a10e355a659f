"""`bakeoff run -- python app.py`: run an unchanged program with every LLM call recorded.

Like `opentelemetry-instrument`: the child gets bakeoff's bootstrap folder first on its PYTHONPATH,
whose `sitecustomize` calls `bakeoff.init()` from the `BAKEOFF_*` variables this command sets.
"""

from __future__ import annotations

import argparse
import os
import subprocess
from pathlib import Path

from bakeoff.errors import UsageError


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--collector", metavar="URL", help="collector URL (default: $BAKEOFF_COLLECTOR_URL)")
    parser.add_argument("--project", help="project name recorded on every event")
    parser.add_argument(
        "--tag", action="append", default=[], metavar="TAG", help="tag every event (repeatable)"
    )
    parser.add_argument(
        "--sample-rate", type=float, metavar="RATE", help="fraction of events kept, in [0, 1]"
    )
    parser.add_argument("--no-content", action="store_true", help="record no prompt or response text")
    parser.add_argument("program", nargs=argparse.REMAINDER, help="-- then the command to run")


def child_environment(args: argparse.Namespace, environ: dict[str, str]) -> dict[str, str]:
    """The environment of the instrumented program."""
    import bakeoff.bootstrap

    env = dict(environ)
    bootstrap = str(Path(bakeoff.bootstrap.__file__).parent)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (bootstrap, env.get("PYTHONPATH", "")) if p)
    if args.collector:
        if not args.collector.startswith(("http://", "https://")):
            raise UsageError(f"--collector {args.collector!r}: expected an http:// or https:// URL")
        env["BAKEOFF_COLLECTOR_URL"] = args.collector
    if args.project:
        env["BAKEOFF_PROJECT"] = args.project
    if args.tag:
        env["BAKEOFF_TAGS"] = ",".join([*filter(None, env.get("BAKEOFF_TAGS", "").split(",")), *args.tag])
    if args.sample_rate is not None:
        if not 0.0 <= args.sample_rate <= 1.0:
            raise UsageError(f"--sample-rate must be in [0, 1], got {args.sample_rate}")
        env["BAKEOFF_SAMPLE_RATE"] = str(args.sample_rate)
    if args.no_content:
        env["BAKEOFF_CAPTURE_CONTENT"] = "0"
    return env


def run(args: argparse.Namespace) -> int:
    program = list(args.program)
    if program and program[0] == "--":
        program = program[1:]
    if not program:
        raise UsageError("nothing to run: bakeoff run -- python app.py")
    try:
        return subprocess.call(program, env=child_environment(args, dict(os.environ)))
    except FileNotFoundError as exc:
        raise UsageError(f"cannot run {program[0]!r}: {exc.strerror}") from exc
