"""`bakeoff serve` refuses unusable settings with one line and exit status 2."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        (["--port", "70000"], "--port"),
        (["--port", "seven"], "--port"),
        (["--memory-limit", "lots"], "--memory-limit"),
        (["--retention-days", "-1"], "--retention-days"),
        (["--db", "/nonexistent-folder/x.duckdb"], "does not exist"),
        (["--api-key-file", "/nonexistent-keys"], "--api-key-file"),
    ],
)
def test_bad_settings(args: list[str], needle: str, tmp_path: Path) -> None:
    full = ["--db", str(tmp_path / "db.duckdb"), *args] if "--db" not in args else args
    result = subprocess.run(
        [sys.executable, "-m", "bakeoff.cli", "serve", *full], capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 2
    assert result.stderr.count("\n") == 1 and needle in result.stderr
