"""Run the instrumented app offline: simulated providers, an embedded collector, then a weighted sample.

    python examples/instrumented_app/run_offline.py [--calls 60] [--dir OUT]

Everything the providers answer is simulated (an OpenAI/Anthropic-compatible server on loopback that
echoes); everything else is the real pipeline: the SDK records each call, ships it to a collector on a
DuckDB file, and a stratified sample with its weights is drawn from what was recorded.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import urllib.request
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).parent))

import app

from bakeoff.collector.embedded import EmbeddedCollector
from bakeoff.replay.simulator.server import SimulatorServer


def fetch_text(url: str, body: dict[str, Any] | None = None) -> str:
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(url, data=data, headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=60) as response:
        return str(response.read().decode())


def fetch(url: str, body: dict[str, Any] | None = None) -> Any:
    return json.loads(fetch_text(url, body))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=60)
    parser.add_argument(
        "--dir", help="where the DuckDB file and the dataset go (default: a temporary folder)"
    )
    args = parser.parse_args()
    folder = Path(args.dir or tempfile.mkdtemp(prefix="bakeoff-example-"))
    folder.mkdir(parents=True, exist_ok=True)
    with SimulatorServer() as llm, EmbeddedCollector(str(folder / "bakeoff.duckdb")) as collector:
        os.environ.update(
            {
                "BAKEOFF_COLLECTOR_URL": collector.url,
                "BAKEOFF_SPOOL_DIR": str(folder / "spool"),
                "OPENAI_API_KEY": "simulated",
                "ANTHROPIC_API_KEY": "simulated",
            }
        )
        print(f"simulated providers on {llm.url}; collector on {collector.url} ({folder / 'bakeoff.duckdb'})")
        app.main(
            [
                "--openai-base-url",
                llm.url + "/v1",
                "--anthropic-base-url",
                llm.url,
                "--calls",
                str(args.calls),
            ]
        )
        recorded = fetch(collector.url + "/v1/events?limit=1000")
        print(f"\nrecorded {recorded['total']} calls (answers simulated):")
        summary: dict[tuple[str, str, bool], list[float]] = {}
        for event in recorded["events"]:
            key = (",".join(event["tags"]), f"{event['provider']}/{event['model']}", event["stream"])
            summary.setdefault(key, []).append(event["latency_ms"])
        for (tags, model, stream), latencies in sorted(summary.items()):
            latencies.sort()
            print(
                f"  {tags:<11} {model:<28} {'streamed' if stream else 'plain':<9} {len(latencies):>4} calls"
                f"  p50 {latencies[len(latencies) // 2]:.1f} ms"
            )
        sample = fetch(
            collector.url + "/v1/samples",
            {"name": "example", "strategy": "stratified", "n": 12, "by": "tag", "seed": 1, "replace": True},
        )
        lines = fetch_text(collector.url + "/v1/datasets/example")
        (folder / "example.jsonl").write_text(lines)
        print(
            f"\nstratified sample: {sample['size']} of {sample['population']} events, weights sum to "
            f"{sum(json.loads(line)['weight'] for line in lines.splitlines()):.0f}; "
            f"dataset written to {folder / 'example.jsonl'}"
        )


if __name__ == "__main__":
    main()
