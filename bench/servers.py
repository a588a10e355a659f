"""Servers the benchmarks run in processes of their own, so they do not share the measured process."""

from __future__ import annotations

import subprocess
import sys

_RECEIVER = """
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
class H(BaseHTTPRequestHandler):
    protocol_version = 'HTTP/1.1'  # keep-alive, as the collector (uvicorn) answers
    def log_message(self, *a): pass
    def do_POST(self):
        self.rfile.read(int(self.headers['Content-Length']))
        self.send_response(202); self.send_header('Content-Length', '0'); self.end_headers()
s = ThreadingHTTPServer(('127.0.0.1', 0), H)
print(f'http://127.0.0.1:{s.server_address[1]}', flush=True)
s.serve_forever()
"""


def _start(code: str) -> tuple[subprocess.Popen[str], str]:
    process = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True)
    assert process.stdout is not None
    return process, process.stdout.readline().strip()


def start_simulator(fixed_latency_ms: float | None = None) -> tuple[subprocess.Popen[str], str]:
    """The simulated OpenAI/Anthropic server; returns (process, base URL)."""
    return _start(
        "import time; from bakeoff.replay.simulator.server import SimulatorServer\n"
        f"s = SimulatorServer(fixed_latency_ms={fixed_latency_ms!r}); s.start(); print(s.url, flush=True)\n"
        "time.sleep(3600)"
    )


def start_receiver() -> tuple[subprocess.Popen[str], str]:
    """A minimal collector stand-in that accepts every POST with 202; returns (process, base URL)."""
    return _start(_RECEIVER)
