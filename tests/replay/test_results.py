"""Run directories: rows appended and readable at any time, torn lines survived, atomic summaries."""

from __future__ import annotations

from pathlib import Path

from bakeoff.replay.run.results import DETAILED, RunDirectory


def row(event_id: str, provider: str = "p", repeat: int = 0) -> dict:
    return {
        "event_id": event_id,
        "provider": provider,
        "repeat": repeat,
        "output": {"text": "x"},
        "scores": {},
        "latency_ms": 1.0,
        "ttft_ms": None,
        "usage": {},
        "cost": None,
        "error": None,
    }


def test_append_read_and_resume_keys(tmp_path: Path) -> None:
    run = RunDirectory(tmp_path / "run-1")
    run.append(row("a"))
    run.append(row("a", "q"))
    assert [r["event_id"] for r in run.read_rows()] == ["a", "a"]  # readable while the run goes on
    run.close()
    assert RunDirectory(tmp_path / "run-1").done() == {("a", "p", 0), ("a", "q", 0)}
    assert run.run_id == "run-1"


def test_a_torn_last_line_is_ignored_and_not_glued_to(tmp_path: Path) -> None:
    run = RunDirectory(tmp_path / "run-2")
    run.append(row("a"))
    run.close()
    with open(tmp_path / "run-2" / DETAILED, "ab") as file:
        file.write(b'{"event_id": "b", "prov')  # killed mid-write
    resumed = RunDirectory(tmp_path / "run-2")
    assert resumed.done() == {("a", "p", 0)}
    resumed.append(row("b"))
    resumed.close()
    assert [r["event_id"] for r in RunDirectory(tmp_path / "run-2").read_rows()] == ["a", "b"]


def test_summaries_are_written_atomically(tmp_path: Path) -> None:
    run = RunDirectory(tmp_path / "run-3")
    run.write("benchmark_results.json", {"run_id": "run-3", "metrics": {}})
    assert run.read("benchmark_results.json") == {"run_id": "run-3", "metrics": {}}
    assert not list((tmp_path / "run-3").glob(".*.tmp"))
