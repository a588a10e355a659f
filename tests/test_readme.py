"""The README's first shell block is the two commands a new user runs; CI runs the second verbatim."""

from __future__ import annotations

import re
import shlex
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def first_shell_block() -> list[str]:
    text = (ROOT / "README.md").read_text()
    match = re.search(r"```(?:sh|bash|shell|console)\n(.*?)```", text, re.S)
    assert match, "README has no shell code block"
    return [line for line in match.group(1).splitlines() if line.strip()]


def test_first_block_is_install_and_main_job_then_install_and_tests() -> None:
    lines = first_shell_block()
    assert len(lines) == 2
    install_and_run, install_and_test = lines
    assert install_and_run.startswith("pip install") and " && " in install_and_run
    job = shlex.split(install_and_run.split(" && ", 1)[1])
    assert job == ["bakeoff", "demo"]
    assert install_and_test.startswith("pip install") and "pytest" in install_and_test


def test_ci_runs_the_readme_test_command_verbatim() -> None:
    ci = (ROOT / ".ci" / "run").read_text().splitlines()
    assert first_shell_block()[1] in [line.strip() for line in ci]
