"""Shared pytest configuration: `tests/support` holds helpers (local LLM server, receiver, collector)."""

from support.fixtures import collector, llm_server, receiver, recorded

__all__ = ["collector", "llm_server", "receiver", "recorded"]
