"""What a run directory's `run.json` holds: one typed model that is also the file's schema.

`replay` writes it when a run starts and again after every run or round; `--resume`, `compare`,
`recommend`, `report` and `watch` read it back. Unknown keys are ignored and every key added since the
first version has a default, so a `run.json` written by an older bakeoff still loads. The JSON Schema
is :func:`run_json_schema`.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import orjson
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from bakeoff.errors import UsageError

RUN_FILE = "run.json"
Status = Literal["running", "completed", "budget", "decided", "interrupted"]


@dataclass
class ReplayOptions:
    """The command line's choices (each overrides the config's value when given)."""

    dataset: str | None = None
    tag: str | None = None
    providers: list[str] | None = None
    max_samples: int | None = None
    concurrency: int | None = None
    cost_limit: float | None = None
    output: str | None = None
    no_cache: bool = False
    repeat: int = 1
    sweep: str | None = None
    ablate: str | None = None
    until_decided: bool = False
    seed: int = 0
    alpha: float = 0.05
    margin: float | None = None  # None: the config's `replay.margin`, else 0.02
    round_size: int = 50


class _Part(BaseModel):
    model_config = ConfigDict(extra="ignore")


class RowSkip(_Part):
    """A dataset row that is not replayed at all (a failed recording, an embeddings call)."""

    event_id: str
    reason: str


class ProviderSkip(_Part):
    """A row one provider could not be sent (an untranslatable request, a missing part to ablate)."""

    event_id: str
    provider: str
    reason: str


class Decision(_Part):
    """One candidate x metric under `--until-decided`: its confidence sequence so far."""

    provider: str
    metric: str
    n: int
    decision: str  # better | worse | non-inferior | undecided
    cs95: tuple[float | None, float | None]


class Sequential(_Part):
    """The rounds replayed so far and where each comparison stands."""

    rounds: int
    decisions: list[Decision] = Field(default_factory=list)


class RunState(_Part):
    """A run's metadata: what it replays and how (enough to resume it), and how far it got."""

    run_id: str
    timestamp: str  # RFC 3339 UTC, when the run started
    dataset: str | None = None
    config: dict[str, Any]  # the config as loaded; validated again (with key paths) when resumed
    options: ReplayOptions = Field(default_factory=ReplayOptions)
    providers: list[str] = Field(default_factory=list)  # every provider of the results, baseline included
    baseline: str
    recorded_baseline: bool = False  # the baseline is production's recorded answers
    metrics: dict[str, str] = Field(default_factory=dict)  # metric -> kind: "pass" | "score"
    simulated: bool = False
    status: Status = "running"
    skipped_rows: list[RowSkip] = Field(default_factory=list)
    skipped: list[ProviderSkip] = Field(default_factory=list)
    requests: int | None = None
    cache_hits: int | None = None
    retries: int | None = None
    spend: float | None = None  # USD sent to providers under test, judges included
    judge_cost: float | None = None
    unpriced_models: list[str] = Field(default_factory=list)
    sequential: Sequential | None = None

    def to_json(self) -> dict[str, Any]:
        """The JSON object of `run.json` (what the collector's runs table stores too)."""
        data = self.model_dump(mode="json")
        if data["sequential"] is None:
            del data["sequential"]  # present only under --until-decided, as before
        return data

    def write(self, path: Path) -> None:
        """Write `run.json` into the run directory `path`, atomically."""
        from bakeoff.replay.run.results import write_json

        write_json(path / RUN_FILE, self.to_json())


def read_state(path: Path, flag: str = "") -> RunState:
    """The `run.json` of the run directory `path`; a one-line UsageError when there is none or it is bad.

    `flag` prefixes the message (`--resume`), so the user sees which argument was wrong.
    """
    prefix = f"{flag} {path}" if flag else str(path)
    file = path / RUN_FILE
    if not file.is_file():
        raise UsageError(f"{prefix}: not a run directory (no {RUN_FILE})")
    try:
        return RunState.model_validate(orjson.loads(file.read_bytes()))
    except orjson.JSONDecodeError as exc:
        raise UsageError(f"{file}: not valid JSON: {exc}") from None
    except ValidationError as exc:
        problem = exc.errors()[0]
        where = ".".join(str(p) for p in problem["loc"]) or "(top level)"
        raise UsageError(f"{file}: {where}: {problem['msg']}") from None


def run_json_schema() -> dict[str, Any]:
    """The JSON Schema of `run.json`."""
    return RunState.model_json_schema()
