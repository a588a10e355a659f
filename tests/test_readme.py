"""The README's first shell block is the two commands a new user runs; CI runs the second verbatim."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def first_shell_block() -> list[str]:
    text = (ROOT / "README.md").read_text()
    match = re.search(r"```(?:sh|bash|shell|console)\n(.*?)```", text, re.S)
    assert match, "README has no shell code block"
    return [line for line in match.group(1).splitlines() if line.strip()]


def test_first_block_is_install_and_demo_then_install_and_tests() -> None:
    lines = first_shell_block()
    assert len(lines) == 2
    install_demo, install_tests = lines
    assert install_demo.startswith("pip install") and "bakeoff demo" in install_demo
    assert install_tests.startswith("pip install") and "pytest" in install_tests


def test_ci_runs_the_readme_test_command_verbatim() -> None:
    ci = (ROOT / ".ci" / "run").read_text().splitlines()
    assert first_shell_block()[1] in [line.strip() for line in ci]
