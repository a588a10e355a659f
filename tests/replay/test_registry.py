"""One registry for metrics and provider kinds: lazy built-ins, plug-ins by entry point, exact errors.

The plug-in tests install a real distribution (a `*.dist-info` with `entry_points.txt`) into a folder
that a fresh interpreter has on its path, and run the real `bakeoff replay` there: the entry points are
found by importlib.metadata, not registered by the test.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
import yaml

from bakeoff.errors import ConfigError
from bakeoff.replay import scoring
from bakeoff.replay.config import parse_config
from bakeoff.replay.providers.kinds import PROVIDERS
from bakeoff.replay.registry import Registry, RegistryError, UnknownName
from bakeoff.replay.scoring.builtin import BUILTIN
from bakeoff.replay.scoring.registry import METRICS, build_metric

PLUGIN = '''
"""A third party's metric and provider kind."""
from bakeoff.replay.providers.kinds import ProviderKind
from bakeoff.replay.scoring import Completion, Metric, MetricResult, Reference, passed, reference_text


class Shouty(Metric):
    name = "shouty"
    kind = "pass"
    needs_reference = False

    def __init__(self, min_length: int = 1) -> None:
        self.min_length = min_length

    def judge(self, output: str, reference: Reference) -> MetricResult:
        return passed(output.isupper() and len(output) >= self.min_length)


class Parrot:
    """Answers every request with its last user message in capitals."""

    def __init__(self, config):
        self.id = config.id
        self.config = config

    async def acomplete(self, canonical, *, stream=None, timeout=None):
        text = canonical["messages"][-1]["content"]
        return Completion(text=text.upper(), input_tokens=1, output_tokens=1, latency_ms=1.0)

    async def aembed(self, texts, timeout=None):
        return [[1.0] for _ in texts], None

    async def aclose(self):
        return None


class ParrotKind(ProviderKind):
    apis = ("chat.completions",)

    @classmethod
    def create(cls, config, client):
        return Parrot(config)
'''


@pytest.fixture()
def plugin_path(tmp_path: Path) -> Path:
    """A folder holding the module and the dist-info of an installed `acme-bakeoff` distribution."""
    site = tmp_path / "site"
    site.mkdir()
    (site / "acme_bakeoff.py").write_text(PLUGIN)
    info = site / "acme_bakeoff-1.0.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: acme-bakeoff\nVersion: 1.0\n")
    (info / "entry_points.txt").write_text(
        "[bakeoff.metrics]\nshouty = acme_bakeoff:Shouty\n\n"
        "[bakeoff.providers]\nparrot = acme_bakeoff:ParrotKind\n"
    )
    return site


def run_bakeoff(site: Path, *args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(site)}
    return subprocess.run(
        [sys.executable, "-m", "bakeoff.cli", *args],
        capture_output=True,
        text=True,
        env=env,
        cwd=cwd,
        timeout=120,
    )


def write_config(folder: Path, metrics: list, provider: str = "parrot") -> Path:
    providers = [
        {"id": "acme/parrot", "provider": provider, "model": "p1"},
        {"id": "sim", "provider": "simulated", "model": "sim-medium", "latency_scale": 0},
    ]
    section = {
        "providers": providers,
        "metrics": metrics,
        "baseline": "sim",
        "cache_dir": str(folder / "cache"),
    }
    path = folder / "bakeoff.yaml"
    path.write_text(yaml.safe_dump({"replay": section}))
    return path


def test_a_plugin_metric_and_provider_kind_run_through_the_real_cli(
    plugin_path: Path, tmp_path: Path
) -> None:
    config = write_config(tmp_path, ["exact_match", {"shouty": {"min_length": 3}}])
    cases = tmp_path / "cases.jsonl"
    cases.write_text(
        "".join(json.dumps({"id": f"c{i}", "input": w, "expected": w}) + "\n" for i, w in enumerate("ab"))
    )
    done = run_bakeoff(
        plugin_path,
        "replay",
        "--config",
        str(config),
        "--dataset",
        str(cases),
        "--output",
        "runs",
        cwd=tmp_path,
    )
    assert done.returncode == 0, done.stderr
    (run,) = (tmp_path / "runs").iterdir()
    rows = [json.loads(line) for line in (run / "detailed_results.jsonl").read_text().splitlines()]
    parrot = [r for r in rows if r["provider"] == "acme/parrot"]
    assert sorted(r["output"]["text"] for r in parrot) == ["A", "B"]
    assert all(r["scores"]["shouty"]["passed"] is False for r in parrot)  # upper case, but shorter than 3
    assert json.loads((run / "run.json").read_text())["metrics"] == {"exact_match": "pass", "shouty": "pass"}


@pytest.mark.parametrize(
    ("metrics", "provider", "message"),
    [
        (["shoutyy"], "parrot", "replay.metrics[0]: unknown metric 'shoutyy'; did you mean 'shouty'?"),
        (
            [{"shouty": {"min_lenght": 3}}],
            "parrot",
            "unknown option 'min_lenght'; did you mean 'min_length'?",
        ),
        (
            ["exact_match"],
            "parot",
            "replay.providers[0].provider: unknown provider 'parot'; did you mean 'parrot'?",
        ),
    ],
)
def test_plugin_names_are_suggested(
    plugin_path: Path, tmp_path: Path, metrics: list, provider: str, message: str
) -> None:
    config = write_config(tmp_path, metrics, provider)
    done = run_bakeoff(
        plugin_path, "replay", "--config", str(config), "--dataset", "nowhere.jsonl", cwd=tmp_path
    )
    assert done.returncode == 2
    assert done.stderr.count("\n") == 1 and message in done.stderr, done.stderr


def test_builtins_are_imported_only_when_named(tmp_path: Path) -> None:
    """Naming exact_match and an OpenAI provider imports neither the judge nor the Anthropic provider."""
    config = tmp_path / "bakeoff.yaml"
    config.write_text(
        yaml.safe_dump(
            {
                "replay": {
                    "providers": [{"id": "o", "provider": "openai", "model": "m"}],
                    "metrics": ["exact_match"],
                }
            }
        )
    )
    probe = textwrap.dedent(f"""
        import sys
        from bakeoff.replay.config import load_config
        load_config({str(config)!r})
        print(sorted(m for m in sys.modules if m.startswith("bakeoff.replay.")))
    """)
    loaded = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True).stdout
    assert "bakeoff.replay.scoring.builtin" in loaded
    assert "bakeoff.replay.scoring.judge" not in loaded and "bakeoff.replay.providers.anthropic" not in loaded


def test_every_builtin_metric_is_registered_under_its_name() -> None:
    for name, cls in BUILTIN.items():
        assert METRICS.get(name) is cls
    assert set(PROVIDERS.names()) >= {"openai", "anthropic", "openai-compatible", "simulated"}


def test_the_registry_errors(tmp_path: Path) -> None:
    registry: Registry[object] = Registry(
        "widget", "bakeoff.test-widgets", {"gear": "json:dumps", "cog": "json:nope"}
    )
    assert registry.get("gear") is json.dumps and "gear" in registry and "sprocket" not in registry
    with pytest.raises(UnknownName) as unknown:
        registry.get("gaer")
    assert str(unknown.value) == "unknown widget 'gaer'; did you mean 'gear'?"
    assert isinstance(unknown.value, KeyError)
    with pytest.raises(RegistryError, match="widget 'cog': cannot load 'json:nope'"):
        registry.get("cog")
    registry.register("cog", len)
    assert registry.get("cog") is len


def test_a_wrong_option_is_one_config_error_never_a_type_error() -> None:
    for spec, message in [
        ({"fuzzy": {"threshold": "high"}}, "fuzzy"),
        ({"exact_match": {"normalise": True}}, "did you mean 'normalize'?"),
        ({"json_valid": {"strict": True}}, "json_valid takes no options"),
        ({"contains": ["a"]}, "options must be a mapping"),
        ("json:nope", "cannot load 'json:nope'"),
        ("json:__doc__", "neither a Metric subclass nor a function"),
    ]:
        with pytest.raises(ConfigError) as raised:
            build_metric(spec, where="replay.metrics[0]")
        text = str(raised.value)
        assert text.startswith("replay.metrics[0]: ") and message in text and "\n" not in text, text


def test_a_judge_that_is_not_configured_fails_when_the_config_loads() -> None:
    data = {
        "replay": {
            "providers": [{"id": "a", "provider": "simulated", "model": "m"}],
            "metrics": ["exact_match", {"llm_judge": {"judge": "b"}}],
        }
    }
    with pytest.raises(ConfigError) as raised:
        _ = parse_config(data, "bakeoff.yaml").metric_plan
    assert str(raised.value) == (
        "bakeoff.yaml: replay.metrics[1]: llm_judge: judge 'b' is not a configured provider (known: a)"
    )


def test_the_plugin_api_is_pinned() -> None:
    assert scoring.__all__ == [
        "NO_ANSWER",
        "NO_REFERENCE",
        "Case",
        "Completion",
        "Metric",
        "MetricResult",
        "Reference",
        "ScoringContext",
        "passed",
        "reference_text",
    ]
    assert all(hasattr(scoring, name) for name in scoring.__all__)
