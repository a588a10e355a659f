"""The README's first shell block is the two commands a new user runs; CI runs the second verbatim."""

from __future__ import annotations

import argparse
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
    assert install_and_test.startswith("pip install") and install_and_test.endswith("&& scripts/test")
    assert "pytest" in (ROOT / "scripts" / "test").read_text()


def test_ci_runs_both_readme_commands_verbatim() -> None:
    ci = [line.strip() for line in (ROOT / ".ci" / "run").read_text().splitlines()]
    install_and_run, install_and_test = first_shell_block()
    assert install_and_test in ci and install_and_run in ci


def section(title: str) -> str:
    text = (ROOT / "README.md").read_text()
    start = text.index(f"## {title}\n")
    end = text.find("\n## ", start + 1)
    return text[start : end if end != -1 else None]


def option_strings(parser: argparse.ArgumentParser) -> set[str]:
    """Every option of a parser and of its subcommands' parsers."""
    found: set[str] = set()
    for action in parser._actions:
        found.update(action.option_strings)
        if isinstance(action, argparse._SubParsersAction):
            for child in action.choices.values():
                found |= option_strings(child)
    return found


def test_every_documented_flag_exists_and_every_command_is_documented() -> None:
    from bakeoff.cli import COMMANDS, build_parser

    documented: dict[str, list[str]] = {}
    for line in section("CLI reference").splitlines():
        match = re.match(r"- `bakeoff (\w+)` — (.*)", line)
        if match:
            documented[match.group(1)] = re.findall(r"--[a-z0-9][a-z0-9-]*", match.group(2))
    assert set(documented) == set(COMMANDS)
    for command, flags in documented.items():
        parser = build_parser(command)
        subparsers = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
        known = option_strings(subparsers.choices[command])
        missing = [flag for flag in flags if flag not in known]
        assert not missing, f"bakeoff {command}: documented but not accepted: {missing}"


def test_the_documented_config_loads() -> None:
    import yaml

    from bakeoff.replay.config import parse_config
    from bakeoff.replay.scoring.registry import build_metrics

    block = re.search(r"```yaml\n(.*?)```", section("Config reference"), re.S)
    assert block
    config = parse_config(yaml.safe_load(block.group(1)), "README")
    ids = [p.id for p in config.replay.providers]
    builtin = [m for m in config.replay.metrics if not (isinstance(m, str) and ":" in m)]
    assert len(build_metrics(builtin, ids)) == len(builtin) == 3
    assert config.watch.sample.since_hours == 24


def test_the_ci_example_uses_real_commands() -> None:
    import yaml

    from bakeoff.cli import build_parser

    workflow = yaml.safe_load((ROOT / "examples" / "ci" / "bakeoff-gate.yml").read_text())
    commands = [
        line.strip()
        for step in workflow["jobs"]["gate"]["steps"]
        for line in str(step.get("run", "")).splitlines()
        if line.strip().startswith("bakeoff ")
    ]
    assert [c.split()[1] for c in commands] == ["replay", "compare"]
    for command in commands:
        words = shlex.split(command.split(" > ")[0].replace('"$RUN"', "runs/x"))[1:]
        build_parser(words[0]).parse_args(words)  # exits 2 on an unknown flag
