"""Importing the SDK stays light: no server, statistics or client libraries are pulled in."""

from __future__ import annotations

import subprocess
import sys


def test_light_import() -> None:
    code = (
        "import sys, bakeoff; heavy = {'fastapi', 'duckdb', 'scipy', 'numpy', 'openai', 'anthropic',"
        " 'pydantic'}"
        " & set(sys.modules); print(sorted(heavy))"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert result.stdout.strip() == "[]", result.stderr
