"""The `bakeoff` command line.

Subcommands live in their own modules and are imported only when run, so `bakeoff --help` and
`bakeoff run` stay light and a missing extra only matters to the commands that need it. Each module
exposes ``configure(parser)`` (its arguments) and ``run(args) -> int`` (its exit status).
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence
from types import ModuleType
from typing import NoReturn

from bakeoff import __version__
from bakeoff.errors import MissingDependencyError, UsageError

# name -> (module, one-line help). The modules import their heavy dependencies inside run().
COMMANDS: dict[str, tuple[str, str]] = {
    "run": ("bakeoff.cli.run_cmd", "run a Python program with every LLM call recorded (no code change)"),
    "serve": ("bakeoff.collector.cli.serve", "run the collector: ingest, storage, sampling"),
    "sample": ("bakeoff.collector.cli.sample", "sample recorded events into a reproducible dataset"),
    "dataset": ("bakeoff.collector.cli.dataset", "import test cases (JSON lines, CSV, YAML) as a dataset"),
    "replay": ("bakeoff.replay.cli.replay", "replay a dataset against other providers, score and compare"),
    "compare": (
        "bakeoff.replay.cli.compare",
        "compare providers of a run (or two runs): a CI regression gate",
    ),
    "recommend": (
        "bakeoff.replay.cli.recommend",
        "the provider to choose under cost, latency and quality limits",
    ),
    "report": ("bakeoff.replay.cli.report", "write a self-contained HTML report of a run"),
    "watch": ("bakeoff.replay.cli.watch", "replay recent traffic on a schedule and alert on regressions"),
    "demo": (
        "bakeoff.replay.cli.demo",
        "the whole loop offline on simulated models, from recording to verdict",
    ),
}

# Third-party module -> the extra that installs it, for the message a missing dependency gets.
EXTRA_OF_MODULE = {
    "fastapi": "collector",
    "uvicorn": "collector",
    "duckdb": "collector",
    "pyarrow": "collector",
    "prometheus_client": "collector",
    "google": "collector",
    "opentelemetry.proto": "collector",
    "aiohttp": "replay",
    "httptools": "replay",
    "numpy": "replay",
    "scipy": "replay",
    "rapidfuzz": "replay",
    "jsonschema": "replay",
    "yaml": "replay",
    "rich": "replay",
    "plotly": "replay",
    "genai_prices": "replay",
    "openai": "examples",
    "anthropic": "examples",
}


class OneLineParser(argparse.ArgumentParser):
    """An ArgumentParser whose errors are one line on stderr and exit status 2."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"{self.prog}: error: {message}\n")


def _missing_extra(exc: ModuleNotFoundError) -> MissingDependencyError | None:
    name = exc.name or ""
    for module, extra in EXTRA_OF_MODULE.items():
        if name == module or name.startswith(module + "."):
            return MissingDependencyError(name, extra)
    return None


def _load(name: str) -> ModuleType:
    module_name, _ = COMMANDS[name]
    try:
        return importlib.import_module(module_name)
    except ModuleNotFoundError as exc:
        missing = _missing_extra(exc)
        if missing is None:
            raise
        raise missing from exc


def build_parser(command: str | None = None) -> OneLineParser:
    """The top-level parser; with `command`, that subcommand's arguments are configured too."""
    parser = OneLineParser(
        prog="bakeoff", description="Is another LLM better, cheaper or faster on your traffic?"
    )
    parser.add_argument("--version", action="version", version=f"bakeoff {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=OneLineParser)
    for name, (_, help_text) in COMMANDS.items():
        sub_parser = sub.add_parser(name, help=help_text, description=help_text)
        if name == command:
            _load(name).configure(sub_parser)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the `bakeoff` console script; returns the exit status."""
    args_list = list(sys.argv[1:] if argv is None else argv)
    command = next((a for a in args_list if not a.startswith("-")), None)
    try:
        parser = build_parser(command if command in COMMANDS else None)
        args = parser.parse_args(args_list)
        if args.command is None:
            parser.print_help()
            return 2
        status: int = _load(args.command).run(args)
        return status
    except ModuleNotFoundError as exc:
        # A command imports its heavy dependencies when it runs: a missing one names its extra.
        missing = _missing_extra(exc)
        if missing is None:
            raise
        print(f"bakeoff: error: {missing}", file=sys.stderr)
        return 2
    except (UsageError, MissingDependencyError) as exc:
        print(f"bakeoff: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("bakeoff: interrupted", file=sys.stderr)
        return 130


def entrypoint() -> NoReturn:
    """Console-script wrapper around :func:`main`."""
    sys.exit(main())
