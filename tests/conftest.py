"""Shared pytest configuration: `tests/support` holds helpers (local LLM server, receiver, collector)."""

from support.fixtures import browser, collector, llm_server, receiver, recorded

__all__ = ["browser", "collector", "llm_server", "receiver", "recorded"]
