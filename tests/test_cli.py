"""The `bakeoff` console script: every subcommand has --help; bad arguments exit 2 with one line."""

from __future__ import annotations

import subprocess
import sys

import pytest

from bakeoff.cli import COMMANDS, main


def _bakeoff(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "bakeoff.cli", *args], capture_output=True, text=True, timeout=120
    )


def test_top_level_help_lists_every_command() -> None:
    result = _bakeoff("--help")
    assert result.returncode == 0
    for name in COMMANDS:
        assert name in result.stdout


@pytest.mark.parametrize("name", sorted(COMMANDS))
def test_every_subcommand_has_help(name: str, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main([name, "--help"])
    assert exit_info.value.code == 0
    assert "usage: bakeoff " + name in capsys.readouterr().out


def test_unknown_command_is_one_line_exit_2() -> None:
    result = _bakeoff("frobnicate")
    assert result.returncode == 2
    assert result.stderr.count("\n") == 1
    assert "invalid choice" in result.stderr


def test_no_command_prints_help_and_exits_2(capsys: pytest.CaptureFixture[str]) -> None:
    assert main([]) == 2
    assert "COMMAND" in capsys.readouterr().out
