"""Reading a finished (or partial) run directory back, for `compare`, `recommend`, `report` and `watch`."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bakeoff.errors import UsageError
from bakeoff.replay.run.results import RunDirectory
from bakeoff.replay.run.state import RunState, read_state
from bakeoff.replay.stats.analysis import AnalysisOptions, analyse


@dataclass
class RunFiles:
    """A run's run.json, detailed rows and metric kinds."""

    path: Path
    meta: RunState
    rows: list[dict[str, Any]]

    @property
    def kinds(self) -> dict[str, str]:
        return dict(self.meta.metrics)

    def analyse(self, options: AnalysisOptions) -> tuple[dict[str, Any], dict[str, Any]]:
        """The two summaries again, with these options (another baseline, alpha or margin)."""
        if options.baseline is None:
            options.baseline = self.meta.baseline
        if options.baseline not in self.meta.providers:
            known = ", ".join(self.meta.providers)
            raise UsageError(f"--baseline {options.baseline!r}: not a provider of this run (known: {known})")
        benchmark, comparison = analyse(self.rows, self.kinds, options, self.meta.to_json())
        return benchmark, comparison


def load_run(path: str | Path) -> RunFiles:
    """The run in `path`; a UsageError when it is not a run directory."""
    location = Path(path)
    return RunFiles(location, read_state(location), RunDirectory(location).read_rows())
