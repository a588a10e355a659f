"""The `bakeoff` console script: every subcommand has --help; bad arguments exit 2 with one line."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

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


def test_version_is_the_packages_own() -> None:
    from importlib.metadata import version

    result = _bakeoff("--version")
    assert result.returncode == 0
    assert result.stdout.strip() == f"bakeoff {version('bakeoff')}"


# Runs `bakeoff ARGS` with the named top-level modules made unimportable, as on a machine that installed
# bare `bakeoff` (the SDK only): a finder in front of sys.meta_path refuses them.
_WITHOUT = """
import sys
from pathlib import Path
from importlib.abc import MetaPathFinder

class Refuse(MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in {blocked!r}:
            raise ModuleNotFoundError(f"No module named {{name!r}}", name=name)
        return None

sys.meta_path.insert(0, Refuse())
from bakeoff.cli import main
sys.exit(main({argv!r}))
"""


@pytest.mark.parametrize(
    ("argv", "blocked", "extra"),
    [
        (["serve", "--db", "x.duckdb"], ["fastapi", "uvicorn", "duckdb", "pyarrow"], "collector"),
        (
            ["sample", "--strategy", "random", "--n", "5", "--name", "d", "--db", "x.duckdb"],
            ["duckdb", "pyarrow"],
            "collector",
        ),
        (["replay", "--config", "missing.yaml"], ["yaml", "numpy", "scipy"], "replay"),
        (["demo"], ["openai", "anthropic"], "examples"),
    ],
)
def test_a_missing_extra_is_one_line_naming_it(
    argv: list[str], blocked: list[str], extra: str, tmp_path: Path
) -> None:
    code = _WITHOUT.format(blocked=set(blocked), argv=argv)
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=120, cwd=tmp_path
    )
    assert result.returncode == 2, result.stderr
    assert result.stderr.count("\n") == 1, result.stderr
    assert f"pip install 'bakeoff[{extra}]'" in result.stderr
