"""The replay config file (YAML): where the data is, which providers to try, how to score and spend.

Loading validates everything at once; a mistake is one :class:`~bakeoff.errors.ConfigError` line that
names the key path and the problem, with a suggestion for misspelt keys, values, provider kinds and
metric names. :func:`load_config` also builds the metrics, so a metric that cannot be built fails
there, before any dataset is read.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, PrivateAttr, ValidationError, model_validator

from bakeoff.config_file import explain, read_yaml_mapping
from bakeoff.errors import ConfigError
from bakeoff.monitor_config import AlertsSection, Monitor
from bakeoff.replay.providers.config import ProviderConfig

if TYPE_CHECKING:
    from bakeoff.replay.scoring.registry import MetricPlan


class ReplaySection(BaseModel):
    """The `replay:` section."""

    model_config = ConfigDict(extra="forbid")

    providers: list[ProviderConfig] = Field(min_length=1)
    baseline: str | None = None
    metrics: list[str | dict[str, Any]] = Field(default_factory=list)
    suites: dict[str, list[str | dict[str, Any]]] = Field(default_factory=dict)
    max_samples: int | None = Field(default=None, gt=0)
    concurrency: int = Field(default=8, ge=1)
    timeout: float = Field(default=60.0, gt=0)
    cost_limit: float | None = Field(default=None, gt=0)
    margin: float | None = Field(default=None, ge=0)  # non-inferiority margin; None: 0.02
    retries: int = Field(default=3, ge=0)
    output: str = "./bakeoff-runs"
    cache_dir: str | None = None

    @model_validator(mode="after")
    def _unique_ids(self) -> ReplaySection:
        ids = [p.id for p in self.providers]
        duplicates = sorted({i for i in ids if ids.count(i) > 1})
        if duplicates:
            raise ValueError(f"provider ids must be unique: {', '.join(duplicates)}")
        return self


class WatchSample(BaseModel):
    """What each check replays: a fresh sample of the recorded traffic."""

    model_config = ConfigDict(extra="forbid")

    strategy: Literal["random", "stratified", "feedback", "errors", "recent", "diverse"] = "recent"
    n: int = Field(default=200, gt=0)
    by: Literal["tag", "model", "provider"] = "tag"
    since_hours: float | None = Field(default=None, gt=0)  # only traffic of the last hours
    filters: dict[str, str] = Field(default_factory=dict)


class WatchSection(BaseModel):
    """The `watch:` section: how often to check and where alerts go."""

    model_config = ConfigDict(extra="forbid")

    interval: float = Field(default=3600.0, gt=0)  # seconds between checks
    sample: WatchSample = Field(default_factory=WatchSample)
    margin: float = Field(default=0.0, ge=0)
    alpha: float = Field(default=0.05, gt=0, lt=1)
    alert_file: str | None = None  # JSON lines, one alert each
    alert_webhook: str | None = None  # POSTed one JSON alert each


class ReplayConfig(BaseModel):
    """The whole file: a collector URL or a DuckDB file, the replay section, and optionally watch."""

    model_config = ConfigDict(extra="forbid")

    collector: str | None = None
    db: str | None = None
    replay: ReplaySection
    watch: WatchSection = Field(default_factory=WatchSection)
    monitors: list[Monitor] = Field(default_factory=list)  # read by `bakeoff watch` (monitor_config.py)
    alerts: AlertsSection = Field(default_factory=AlertsSection)

    _source: str = PrivateAttr(default="config")
    _plan: MetricPlan | None = PrivateAttr(default=None)

    @model_validator(mode="after")
    def _one_source(self) -> ReplayConfig:
        if self.collector and self.db:
            raise ValueError("give either collector or db, not both")
        return self

    @property
    def source(self) -> str:
        """Where the config was read from (a file's path), for the messages that name a key in it."""
        return self._source

    @property
    def metric_plan(self) -> MetricPlan:
        """The metrics of `replay.metrics` and `replay.suites`, built once (else a ConfigError)."""
        if self._plan is None:
            from bakeoff.replay.scoring.registry import MetricPlan

            section = self.replay
            try:
                self._plan = MetricPlan.from_config(
                    section.metrics, section.suites, [p.id for p in section.providers]
                )
            except ConfigError as exc:
                raise ConfigError(f"{self._source}: {exc}") from None
        return self._plan


def parse_config(data: dict[str, Any], source: str = "config") -> ReplayConfig:
    """Validate a parsed config; raises ConfigError naming the first problem's key path."""
    try:
        config = ReplayConfig.model_validate(data)
    except ValidationError as exc:
        raise ConfigError(f"{source}: {explain(exc, ReplayConfig)}") from None
    config._source = source
    return config


def load_config(path: str | Path) -> ReplayConfig:
    """Read and validate a YAML config file and build its metrics."""
    data = read_yaml_mapping(path, "a mapping with a 'replay' section")
    config = parse_config(data, str(path))
    config.metric_plan  # noqa: B018  # built now: a bad metric fails before any dataset is read
    return config
