"""Reading a finished (or partial) run directory back, for `compare`, `recommend`, `report` and `watch`."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson

from bakeoff.errors import UsageError
from bakeoff.replay.run.results import RunDirectory
from bakeoff.replay.stats.analysis import AnalysisOptions, analyse


@dataclass
class RunFiles:
    """A run's run.json, detailed rows and metric kinds."""

    path: Path
    meta: dict[str, Any]
    rows: list[dict[str, Any]]

    @property
    def kinds(self) -> dict[str, str]:
        return dict(self.meta.get("metrics") or {})

    def analyse(self, options: AnalysisOptions) -> tuple[dict[str, Any], dict[str, Any]]:
        """The two summaries again, with these options (another baseline, alpha or margin)."""
        if options.baseline is None:
            options.baseline = self.meta.get("baseline")
        if options.baseline not in (self.meta.get("providers") or []):
            known = ", ".join(self.meta.get("providers") or [])
            raise UsageError(f"--baseline {options.baseline!r}: not a provider of this run (known: {known})")
        benchmark, comparison = analyse(self.rows, self.kinds, options, self.meta)
        return benchmark, comparison


def load_run(path: str | Path) -> RunFiles:
    """The run in `path`; a UsageError when it is not a run directory."""
    location = Path(path)
    run_file = location / "run.json"
    if not run_file.is_file():
        raise UsageError(f"{path}: not a run directory (no run.json)")
    try:
        meta = orjson.loads(run_file.read_bytes())
    except orjson.JSONDecodeError as exc:
        raise UsageError(f"{run_file}: not valid JSON: {exc}") from None
    return RunFiles(location, meta, RunDirectory(location).read_rows())
