"""OTLP logs: what the join costs trace exports, and what joining costs a logs export, on one collector.

A trace export now looks for the GenAI log records of its spans (before submitting them, and again once
they are acknowledged), so its cost may grow with the records stored. Measured in one run on one
collector, 4 concurrent clients, exports of 50 chat spans in protobuf (as the SDK's exporters send them):

- trace exports while no log record is stored: the baseline;
- trace exports after `--records` records of other spans are stored: the ratio to the baseline;
- logs exports of 5 records per span (one record per message, the older conventions) for spans already
  stored, each joined before the answer, against trace exports of as many spans.

Run: python bench/bench_otlp_logs.py [--exports 60] [--records 100000]
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import orjson

from bakeoff.collector import otlp, otlp_logs

SPANS = 50
CLIENTS = 4


def _kv(key: str, value: object) -> dict[str, object]:
    if isinstance(value, int):
        return {"key": key, "value": {"intValue": str(value)}}
    return {"key": key, "value": {"stringValue": str(value)}}


def trace_export(trace: int, first_span: int) -> bytes:
    spans = [
        {
            "traceId": f"{trace:032x}",
            "spanId": f"{first_span + n + 1:016x}",
            "name": "chat gpt-x",
            "startTimeUnixNano": "1772000000000000000",
            "endTimeUnixNano": "1772000000500000000",
            "attributes": [
                _kv("gen_ai.provider.name", "openai"),
                _kv("gen_ai.operation.name", "chat"),
                _kv("gen_ai.request.model", "gpt-x"),
                _kv("gen_ai.usage.input_tokens", 40),
                _kv("gen_ai.usage.output_tokens", 12),
            ],
        }
        for n in range(SPANS)
    ]
    export = orjson.dumps({"resourceSpans": [{"scopeSpans": [{"spans": spans}]}]})
    return otlp.decode_json(export).SerializeToString()


def logs_export(trace: int, first_span: int, spans: int = SPANS) -> bytes:
    text = "lorem ipsum dolor sit amet " * 20
    records = []
    for n in range(spans):
        ids = {"traceId": f"{trace:032x}", "spanId": f"{first_span + n + 1:016x}"}
        for step, (name, body) in enumerate(
            [
                ("gen_ai.system.message", {"content": "be brief"}),
                ("gen_ai.user.message", {"content": text}),
                ("gen_ai.assistant.message", {"content": "an earlier answer"}),
                ("gen_ai.user.message", {"content": "and then?"}),
                ("gen_ai.choice", {"index": 0, "finish_reason": "stop", "message": {"content": text}}),
            ]
        ):
            fields = [{"key": k, "value": {"stringValue": v}} for k, v in body.items() if isinstance(v, str)]
            if "index" in body:
                message = {"kvlistValue": {"values": [{"key": "content", "value": {"stringValue": text}}]}}
                fields = [
                    {"key": "index", "value": {"intValue": "0"}},
                    {"key": "finish_reason", "value": {"stringValue": "stop"}},
                    {"key": "message", "value": message},
                ]
            records.append(
                {
                    **ids,
                    "eventName": name,
                    "timeUnixNano": str(1772000000000000000 + step),
                    "body": {"kvlistValue": {"values": fields}},
                }
            )
    export = orjson.dumps({"resourceLogs": [{"scopeLogs": [{"logRecords": records}]}]})
    return otlp_logs.decode_json(export).SerializeToString()


def post_all(url: str, path: str, bodies: list[bytes]) -> list[float]:
    """POST every body (CLIENTS at a time); each one's latency in ms."""

    def send(body: bytes) -> float:
        started = time.perf_counter()
        response = client.post(path, content=body, headers={"Content-Type": "application/x-protobuf"})
        assert response.status_code == 200, response.text
        return (time.perf_counter() - started) * 1000

    with httpx.Client(base_url=url, timeout=120) as client, ThreadPoolExecutor(CLIENTS) as pool:
        return list(pool.map(send, bodies))


def wait_healthy(url: str) -> None:
    for _ in range(300):
        try:
            with urllib.request.urlopen(url + "/healthz", timeout=1):
                return
        except OSError:
            time.sleep(0.1)
    raise RuntimeError("the collector did not start")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--exports", type=int, default=60)
    parser.add_argument("--records", type=int, default=100_000)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        port = 7931
        url = f"http://127.0.0.1:{port}"
        command = [sys.executable, "-m", "bakeoff.cli", "serve", "--db", str(Path(folder) / "b.duckdb")]
        server = subprocess.Popen([*command, "--port", str(port)], stderr=subprocess.DEVNULL)
        try:
            wait_healthy(url)
            post_all(url, "/v1/traces", [trace_export(9, 10**6 + SPANS * n) for n in range(4)])  # warm up
            started = time.perf_counter()
            empty = post_all(url, "/v1/traces", [trace_export(1, SPANS * n) for n in range(args.exports)])
            empty_s = time.perf_counter() - started
            filler = [logs_export(2, 500 * n, 100) for n in range(args.records // 500)]
            post_all(url, "/v1/logs", filler)
            started = time.perf_counter()
            full = post_all(url, "/v1/traces", [trace_export(3, SPANS * n) for n in range(args.exports)])
            full_s = time.perf_counter() - started
            started = time.perf_counter()
            joins = post_all(url, "/v1/logs", [logs_export(3, SPANS * n) for n in range(args.exports)])
            joins_s = time.perf_counter() - started
            check = httpx.get(f"{url}/v1/events/otlp-{3:032x}-{SPANS * 7 + 4:016x}").json()
            assert len(check["request"]["messages"]) == 4 and check["response"]["text"], check
        finally:
            server.terminate()
            server.wait(30)
    spans = args.exports * SPANS
    print(
        f"trace exports, no log records stored: {spans / empty_s:,.0f} spans/s, "
        f"p50 {statistics.median(empty):.1f} ms"
    )
    print(
        f"trace exports, {args.records:,} log records stored: {spans / full_s:,.0f} spans/s "
        f"({full_s / empty_s:.2f}x the baseline's time), p50 {statistics.median(full):.1f} ms"
    )
    print(
        f"logs exports joining 5 records into each stored span: {spans / joins_s:,.0f} spans/s "
        f"({joins_s / full_s:.2f}x the time of their trace exports), p50 {statistics.median(joins):.1f} ms"
    )


if __name__ == "__main__":
    main()
