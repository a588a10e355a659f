"""Datasets through the API and the CLI: samples, exports in the contract's format, imports, errors."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import httpx

from bakeoff.schema import validate_event
from support import stores
from support.collector import CollectorProcess


def events(count: int) -> list[dict]:
    return [
        {
            "id": f"e{i}",
            "ts": f"2026-03-01T10:{i % 60:02d}:00Z",
            "provider": "openai",
            "api": "chat.completions",
            "model": "gpt-a" if i % 2 else "gpt-b",
            "tags": ["even" if i % 2 == 0 else "odd"],
            "request": {"messages": [{"role": "user", "content": f"q{i}"}]},
            "response": {"text": f"a{i}", "finish_reason": "stop", "tool_calls": None},
        }
        for i in range(count)
    ]


def bakeoff_cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "bakeoff.cli", *args], capture_output=True, text=True, timeout=120
    )


def test_sample_and_export_over_http(collector: CollectorProcess) -> None:
    httpx.post(collector.url + "/v1/events", json={"events": events(40)})
    body = {"name": "strat", "strategy": "stratified", "n": 10, "by": "model", "seed": 3}
    made = httpx.post(collector.url + "/v1/samples", json=body)
    assert made.status_code == 201
    assert made.json()["size"] == 10 and made.json()["population"] == 40
    assert httpx.post(collector.url + "/v1/samples", json=body).status_code == 409
    exported = httpx.get(collector.url + "/v1/datasets/strat")
    assert exported.headers["content-type"].startswith("application/x-ndjson")
    rows = [json.loads(line) for line in exported.text.splitlines()]
    assert len(rows) == 10 and sum(r["weight"] for r in rows) == 40
    for row in rows:
        validate_event({k: v for k, v in row.items() if k not in ("weight", "stratum")})
    listed = httpx.get(collector.url + "/v1/datasets").json()["datasets"]
    assert [d["name"] for d in listed] == ["strat"]
    assert httpx.get(collector.url + "/v1/datasets/nope").status_code == 404


def test_bad_sample_requests(collector: CollectorProcess) -> None:
    url = collector.url + "/v1/samples"
    assert httpx.post(url, json={"name": "x", "strategy": "telepathy", "n": 5}).status_code == 422
    assert httpx.post(url, json={"name": "x", "strategy": "random", "n": 0}).status_code == 422
    assert httpx.post(url, json={"name": "../etc", "strategy": "random", "n": 5}).status_code == 422
    bad_filter = {"name": "x", "strategy": "random", "n": 5, "filters": {"colour": "red"}}
    assert httpx.post(url, json=bad_filter).status_code == 422


def test_sample_cli_against_a_collector_and_a_file(collector: CollectorProcess, tmp_path: Path) -> None:
    httpx.post(collector.url + "/v1/events", json={"events": events(30)})
    out = tmp_path / "random.jsonl"
    same_sample = ["sample", "--strategy", "random", "--n", "12", "--seed", "5"]
    result = bakeoff_cli(*same_sample, "--name", "r", "--collector", collector.url, "--out", str(out))
    assert result.returncode == 0, result.stderr
    assert "dataset r: 12 of 30 events" in result.stdout
    over_http = [json.loads(line)["id"] for line in out.read_text().splitlines()]
    collector.stop()
    from_file = tmp_path / "file.jsonl"
    result = bakeoff_cli(
        *same_sample, "--name", "r2", *stores.cli_args(collector.db), "--out", str(from_file)
    )
    assert result.returncode == 0, result.stderr
    assert [json.loads(line)["id"] for line in from_file.read_text().splitlines()] == over_http


def test_sample_cli_usage_errors(tmp_path: Path) -> None:
    for args, needle in [
        (["--strategy", "random", "--n", "-3", "--name", "x"], "--n"),
        (["--strategy", "nope", "--n", "3", "--name", "x"], "--strategy"),
        (
            ["--strategy", "random", "--n", "3", "--name", "x", "--db", str(tmp_path / "missing.duckdb")],
            "no such",
        ),
        (["--strategy", "random", "--n", "3", "--name", "x", "--since", "soon"], "--since"),
        (
            ["--strategy", "random", "--n", "3", "--name", "x", "--collector", "http://127.0.0.1:9"],
            "cannot reach",
        ),
    ]:
        result = bakeoff_cli("sample", *args)
        assert result.returncode == 2, (args, result.stderr)
        assert result.stderr.count("\n") == 1 and needle in result.stderr


def test_import_test_cases_from_each_format(collector: CollectorProcess, tmp_path: Path) -> None:
    files = {
        "cases.jsonl": '{"id": "c1", "input": "2+2?", "expected": "4", "tags": ["math"]}\n'
        '{"id": "c2", "input": [{"role": "user", "content": "hi"}], "expected": {"greeting": true}}\n',
        "cases.csv": 'id,input,expected,tags\nv1,capital of France?,Paris,"geo,easy"\n',
        "cases.yaml": "- id: y1\n  input: colour of the sky?\n  expected: blue\n",
    }
    for name, text in files.items():
        path = tmp_path / name
        path.write_text(text)
        result = bakeoff_cli(
            "dataset", "import", str(path), "--name", path.suffix[1:], "--collector", collector.url
        )
        assert result.returncode == 0, result.stderr
    jsonl = [json.loads(line) for line in httpx.get(collector.url + "/v1/datasets/jsonl").text.splitlines()]
    assert [r["expected"] for r in jsonl] == ["4", {"greeting": True}]
    assert jsonl[0]["request"]["messages"] == [{"role": "user", "content": "2+2?"}] and jsonl[0]["tags"] == [
        "math"
    ]
    csv_row = json.loads(httpx.get(collector.url + "/v1/datasets/csv").text)
    assert csv_row["expected"] == "Paris" and csv_row["tags"] == ["geo", "easy"]
    assert json.loads(httpx.get(collector.url + "/v1/datasets/yaml").text)["expected"] == "blue"


def test_import_errors_name_the_line(tmp_path: Path, collector: CollectorProcess) -> None:
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"id": "a", "input": "x"}\n{broken\n')
    result = bakeoff_cli("dataset", "import", str(bad), "--name", "b", "--collector", collector.url)
    assert result.returncode == 2 and "bad.jsonl:2" in result.stderr
    missing = tmp_path / "m.jsonl"
    missing.write_text('{"id": "a", "question": "x"}\n')
    result = bakeoff_cli("dataset", "import", str(missing), "--name", "m", "--collector", collector.url)
    assert result.returncode == 2 and "input" in result.stderr
