"""Replay recorded prompts against alternative providers, score the answers and compare providers."""
