"""What recording costs a whole process: CPU of every thread, plain openai against bakeoff-instrumented.

Each arm runs in processes of its own against one simulated OpenAI-compatible server in another
process (and, for bakeoff, a receiver standing in for the collector in a third). A child process makes
N non-streamed calls, flushes, and reports `resource.getrusage(RUSAGE_SELF)` (user + system, every
thread: the caller's and the shipping thread's). Its startup baseline (imports, `init()`, the client,
a warm-up, all flushed) is the same reading taken just before the measured calls, subtracted: taken in
the same process, it does not carry the import time's large variance between processes. The arms
alternate, and the medians of several runs of each are compared, so both arms see the same machine load.

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

from servers import start_receiver, start_simulator

MESSAGES = [{"role": "user", "content": "one two three four five six seven eight nine ten eleven twelve"}]
_WARMUP_CALLS = 20


def _cpu_s() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)  # every thread of this process
    return usage.ru_utime + usage.ru_stime


def _child(arm: str, base_url: str, calls: int) -> None:
    """Print this process's CPU seconds at startup's end and after `calls` calls, every thread counted."""
    import openai

    flush = lambda: True  # noqa: E731
    if arm == "bakeoff":
        import bakeoff

        bakeoff.init(os.environ["BENCH_COLLECTOR"], spool_dir=os.environ["BENCH_SPOOL"])
        flush = lambda: bakeoff.flush(30)  # noqa: E731
    client = openai.OpenAI(base_url=base_url + "/v1", api_key="k")

    def call() -> None:
        result = client.chat.completions.create(model="m", messages=MESSAGES)
        _ = result.choices[0].message.content, result.usage.total_tokens  # read it as an application does

    for _ in range(_WARMUP_CALLS):
        call()
    flush()
    startup = _cpu_s()
    for _ in range(calls):
        call()
    if not flush():
        raise SystemExit("not everything was delivered")
    print(startup, _cpu_s())


def _run(arm: str, base_url: str, calls: int, env: dict[str, str]) -> float:
    """CPU microseconds per call of one child process, its startup subtracted."""
    command = [sys.executable, __file__, "--child", arm, "--base-url", base_url, "--calls", str(calls)]
    done = subprocess.run(command, capture_output=True, text=True, env=env, check=True)
    startup, end = map(float, done.stdout.split())
    return (end - startup) / calls * 1e6


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--calls", type=int, default=2000)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--child", choices=["plain", "bakeoff"])
    parser.add_argument("--base-url")
    args = parser.parse_args()
    if args.child:
        _child(args.child, args.base_url, args.calls)
        return
    server, url = start_simulator()
    receiver, collector = start_receiver()
    per_call: dict[str, list[float]] = {"plain": [], "bakeoff": []}
    try:
        with tempfile.TemporaryDirectory() as spool:
            env = {**os.environ, "BENCH_COLLECTOR": collector, "BENCH_SPOOL": spool}
            for run in range(args.runs):
                arms = ["plain", "bakeoff"] if run % 2 == 0 else ["bakeoff", "plain"]
                for arm in arms:
                    per_call[arm].append(_run(arm, url, args.calls, env))
    finally:
        server.kill()
        receiver.kill()
    plain = statistics.median(per_call["plain"])
    instrumented = statistics.median(per_call["bakeoff"])
    print(f"plain openai CPU per call, whole process (median of {args.runs}): {plain:.0f} us")
    print(f"bakeoff-instrumented CPU per call, whole process: {instrumented:.0f} us")
    print(f"added CPU per call, every thread: {instrumented - plain:.0f} us")
    print(f"added CPU per call, every thread: {100 * (instrumented - plain) / plain:.1f} % of plain")
    spread = {arm: f"{min(v):.0f}-{max(v):.0f}" for arm, v in per_call.items()}
    print(f"range over runs (us/call): plain {spread['plain']}, bakeoff {spread['bakeoff']}")


if __name__ == "__main__":
    main()
