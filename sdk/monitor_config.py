"""The `monitors:` and `alerts:` sections of a config file: what to watch and where alerts go.

Both the collector (`bakeoff serve --monitors FILE`) and replay (`bakeoff watch`) read these sections, so
their models live here, beside the event schema, where both parts may import them. Only pydantic is
needed: importing this module loads nothing of the collector or of replay.
"""

from __future__ import annotations

import hashlib
import math
from pathlib import Path
from typing import Annotated, Any, Literal

import orjson
from pydantic import BaseModel, ConfigDict, Discriminator, Field, Tag, ValidationError, model_validator

from bakeoff.config_file import explain, read_yaml_mapping
from bakeoff.errors import ConfigError

TRAFFIC_SIGNALS = ("error_rate", "latency_p95_ms", "ttft_p95_ms", "cost_per_request", "feedback")


class Price(BaseModel):
    """USD per million tokens: the store keeps tokens, not prices, so cost needs the monitor's price."""

    model_config = ConfigDict(extra="forbid")

    input_per_mtok: float = Field(ge=0)
    output_per_mtok: float = Field(ge=0)


class JudgeBudget(BaseModel):
    """What a `metric:NAME` monitor whose metric calls a judge may spend, per period: USD or judge calls.

    The periods are those of the answers' own `ts`, like the windows: each window (`per: window`) or
    each UTC day (`per: day`) of answers is judged until its budget is spent, the rest left unscored.
    """

    model_config = ConfigDict(extra="forbid")

    per: Literal["window", "day"]
    usd: float | None = Field(default=None, gt=0)
    calls: int | None = Field(default=None, ge=1)

    @model_validator(mode="after")
    def _one_limit(self) -> JudgeBudget:
        if (self.usd is None) == (self.calls is None):
            raise ValueError("give exactly one of `usd` and `calls`")
        return self

    def period(self, window: float, ts: float) -> tuple[float, float]:
        """The budget period (start, end), in epoch seconds, of an answer at `ts`."""
        width = window if self.per == "window" else 86400.0
        start = math.floor(ts / width) * width
        return start, start + width


class TrafficMonitor(BaseModel):
    """A monitor of recorded traffic: one signal, by windows of the events' own `ts`.

    `metric:NAME` scores a share (`metric_share`) of production's answers with metric NAME (one of
    `replay.metrics` by its label, else a built-in such as `json_valid`) and watches the scores' mean;
    `bakeoff watch` runs it, since scoring lives in replay (`bakeoff serve --monitors` leaves it to watch).
    A metric that calls a judge needs `judge_budget`, which bounds what its scoring spends.
    """

    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1)
    kind: Literal["traffic"] = "traffic"
    filters: dict[Literal["tag", "model", "provider", "project"], str] = Field(default_factory=dict)
    signal: str
    window: float = Field(default=300.0, gt=0)  # seconds
    baseline_windows: int = Field(default=24, ge=1)
    direction: Literal["up", "down", "both"] = "up"
    min_change: float = Field(default=0.0, ge=0)  # absolute, in the signal's unit
    price: Price | None = None  # cost_per_request only
    metric_share: float = Field(default=0.1, gt=0, le=1)  # metric:NAME only: the share of answers scored
    judge_budget: JudgeBudget | None = None  # metric:NAME of a judge only

    @model_validator(mode="after")
    def _known_signal(self) -> TrafficMonitor:
        if self.judge_budget is not None and not self.signal.startswith("metric:"):
            raise ValueError("judge_budget applies to metric:NAME signals only")
        if self.signal.startswith("metric:"):
            if not self.metric:
                raise ValueError("signal 'metric:' needs a metric name, e.g. metric:json_valid")
            return self
        if self.signal not in TRAFFIC_SIGNALS:
            known = ", ".join([*TRAFFIC_SIGNALS, "metric:NAME"])
            raise ValueError(f"unknown signal {self.signal!r}; one of {known}")
        if self.signal == "cost_per_request" and self.price is None:
            raise ValueError("signal cost_per_request needs `price: {input_per_mtok, output_per_mtok}`")
        return self

    @property
    def metric(self) -> str | None:
        """NAME of a `metric:NAME` signal (None for the other signals)."""
        return self.signal.removeprefix("metric:") if self.signal.startswith("metric:") else None

    @property
    def scoring_state_name(self) -> str:
        """The name of the stored state of a `metric:NAME` monitor's scoring: how far, what it spent."""
        return f"{self.name}#scored"

    def fingerprint(self) -> str:
        """A digest of what the monitor measures: its stored state is kept only while this stays the same.

        The judge budget is left out: it bounds how many answers are scored, not what is measured, so a
        changed budget applies from where scoring stands instead of scoring the history again.
        """
        dumped = self.model_dump(exclude={"judge_budget"})
        return hashlib.sha256(orjson.dumps(dumped, option=orjson.OPT_SORT_KEYS)).hexdigest()[:16]


class ReplaySample(BaseModel):
    """What a replay monitor replays at each check."""

    model_config = ConfigDict(extra="forbid")

    strategy: Literal["random", "stratified", "feedback", "errors", "recent", "diverse"] = "random"
    n: int = Field(default=50, gt=0)
    since_hours: float | None = Field(default=None, gt=0)
    filters: dict[str, str] = Field(default_factory=dict)


class ReplayMonitor(BaseModel):
    """A monitor that replays fresh samples against candidates, its evidence accumulated across checks.

    Each check replays a fresh `sample` against the `providers` (ids of `replay.providers`), with
    production's recorded answers as the reference, and scores them on `metric` (default: the first of
    `replay.metrics`). `margin` is the non-inferiority margin (default: `replay.margin`, else 0.02);
    `max_error_rate` the share of failed calls in one check beyond which a candidate is failing.
    Runs in `bakeoff watch` only (replaying and scoring live in replay).
    """

    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1)
    kind: Literal["replay"]
    providers: list[str] = Field(min_length=1)
    sample: ReplaySample = Field(default_factory=ReplaySample)
    interval: float = Field(default=3600.0, gt=0)
    metric: str | None = None
    margin: float | None = Field(default=None, ge=0)
    max_error_rate: float = Field(default=0.2, ge=0, lt=1)

    @model_validator(mode="after")
    def _distinct_providers(self) -> ReplayMonitor:
        repeated = sorted({p for p in self.providers if self.providers.count(p) > 1})
        if repeated:
            raise ValueError(f"providers listed twice: {', '.join(repeated)}")
        return self

    def fingerprint(self) -> str:
        """A digest of what the monitor measures: its stored evidence is kept while this stays the same."""
        return hashlib.sha256(orjson.dumps(self.model_dump(), option=orjson.OPT_SORT_KEYS)).hexdigest()[:16]


def _kind(value: Any) -> str:
    kind = value.get("kind", "traffic") if isinstance(value, dict) else getattr(value, "kind", "traffic")
    return str(kind)


# `kind` picks the model (traffic when absent), so an error names the fields of the right one.
Monitor = Annotated[
    Annotated[TrafficMonitor, Tag("traffic")] | Annotated[ReplayMonitor, Tag("replay")],
    Discriminator(_kind),
]


class WebhookSink(BaseModel):
    model_config = ConfigDict(extra="forbid")

    webhook: str
    secret_env: str | None = None  # the environment variable holding the HMAC secret


class SlackSink(BaseModel):
    model_config = ConfigDict(extra="forbid")

    slack: str


class FileSink(BaseModel):
    model_config = ConfigDict(extra="forbid")

    file: str


class StderrSink(BaseModel):
    model_config = ConfigDict(extra="forbid")

    stderr: bool = True


Sink = WebhookSink | SlackSink | FileSink | StderrSink


class AlertsSection(BaseModel):
    """The `alerts:` section."""

    model_config = ConfigDict(extra="forbid")

    false_alarm_rate: float = Field(default=0.01, gt=0, lt=1)  # per monitor, over its whole life
    cooldown: float = Field(default=0.0, ge=0)  # seconds after a resolution during which it cannot fire
    sinks: list[Sink] = Field(default_factory=list)


class MonitoringConfig(BaseModel):
    """The monitoring part of a config file: its monitors and alerts (and where the data is)."""

    model_config = ConfigDict(extra="forbid")

    collector: str | None = None
    db: str | None = None
    monitors: list[Monitor] = Field(default_factory=list)
    alerts: AlertsSection = Field(default_factory=AlertsSection)

    @model_validator(mode="after")
    def _unique_names(self) -> MonitoringConfig:
        names = [m.name for m in self.monitors]
        repeated = sorted({n for n in names if names.count(n) > 1})
        if repeated:
            raise ValueError(f"monitor names must be unique: {', '.join(repeated)}")
        return self

    @property
    def traffic(self) -> list[TrafficMonitor]:
        """The traffic monitors, in config order."""
        return [m for m in self.monitors if isinstance(m, TrafficMonitor)]

    @property
    def scored(self) -> list[TrafficMonitor]:
        """The traffic monitors of a `metric:NAME` signal, which `bakeoff watch` scores and runs."""
        return [m for m in self.traffic if m.metric is not None]

    @property
    def replay(self) -> list[ReplayMonitor]:
        """The replay monitors, in config order."""
        return [m for m in self.monitors if isinstance(m, ReplayMonitor)]


# The tags of the monitor union, which pydantic puts in error paths.
_UNION_TAGS = ("traffic", "replay")


def parse_monitoring(data: dict[str, Any], source: str = "config") -> MonitoringConfig:
    """The `collector`, `db`, `monitors` and `alerts` keys of a parsed config (others are ignored here)."""
    keys = ("collector", "db", "monitors", "alerts")
    try:
        return MonitoringConfig.model_validate({k: data[k] for k in keys if k in data})
    except ValidationError as exc:
        raise ConfigError(f"{source}: {explain(exc, MonitoringConfig, _UNION_TAGS)}") from None


def load_monitoring(path: str | Path) -> MonitoringConfig:
    """Read a YAML config file's monitoring part; a mistake is one ConfigError line naming the key."""
    data = read_yaml_mapping(path, "a mapping with a `monitors:` section")
    return parse_monitoring(data, str(path))
