"""What recording costs a whole process: CPU of every thread, plain openai against bakeoff-instrumented.

Each arm runs in processes of its own against one simulated OpenAI-compatible server in another
process (and, for bakeoff, a receiver standing in for the collector in a third). A child process makes
N non-streamed calls, flushes, and reports `resource.getrusage(RUSAGE_SELF)` (user + system, every
thread: the caller's and the shipping thread's). Its startup baseline (imports, `init()`, the client,
a warm-up, all flushed) is the same reading taken just before the measured calls, subtracted: taken in
the same process, it does not carry the import time's large variance between processes. The arms
alternate, and the medians of several runs of each are compared, so both arms see the same machine load.
bakeoff runs twice: as configured for this loopback receiver (no gzip), and with gzip forced, as for a
collector on another host. The shipping thread's own CPU is read from its thread clock.

Run: python bench/bench_sdk_process_cpu.py [--calls 2000] [--runs 5]
"""

from __future__ import annotations

import argparse
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import threading
import time

from servers import start_receiver, start_simulator

MESSAGES = [{"role": "user", "content": "one two three four five six seven eight nine ten eleven twelve"}]
_WARMUP_CALLS = 20
ARMS = ("plain", "bakeoff", "bakeoff-gzip")


def _cpu_s() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)  # every thread of this process
    return usage.ru_utime + usage.ru_stime


def _shipper_cpu_s() -> float:
    for thread in threading.enumerate():
        if thread.name == "bakeoff-shipper" and thread.ident is not None:
            return time.clock_gettime(time.pthread_getcpuclockid(thread.ident))
    return 0.0


def _child(arm: str, base_url: str, calls: int) -> None:
    """Print CPU seconds at startup's end and after `calls` calls (every thread; the shipping thread's)."""
    import openai

    flush = lambda: True  # noqa: E731
    if arm != "plain":
        import bakeoff

        compress = True if arm == "bakeoff-gzip" else None
        bakeoff.init(os.environ["BENCH_COLLECTOR"], spool_dir=os.environ["BENCH_SPOOL"], compress=compress)
        flush = lambda: bakeoff.flush(30)  # noqa: E731
    client = openai.OpenAI(base_url=base_url + "/v1", api_key="k")

    def call() -> None:
        result = client.chat.completions.create(model="m", messages=MESSAGES)
        _ = result.choices[0].message.content, result.usage.total_tokens  # read it as an application does

    for _ in range(_WARMUP_CALLS):
        call()
    flush()
    startup, shipper_startup = _cpu_s(), _shipper_cpu_s()
    for _ in range(calls):
        call()
    if not flush():
        raise SystemExit("not everything was delivered")
    print(startup, _cpu_s(), _shipper_cpu_s() - shipper_startup)


def _run(arm: str, base_url: str, calls: int, env: dict[str, str]) -> tuple[float, float]:
    """CPU microseconds per call of one child process (its startup subtracted), and its shipping thread's."""
    command = [sys.executable, __file__, "--child", arm, "--base-url", base_url, "--calls", str(calls)]
    done = subprocess.run(command, capture_output=True, text=True, env=env, check=True)
    startup, end, shipper = map(float, done.stdout.split())
    return (end - startup) / calls * 1e6, shipper / calls * 1e6


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--calls", type=int, default=2000)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--child", choices=ARMS)
    parser.add_argument("--base-url")
    args = parser.parse_args()
    if args.child:
        _child(args.child, args.base_url, args.calls)
        return
    server, url = start_simulator()
    receiver, collector = start_receiver()
    per_call: dict[str, list[float]] = {arm: [] for arm in ARMS}
    shipping: dict[str, list[float]] = {arm: [] for arm in ARMS}
    try:
        with tempfile.TemporaryDirectory() as spool:
            env = {**os.environ, "BENCH_COLLECTOR": collector, "BENCH_SPOOL": spool}
            for run in range(args.runs):
                for arm in ARMS if run % 2 == 0 else reversed(ARMS):
                    whole, shipper = _run(arm, url, args.calls, env)
                    per_call[arm].append(whole)
                    shipping[arm].append(shipper)
    finally:
        server.kill()
        receiver.kill()
    median = statistics.median
    plain = median(per_call["plain"])
    print(f"plain openai CPU per call, whole process (median of {args.runs}): {plain:.0f} us")
    for arm, label in (("bakeoff", "bakeoff"), ("bakeoff-gzip", "bakeoff, gzip forced")):
        instrumented = median(per_call[arm])
        # Each run's arms ran back to back: their difference is less exposed to the machine's load.
        paired = [ours - theirs for ours, theirs in zip(per_call[arm], per_call["plain"], strict=True)]
        print(f"{label}: CPU per call, whole process: {instrumented:.0f} us")
        print(f"{label}: added CPU per call, every thread (median of paired runs): {median(paired):.0f} us")
        added_percent = 100 * median(paired) / plain
        print(f"{label}: added CPU per call, every thread: {added_percent:.1f} % of plain")
        print(f"{label}: of which on the shipping thread: {median(shipping[arm]):.1f} us")
    spread = ", ".join(f"{arm} {min(v):.0f}-{max(v):.0f}" for arm, v in per_call.items())
    print(f"range over runs (us/call): {spread}")


if __name__ == "__main__":
    main()
