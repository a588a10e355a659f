"""Fixtures shared by the test folders: a simulated LLM server, the SDK recording into memory, a receiver."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

import bakeoff
from bakeoff.replay.simulator.server import SimulatorServer
from bakeoff.shipping.base import InMemorySink
from support.collector import CollectorProcess
from support.receiver import Receiver

CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-quic",
]


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    """Headless Chromium (Debian's package) driven by Playwright.

    Assertions wait up to 20 s for the page to show what they expect, not Playwright's 5: the suite runs
    several workers per core, and a collector's first reads on DuckLake (the catalog attached, cold)
    can take seconds there; what the tests check is what the pages show, not how soon."""
    from playwright.sync_api import expect, sync_playwright

    expect.set_options(timeout=20_000)

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path="/usr/bin/chromium", args=CHROMIUM_ARGS)
        yield browser
        browser.close()


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
