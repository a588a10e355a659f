"""Fixtures shared by the test folders: a simulated LLM server, the SDK recording into memory, a receiver."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

import bakeoff
from bakeoff.replay.simulator_server import SimulatorServer
from bakeoff.shipping.base import InMemorySink
from support.collector import CollectorProcess
from support.receiver import Receiver


@pytest.fixture(scope="session")
def llm_server() -> Iterator[SimulatorServer]:
    """An OpenAI/Anthropic-compatible simulated server on 127.0.0.1 (echo answers, no latency)."""
    with SimulatorServer() as server:
        yield server


@pytest.fixture()
def recorded() -> Iterator[InMemorySink]:
    """bakeoff instrumenting the clients, recording into memory; undone after the test."""
    sink = InMemorySink()
    bakeoff.init(sink=sink, project="tests")
    try:
        yield sink
    finally:
        bakeoff.shutdown()


@pytest.fixture()
def receiver() -> Iterator[Receiver]:
    """A real HTTP receiver standing in for the collector."""
    server = Receiver().start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture()
def collector(tmp_path_factory: pytest.TempPathFactory) -> Iterator[CollectorProcess]:
    """A real collector (uvicorn + DuckDB file) in a subprocess."""
    process = CollectorProcess(tmp_path_factory.mktemp("collector") / "bakeoff.duckdb").start()
    try:
        yield process
    finally:
        process.stop()
