"""Every user mistake, on every command, is one line on stderr naming the problem, and exit status 2.

The walk goes through the real command line (`bakeoff.cli.main`, as the console script calls it); the
missing extras run in a fresh interpreter where the dependency cannot be imported.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from bakeoff.cli import main
from support.fixtures import SimulatorServer

SIMULATED = [
    {"id": "a", "provider": "simulated", "model": "sim-medium", "latency_scale": 0},
    {"id": "b", "provider": "simulated", "model": "sim-small-fast", "latency_scale": 0},
]


def config(folder: Path, name: str, replay: dict[str, Any] | None = None, **top: Any) -> str:
    """A config file: two simulated providers and numeric_match, with `replay` keys replaced."""
    section = {"providers": SIMULATED, "metrics": ["numeric_match"], "cache_dir": str(folder / "cache")}
    path = folder / name
    path.write_text(yaml.safe_dump({**top, "replay": {**section, **(replay or {})}}))
    return str(path)


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    """The files the mistakes refer to, and one good run directory."""
    folder = tmp_path_factory.mktemp("mistakes")
    cases = folder / "cases.jsonl"
    cases.write_text(
        "".join(
            json.dumps({"id": f"c{i}", "input": f"What is {i}+{i}?", "expected": str(2 * i)}) + "\n"
            for i in range(4)
        )
    )
    (folder / "bad.jsonl").write_text('{"id": 1\n')
    (folder / "bad.yaml").write_text("replay: [unclosed\n")
    broken = folder / "broken-run"
    broken.mkdir()
    (broken / "run.json").write_text("{")
    wrong = folder / "wrong-run"
    wrong.mkdir()
    (wrong / "run.json").write_text('{"run_id": 3}')
    ok = config(folder, "ok.yaml")
    assert main(["replay", "--config", ok, "--dataset", str(cases), "--output", str(folder / "runs")]) == 0
    (run,) = (folder / "runs").iterdir()
    provider = {"id": "a", "provider": "simulated", "model": "sim-medium"}
    files = {
        "dir": str(folder),
        "cases": str(cases),
        "ok": ok,
        "run": str(run),
        "db": str(folder / "missing.duckdb"),
        "modle": config(
            folder, "modle.yaml", {"providers": [{"id": "a", "provider": "simulated", "modle": "m"}]}
        ),
        "kind": config(folder, "kind.yaml", {"providers": [{**provider, "provider": "opnai"}]}),
        "metric": config(folder, "metric.yaml", {"metrics": ["contians"]}),
        "option": config(folder, "option.yaml", {"metrics": [{"fuzzy": {"treshold": 0.9}}]}),
        "path": config(folder, "path.yaml", {"metrics": ["no_such_module_here:tone"]}),
        "judge": config(folder, "judge.yaml", {"metrics": [{"llm_judge": {"judge": "nobody"}}]}),
        "key": config(
            folder, "key.yaml", {"providers": [{**provider, "api_key_env": "BAKEOFF_TEST_UNSET_KEY"}]}
        ),
        "baseline": config(folder, "baseline.yaml", {"baseline": "nobody"}),
        "sources": config(folder, "sources.yaml", collector="http://127.0.0.1:9", db="x.duckdb"),
        "top": config(folder, "top.yaml", colector="http://127.0.0.1:9"),
        "interval": config(folder, "interval.yaml", watch={"intervall": 5}),
        "strategy": config(folder, "strategy.yaml", watch={"sample": {"strategy": "randm"}}),
    }
    return files


MISTAKES: list[tuple[str, str, str]] = [
    # (the command line, with {names} from `world`; what the one line must say)
    ("nosuch", "invalid choice: 'nosuch'"),
    ("serve --port abc", "--port: invalid int value: 'abc'"),
    ("serve --port 70000", "--port must be in 1..65535"),
    ("serve --db {dir}/no/such/folder/x.duckdb", "does not exist"),
    ("serve --api-key-file {dir}/no-keys.txt", "--api-key-file"),
    ("serve --log-level loud", "invalid choice: 'loud'"),
    ("sample --strategy randm --n 5 --name x --db {db}", "invalid choice: 'randm'"),
    ("sample --strategy random --n 0 --name x --db {db}", "--n: must be positive"),
    ("sample --strategy random --n 5 --name x --db {db}", "no such file"),
    ("sample --strategy random --n 5 --name x --db {db} --since yesterday", "not an ISO timestamp"),
    ("sample --strategy random --n 5 --name x --db {db} --collector http://127.0.0.1:9", "not allowed with"),
    ("dataset import {dir}/missing.jsonl --name x --db {db}", "missing.jsonl: no such file"),
    ("dataset import {dir}/bad.jsonl --name x --db {db}", "bad.jsonl:1: not valid JSON"),
    ("dataset export", "invalid choice: 'export'"),
    ("replay --dataset {cases}", "--config is required"),
    ("replay --config {dir}/missing.yaml --dataset {cases}", "no such config file"),
    ("replay --config {dir}/bad.yaml --dataset {cases}", "not valid YAML"),
    (
        "replay --config {modle} --dataset {cases}",
        "replay.providers[0].modle: unknown key; did you mean 'model'?",
    ),
    ("replay --config {kind} --dataset {cases}", "unknown provider 'opnai'; did you mean 'openai'?"),
    # Metrics are built when the config loads: the dataset (missing here) is never read.
    (
        "replay --config {metric} --dataset {dir}/none.jsonl",
        "unknown metric 'contians'; did you mean 'contains'?",
    ),
    (
        "replay --config {option} --dataset {cases}",
        "fuzzy: unknown option 'treshold'; did you mean 'threshold'?",
    ),
    ("replay --config {path} --dataset {cases}", "cannot load 'no_such_module_here:tone'"),
    ("replay --config {judge} --dataset {cases}", "judge 'nobody' is not a configured provider"),
    ("replay --config {key} --dataset {cases}", "api_key_env: BAKEOFF_TEST_UNSET_KEY is not set"),
    ("replay --config {baseline} --dataset {cases}", "replay.baseline: 'nobody' is not a replayed provider"),
    ("replay --config {sources} --dataset {cases}", "give either collector or db"),
    ("replay --config {top} --dataset {cases}", "colector: unknown key; did you mean 'collector'?"),
    ("replay --config {ok} --dataset {dir}/missing.jsonl", "--dataset"),
    ("replay --config {ok} --dataset {cases} --providers a,nobody", "--providers: unknown provider 'nobody'"),
    ("replay --config {ok} --dataset {cases} --max-samples 0", "--max-samples: must be at least 1"),
    ("replay --config {ok} --dataset {cases} --concurrency many", "--concurrency: expected a whole number"),
    (
        "replay --config {ok} --dataset {cases} --sweep temperature",
        "--sweep 'temperature': expected PARAM=V1",
    ),
    ("replay --config {ok} --dataset {cases} --ablate everything", "--ablate 'everything': choose from"),
    ("replay --config {ok} --dataset {cases} --alpha 3", "--alpha: must be between 0 and 1"),
    ("replay --config {ok} --dataset {cases} --margin -1", "--margin: must not be negative"),
    ("replay --config {ok} --dataset {cases} --tag nosuch", "no replayable rows with tag 'nosuch'"),
    ("replay --resume {dir}/not-a-run", "--resume {dir}/not-a-run: not a run directory"),
    ("replay --resume {dir}/wrong-run", "run_id: Input should be a valid string"),
    ("compare {dir}/not-a-run", "not a run directory (no run.json)"),
    ("compare {dir}/broken-run", "broken-run/run.json: not valid JSON"),
    ("compare {run} --baseline nobody", "--baseline 'nobody': not a provider of this run"),
    ("compare {run} --compare-with {dir}/missing", "--compare-with"),
    ("compare {run} --format html", "invalid choice: 'html'"),
    ("recommend {run} --weights taste=1", "unknown weight 'taste'"),
    ("recommend {run} --weights quality=abc", "quality needs a number"),
    ("recommend {run} --margin -1", "--margin: must not be negative"),
    ("report {run}", "required: --html"),
    ("report {run} --html {dir}/r.html --baseline nobody", "not a provider of this run"),
    ("watch --config {ok} --once", "the config needs `collector:` or `db:`"),
    ("watch --config {interval} --once", "watch.intervall: unknown key; did you mean 'interval'?"),
    ("watch --config {strategy} --once", "not 'randm'; did you mean 'random'?"),
    ("run", "nothing to run"),
    ("run --sample-rate 2 -- python -c pass", "--sample-rate must be in [0, 1]"),
    ("run -- no-such-program-xyz", "cannot run 'no-such-program-xyz'"),
    ("run --collector notaurl -- python -c pass", "--collector 'notaurl': expected an http"),
    ("demo --calls 0", "--calls: must be at least 1"),
    ("demo --dir /proc/bakeoff-demo", "--dir /proc/bakeoff-demo: cannot create it"),
]


def test_the_walk_is_long_and_covers_every_command() -> None:
    from bakeoff.cli import COMMANDS

    assert len(MISTAKES) >= 30
    assert {line.split()[0] for line, _ in MISTAKES} >= set(COMMANDS)


@pytest.mark.parametrize(("line", "message"), MISTAKES, ids=[line for line, _ in MISTAKES])
def test_a_mistake_is_one_line_and_exit_2(
    line: str,
    message: str,
    world: dict[str, str],
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.chdir(world["dir"])
    monkeypatch.delenv("BAKEOFF_TEST_UNSET_KEY", raising=False)
    monkeypatch.delenv("BAKEOFF_COLLECTOR_URL", raising=False)
    try:
        status = main([part.format(**world) for part in line.split()])
    except SystemExit as exit_:  # argparse's own errors
        status = exit_.code
    err = capsys.readouterr().err
    assert status == 2, err
    assert err.count("\n") == 1 and err.endswith("\n"), err
    assert message.format(**world) in err, err
    assert "Traceback" not in err


@pytest.mark.parametrize(
    ("blocked", "line", "extra"),
    [
        ("yaml", ["replay", "--config", "bakeoff.yaml", "--dataset", "x.jsonl"], "replay"),
        ("fastapi", ["serve", "--db", "x.duckdb"], "collector"),
    ],
)
def test_a_missing_extra_names_the_extra(tmp_path: Path, blocked: str, line: list[str], extra: str) -> None:
    """A fresh interpreter where the dependency cannot be imported, as if the extra were not installed."""
    shadow = tmp_path / "shadow" / blocked
    shadow.mkdir(parents=True)
    (shadow / "__init__.py").write_text(
        f'raise ModuleNotFoundError("No module named {blocked!r}", name={blocked!r})\n'
    )
    env = {**os.environ, "PYTHONPATH": str(tmp_path / "shadow")}
    done = subprocess.run(
        [sys.executable, "-m", "bakeoff.cli", *line],
        capture_output=True,
        text=True,
        env=env,
        cwd=tmp_path,
        timeout=60,
    )
    assert done.returncode == 2, done.stderr
    assert done.stderr == f"bakeoff: error: {blocked} is not installed: pip install 'bakeoff[{extra}]'\n"


def test_an_untranslatable_request_is_skipped_with_its_reason(
    llm_server: SimulatorServer, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A recorded tool_choice that Anthropic cannot express skips that row for that provider, counted."""
    tools = [{"type": "function", "function": {"name": "lookup", "parameters": {"type": "object"}}}]
    rows = []
    for number, choice in enumerate(["auto", "any", {"type": "allowed_tools", "tools": []}]):
        request = {
            "model": "sim-medium",
            "messages": [{"role": "user", "content": f"What is {number} + {number}?"}],
            "tools": tools,
            "tool_choice": choice,
        }
        rows.append(
            {
                "id": f"e{number}",
                "api": "chat.completions",
                "provider": "openai",
                "model": "sim-medium",
                "request": request,
                "response": {"text": str(2 * number)},
                "status": "ok",
            }
        )
    dataset = tmp_path / "events.jsonl"
    dataset.write_text("".join(json.dumps(row) + "\n" for row in rows))
    claude = {"id": "claude", "provider": "anthropic", "model": "sim-medium", "base_url": llm_server.url}
    path = config(tmp_path, "bakeoff.yaml", {"providers": [claude, SIMULATED[0]], "baseline": "a"})
    status = main(["replay", "--config", path, "--dataset", str(dataset), "--output", str(tmp_path / "runs")])
    assert status == 0, capsys.readouterr().err
    (run,) = (tmp_path / "runs").iterdir()
    skipped = json.loads((run / "run.json").read_text())["skipped"]
    assert sorted(s["event_id"] for s in skipped) == ["e1", "e2"] and {s["provider"] for s in skipped} == {
        "claude"
    }
    assert all("tool_choice" in s["reason"] and "no Anthropic equivalent" in s["reason"] for s in skipped)
    assert json.loads((run / "benchmark_results.json").read_text())["skipped"] == 2
    replayed = [json.loads(line) for line in (run / "detailed_results.jsonl").read_text().splitlines()]
    assert sorted((r["event_id"], r["provider"]) for r in replayed) == [
        ("e0", "a"),
        ("e0", "claude"),
        ("e1", "a"),
        ("e2", "a"),
    ]
