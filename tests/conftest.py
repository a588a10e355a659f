"""Shared pytest configuration: `tests/support` holds helpers (local LLM server, receiver, collector)."""

from support.fixtures import llm_server, receiver, recorded

__all__ = ["llm_server", "receiver", "recorded"]
