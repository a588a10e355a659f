"""Shared pytest configuration: `tests/support` holds helpers (local LLM server, receiver, collector)."""

from support.fixtures import browser, collector, llm_server, receiver, recorded
from support.postgres import ducklake_target, postgres_cluster

__all__ = [
    "browser",
    "collector",
    "ducklake_target",
    "llm_server",
    "postgres_cluster",
    "receiver",
    "recorded",
]
