"""What recording costs a whole process: every thread counted, plain openai against bakeoff-instrumented.

Each arm runs in processes of its own against one simulated OpenAI-compatible server in another
process (and, for bakeoff, a receiver standing in for the collector in a third). A child makes N
non-streamed calls, flushes, and reports what it spent on them, every thread included (the caller's and
the shipping thread's). Two readings, in the same run:

- CPU time: `resource.getrusage(RUSAGE_SELF)` (user + system) around the calls; the startup (imports,
  `init()`, the client, a warm-up, all flushed) is the same reading taken just before them, so import
  time's variance between processes does not enter. The arms alternate in rounds (their order turned
  around every other round), all pinned to the same core (`os.sched_setaffinity`) with a fixed
  `PYTHONHASHSEED`, the servers on the other cores. Each round pairs an arm with the plain process
  next to it; the figure is the median of the pairs' differences with a 95 % bootstrap confidence
  interval. The plain arm runs twice per round: plain against plain (an A/A control) shows how large
  a difference the machine's noise alone makes, with the same statistics.
- Instructions: each arm once more under `valgrind --tool=callgrind`, which counts the instructions of
  every thread and is not disturbed by the machine's load. Counting starts at the first measured call
  (`--zero-before` a marker function called there) and the child leaves with `os._exit` right after
  the flush, so neither startup nor teardown is counted. Under callgrind a process runs ~50x slower,
  so the shipping thread's timer would cut batches ~50x smaller than at full speed: there, batches
  form by count (256), as they do at full speed at this call rate.

bakeoff runs twice: as configured for this loopback receiver (no gzip), and with gzip forced, as for a
collector on another host (CPU time only). Every figure is against the plain arm of the same run.

Run: python bench/bench_sdk_process_cpu.py [--calls 2000] [--runs 20] [--gzip] [--callgrind-calls 300]
"""

from __future__ import annotations

import argparse
import math
import os
import re
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

from sdk_stats import median_ci
from servers import start_receiver, start_simulator

MESSAGES = [{"role": "user", "content": "one two three four five six seven eight nine ten eleven twelve"}]
_WARMUP_CALLS = 20
# The plain arm in the middle of a round: the other arms it is paired with (A/A included) run next to it.
ARMS = ("plain-again", "plain", "bakeoff", "bakeoff-gzip")
# A C function neither the clients nor bakeoff call: entering it marks the start of the measured calls
# for callgrind (`--zero-before=math_lgamma`).
_MARKER = "math_lgamma"


def _cpu_s() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)  # every thread of this process
    return usage.ru_utime + usage.ru_stime


def _shipper_cpu_s() -> float:
    for thread in threading.enumerate():
        if thread.name == "bakeoff-shipper" and thread.ident is not None:
            return time.clock_gettime(time.pthread_getcpuclockid(thread.ident))
    return 0.0


def _child(arm: str, base_url: str, calls: int, counted: bool) -> None:
    """Make `calls` calls and print CPU seconds at their start and end (every thread; the shipper's).

    `counted`: running under callgrind, which counts from the marker to `os._exit`.
    """
    core = os.environ.get("BENCH_CORE")
    if core is not None:
        os.sched_setaffinity(0, {int(core)})
    import openai

    flush = lambda: True  # noqa: E731
    if arm.startswith("bakeoff"):
        import bakeoff

        compress = True if arm == "bakeoff-gzip" else None
        tuning = {"flush_interval_s": 3600.0} if counted else {}
        bakeoff.init(
            os.environ["BENCH_COLLECTOR"], spool_dir=os.environ["BENCH_SPOOL"], compress=compress, **tuning
        )
        flush = lambda: bakeoff.flush(600)  # noqa: E731
    client = openai.OpenAI(base_url=base_url + "/v1", api_key="k")

    def call() -> None:
        result = client.chat.completions.create(model="m", messages=MESSAGES)
        _ = result.choices[0].message.content, result.usage.total_tokens  # read it as an application does

    for _ in range(_WARMUP_CALLS):
        call()
    flush()
    startup, shipper_startup = _cpu_s(), _shipper_cpu_s()
    math.lgamma(1.0)  # the marker
    for _ in range(calls):
        call()
    if not flush():
        raise SystemExit("not everything was delivered")
    print(startup, _cpu_s(), _shipper_cpu_s() - shipper_startup, flush=True)
    if counted:
        os._exit(0)  # teardown is no part of the calls


def _env(base: dict[str, str], core: int | None) -> dict[str, str]:
    env = {**base, "PYTHONHASHSEED": "0"}
    if core is not None:
        env["BENCH_CORE"] = str(core)
    return env


def _run(arm: str, base_url: str, calls: int, env: dict[str, str]) -> tuple[float, float]:
    """CPU microseconds per call of one child process (its startup subtracted), and its shipping thread's."""
    command = [sys.executable, __file__, "--child", arm, "--base-url", base_url, "--calls", str(calls)]
    done = subprocess.run(command, capture_output=True, text=True, env=env, check=True)
    startup, end, shipper = map(float, done.stdout.split())
    return (end - startup) / calls * 1e6, shipper / calls * 1e6


def _instructions(arm: str, base_url: str, calls: int, env: dict[str, str], folder: Path) -> float:
    """Instructions per call of one child under callgrind, every thread, startup and teardown left out."""
    out = folder / f"callgrind.{arm}.out"
    command = [
        "valgrind",
        "--tool=callgrind",
        f"--callgrind-out-file={out}",
        f"--zero-before={_MARKER}",
        sys.executable,
        __file__,
        "--child",
        arm,
        "--base-url",
        base_url,
        "--calls",
        str(calls),
        "--counted",
    ]
    subprocess.run(command, capture_output=True, text=True, env=env, check=True)
    summary = re.search(r"^(?:summary|totals):\s+(\d+)", out.read_text(), re.MULTILINE)
    if summary is None:
        raise SystemExit(f"no instruction count in {out}")
    return int(summary.group(1)) / calls


def _cores() -> tuple[int | None, set[int]]:
    """The core both arms run on, and the others (for the servers); (None, set()) if not pinnable."""
    if not hasattr(os, "sched_getaffinity"):
        return None, set()
    cores = sorted(os.sched_getaffinity(0))
    return cores[0], set(cores[1:])


def _spread(values: list[float]) -> str:
    quartiles = statistics.quantiles(values, n=4) if len(values) > 1 else [values[0]] * 3
    low, high = quartiles[0], quartiles[2]
    return f"range {min(values):+.0f} to {max(values):+.0f}, middle half {low:+.0f} to {high:+.0f}"


def _paired(label: str, ours: list[float], plain: list[float], plain_median: float) -> None:
    paired = [a - b for a, b in zip(ours, plain, strict=True)]
    added, low, high = median_ci(paired)
    print(
        f"{label}: added CPU per call, every thread (median of {len(paired)} pairs): {added:+.1f} us "
        f"(95 % CI {low:+.1f} to {high:+.1f}), {100 * added / plain_median:+.2f} % of plain "
        f"(CI {100 * low / plain_median:+.2f} to {100 * high / plain_median:+.2f} %); {_spread(paired)} us"
    )


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--calls", type=int, default=2000)
    parser.add_argument("--runs", type=int, default=20, help="alternating rounds of processes (one per arm)")
    parser.add_argument("--gzip", action="store_true", help="also an arm with gzip forced")
    parser.add_argument("--callgrind-calls", type=int, default=300, help="0: no instruction count")
    parser.add_argument("--child", choices=ARMS)
    parser.add_argument("--counted", action="store_true")
    parser.add_argument("--base-url")
    args = parser.parse_args()
    if args.child:
        _child(args.child, args.base_url, args.calls, args.counted)
        return
    core, others = _cores()
    server, url = start_simulator()
    receiver, collector = start_receiver()
    if others:
        for process in (server, receiver):
            os.sched_setaffinity(process.pid, others)
    arms = [arm for arm in ARMS if arm != "bakeoff-gzip" or args.gzip]
    per_call: dict[str, list[float]] = {arm: [] for arm in arms}
    shipping: dict[str, list[float]] = {arm: [] for arm in arms}
    instructions: dict[str, float] = {}
    try:
        with tempfile.TemporaryDirectory() as spool:
            env = _env({**os.environ, "BENCH_COLLECTOR": collector, "BENCH_SPOOL": spool}, core)
            for run in range(args.runs):
                for arm in arms if run % 2 == 0 else reversed(arms):
                    whole, shipper = _run(arm, url, args.calls, env)
                    per_call[arm].append(whole)
                    shipping[arm].append(shipper)
            if args.callgrind_calls and shutil.which("valgrind"):
                with tempfile.TemporaryDirectory() as folder:
                    for arm in ("plain", "bakeoff"):
                        instructions[arm] = _instructions(arm, url, args.callgrind_calls, env, Path(folder))
    finally:
        server.kill()
        receiver.kill()
    median = statistics.median
    plain = median(per_call["plain"])
    print(f"plain openai CPU per call, whole process (median of {args.runs}): {plain:.0f} us")
    # Each arm is paired with the plain process of its round (run next to it, in either order).
    _paired("A/A control, plain again", per_call["plain-again"], per_call["plain"], plain)
    for arm, label in (("bakeoff", "bakeoff"), ("bakeoff-gzip", "bakeoff, gzip forced")):
        if arm not in per_call:
            continue
        _paired(label, per_call[arm], per_call["plain"], plain)
        print(f"{label}: of which on the shipping thread: {median(shipping[arm]):.1f} us")
    spread = ", ".join(f"{arm} {min(v):.0f}-{max(v):.0f}" for arm, v in per_call.items())
    print(f"range over runs (us/call): {spread}")
    if instructions:
        added_ir = instructions["bakeoff"] - instructions["plain"]
        print(
            f"instructions per call, every thread (callgrind, {args.callgrind_calls} calls): "
            f"plain {instructions['plain']:,.0f}, bakeoff {instructions['bakeoff']:,.0f}"
        )
        print(
            f"bakeoff: added instructions per call: {added_ir:,.0f}, "
            f"{100 * added_ir / instructions['plain']:.2f} % of plain"
        )
    elif args.callgrind_calls:
        print("instructions per call: not counted (valgrind is not installed)")


if __name__ == "__main__":
    main()
