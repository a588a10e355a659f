"""Shared pytest configuration: `tests/support` holds helpers (local LLM server, collector fixture)."""
