"""Fixtures of the SDK tests: the recorded-body server."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from canned import CannedServer


@pytest.fixture(scope="session")
def canned() -> Iterator[CannedServer]:
    """The recorded-body server, shared by the tests of this folder."""
    server = CannedServer()
    try:
        yield server
    finally:
        server.close()
