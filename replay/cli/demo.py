"""`bakeoff demo`: the whole loop on this machine, offline, on simulated models, in well under a minute.

1. an embedded collector (DuckDB file) and the simulated OpenAI/Anthropic-compatible server start on
   free loopback ports;
2. the example application (`bakeoff.replay.simulator.support_app`, also `examples/instrumented_app/app.py`;
   real `openai` and `anthropic` clients,
   `bakeoff.init()`) serves a few hundred tagged requests — support answers (some streamed), order
   extraction with a tool, invoice arithmetic — with user feedback on some and a few provider failures;
3. a stratified sample is drawn from what the collector recorded;
4. it is replayed against production's model and three alternatives of different quality, cost and
   speed; answers are scored with the simulation's ground truth (`correct`) and edit similarity to
   what production answered;
5. the verdict and the recommendation are printed; 6. the HTML report is written.

Every figure comes from this pipeline as it runs. The models, their answers, latencies and prices are
simulated, and every output says so.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
import urllib.request
from pathlib import Path
from typing import Any

import orjson
import yaml

from bakeoff.errors import UsageError
from bakeoff.replay.cli.flags import positive_int

PRODUCTION_MODEL = "sim-prod-large"
CANDIDATES = ("sim-medium", "sim-small-fast", "sim-premium")
FAILURES = 4  # provider errors injected into the recorded traffic


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--dir", metavar="DIR", help="where the DuckDB file, runs and report go (default: temporary)"
    )
    parser.add_argument(
        "--calls", type=positive_int, default=240, help="support questions the app answers (default 240)"
    )
    parser.add_argument(
        "--sample", type=positive_int, default=240, help="events in the stratified sample (default 240)"
    )
    parser.add_argument("--seed", type=int, default=7, help="seed of the traffic and the sample")
    parser.add_argument("--serve", action="store_true", help="keep the collector running afterwards")


def _call(url: str, body: Any = None) -> Any:
    data = None if body is None else orjson.dumps(body)
    request = urllib.request.Request(url, data=data, headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=120) as response:
        return orjson.loads(response.read())


def _step(number: int, text: str) -> None:
    print(f"\n[{number}/6] {text}", flush=True)


def _config(folder: Path, collector_url: str) -> Path:
    providers = [
        {"id": model, "provider": "simulated", "model": model, "latency_scale": 0.01}
        for model in (PRODUCTION_MODEL, *CANDIDATES)
    ]
    config = {
        "collector": collector_url,
        "replay": {
            "providers": providers,
            "baseline": PRODUCTION_MODEL,
            "metrics": [{"bakeoff.replay.simulator.models:correct": {"kind": "pass"}}, "fuzzy"],
            "concurrency": 32,
            "cache_dir": str(folder / "cache"),
            "output": str(folder / "runs"),
        },
    }
    path = folder / "bakeoff.yaml"
    path.write_text(yaml.safe_dump(config, sort_keys=False))
    return path


def _wait_for_events(url: str, expected: int, timeout: float = 30.0) -> int:
    deadline = time.monotonic() + timeout
    total = 0
    while time.monotonic() < deadline:
        total = int(_call(url + "/v1/events?limit=1")["total"])
        if total >= expected:
            break
        time.sleep(0.1)
    return total


def run(args: argparse.Namespace) -> int:
    import bakeoff
    from bakeoff.collector.embedded import EmbeddedCollector
    from bakeoff.replay.config import load_config
    from bakeoff.replay.report.html import write_report
    from bakeoff.replay.report.progress import Progress
    from bakeoff.replay.report.publish import publish
    from bakeoff.replay.report.render import render
    from bakeoff.replay.run.loading import load_run
    from bakeoff.replay.run.runner import ReplayOptions, prepare, replay
    from bakeoff.replay.simulator.models import responder
    from bakeoff.replay.simulator.server import SimulatorServer
    from bakeoff.replay.simulator.support_app import main as serve_users
    from bakeoff.replay.stats.recommend import Constraints, recommend

    started = time.monotonic()
    folder = Path(args.dir or tempfile.mkdtemp(prefix="bakeoff-demo-")).resolve()
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise UsageError(f"--dir {args.dir}: cannot create it: {exc.strerror or exc}") from None
    print("bakeoff demo: every model below is SIMULATED (answers, latency and prices); the pipeline is real.")
    _step(1, "starting the collector and the simulated providers")
    with (
        EmbeddedCollector(str(folder / "bakeoff.duckdb")) as collector,
        SimulatorServer(responder=responder(), latency_scale=0.005) as llm,
    ):
        print(
            f"  collector {collector.url} (DuckDB {folder / 'bakeoff.duckdb'}); simulated providers {llm.url}"
        )
        _step(2, "the example app serves its users through the real openai and anthropic clients")
        os.environ.update(
            {
                "BAKEOFF_COLLECTOR_URL": collector.url,
                "BAKEOFF_SPOOL_DIR": str(folder / "spool"),
                "OPENAI_API_KEY": "simulated",
                "ANTHROPIC_API_KEY": "simulated",
            }
        )
        llm.inject("503", times=FAILURES)  # a short provider outage at the start of the traffic
        serve_users(
            [
                *("--openai-base-url", llm.url + "/v1", "--anthropic-base-url", llm.url),
                *("--openai-model", PRODUCTION_MODEL, "--anthropic-model", PRODUCTION_MODEL),
                *("--calls", str(args.calls), "--seed", str(args.seed), "--max-retries", "0"),
            ]
        )
        bakeoff.shutdown()
        expected = args.calls + 2 * max(1, args.calls // 3)
        total = _wait_for_events(collector.url, expected)
        stats = _call(collector.url + "/v1/stats")
        print(f"  recorded {total} calls; {_describe(stats)}")
        _step(3, "sampling a stratified dataset (by tag) from the collector")
        sample = _call(
            collector.url + "/v1/samples",
            {
                "name": "demo",
                "strategy": "stratified",
                "by": "tag",
                "n": args.sample,
                "seed": args.seed,
                "replace": True,
            },
        )
        print(f"  dataset 'demo': {sample['size']} of {sample['population']} events, each with its weight")
        _step(4, f"replaying against {PRODUCTION_MODEL} (production) and {', '.join(CANDIDATES)}")
        config = load_config(_config(folder, collector.url))
        run_ = prepare(config, ReplayOptions(dataset="demo", seed=args.seed, margin=0.02))
        _, benchmark, comparison = replay(run_, Progress())
        publish(config, run_.meta, benchmark, comparison, run_.directory.read_rows())
        _step(5, "the verdict")
        print(render(benchmark, comparison, "text", recommend(benchmark, comparison, Constraints())))
        _step(6, "the report")
        report = write_report(load_run(run_.directory.path), benchmark, comparison, folder / "report.html")
        print(f"  run files: {run_.directory.path}\n  HTML report: {report}")
        print(f"\ndone in {time.monotonic() - started:.0f} s")
        if args.serve:
            print(f"the collector keeps running at {collector.url} (dashboard there); Ctrl-C to stop")
            try:
                while True:
                    time.sleep(3600)
            except KeyboardInterrupt:
                print("stopped", file=sys.stderr)
    return 0


def _describe(stats: dict[str, Any]) -> str:
    tags = ", ".join(f"{t['tag']} {t['calls']}" for t in stats.get("tags", [])[:4])
    return f"{stats.get('errors', 0)} failed; by tag: {tags}"
