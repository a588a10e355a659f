"""What a `bakeoff replay` pays to load its config, with the registry's lazy built-ins and without.

Each figure is a fresh interpreter that loads a config of one OpenAI provider and `exact_match`
(`load_config`: validation and every metric built), the median of several. The baseline, measured in
the same run, is the same load after importing every registered metric and provider kind up front, as
a registry without lazy `"module:attr"` entries would.

Run: python bench/bench_config_load.py [--repeat 9]
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import textwrap
from pathlib import Path

PROBE = textwrap.dedent(
    """
    import time
    started = time.perf_counter()
    if {eager}:
        from bakeoff.replay.providers.kinds import PROVIDERS
        from bakeoff.replay.scoring.registry import METRICS
        for registry in (METRICS, PROVIDERS):
            for name in registry.names():
                kind = registry.get(name)
                getattr(kind, "create", None)  # the kinds' own modules are imported below
        import bakeoff.replay.providers.anthropic, bakeoff.replay.providers.openai
        import bakeoff.replay.providers.simulated
    from bakeoff.replay.config import load_config
    load_config({path!r})
    print((time.perf_counter() - started) * 1000)
    """
)
CONFIG = """
replay:
  providers:
    - {id: o, provider: openai, model: gpt-4o-mini}
  metrics: [exact_match]
"""


def measure(path: Path, eager: bool, repeat: int) -> float:
    code = PROBE.format(eager=eager, path=str(path))
    times = [
        float(subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout)
        for _ in range(repeat)
    ]
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--repeat", type=int, default=9)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "bakeoff.yaml"
        path.write_text(CONFIG)
        lazy = measure(path, eager=False, repeat=args.repeat)
        eager = measure(path, eager=True, repeat=args.repeat)
    print(f"config load, every built-in imported up front (baseline): {eager:.1f} ms")
    print(f"config load, built-ins imported when named: {lazy:.1f} ms")
    print(f"ratio lazy / eager: {lazy / eager:.2f}")


if __name__ == "__main__":
    main()
