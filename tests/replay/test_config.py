"""The replay config: the contract's example loads; mistakes are one line naming the key."""

from __future__ import annotations

from pathlib import Path

import pytest

from bakeoff.errors import ConfigError
from bakeoff.replay.config import load_config, parse_config

EXAMPLE = """
collector: http://127.0.0.1:7800
replay:
  providers:
    - id: openai/gpt-4o-mini
      provider: openai
      model: gpt-4o-mini
      api_key_env: OPENAI_API_KEY
      params: {temperature: 0.7, max_tokens: 1000}
      price: {input_per_mtok: 0.15, output_per_mtok: 0.60}
    - id: local/llama
      provider: openai-compatible
      model: llama3
      base_url: http://127.0.0.1:11434/v1
    - id: openai/gpt-4o                  # the judge: a metric's provider must be configured too
      provider: openai
      model: gpt-4o
  baseline: openai/gpt-4o-mini
  metrics: [exact_match, numeric_match, {llm_judge: {judge: openai/gpt-4o, criteria: [helpfulness]}}]
  max_samples: 100
  concurrency: 8
  timeout: 30
  cost_limit: 10.0
"""


def test_the_contract_example_loads(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "bakeoff.yaml"
    path.write_text(EXAMPLE)
    config = load_config(path)
    first, second, _ = config.replay.providers
    assert first.api == "chat.completions" and first.price is not None and first.price.output_per_mtok == 0.6
    assert first.params == {"temperature": 0.7, "max_tokens": 1000} and first.api_key_env == "OPENAI_API_KEY"
    monkeypatch.setenv("OPENAI_API_KEY", "sk-from-a-file\n")
    assert first.api_key() == "sk-from-a-file"  # the newline would break the Authorization header
    assert second.url == "http://127.0.0.1:11434/v1"
    assert config.replay.cost_limit == 10.0 and config.replay.metrics[2] == {
        "llm_judge": {"judge": "openai/gpt-4o", "criteria": ["helpfulness"]}
    }


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (
            {"replay": {"providers": [{"id": "a", "provider": "opnai", "model": "m"}]}},
            "replay.providers[0].provider: unknown provider 'opnai'; did you mean 'openai'?",
        ),
        (
            {"replay": {"providers": [{"id": "a", "provider": "openai", "model": "m", "temprature": 0}]}},
            "replay.providers[0].temprature: unknown key",
        ),
        (
            {"replay": {"providers": [{"id": "a", "provider": "openai", "model": "m"}], "concurency": 4}},
            "replay.concurency: unknown key; did you mean 'concurrency'?",
        ),
        ({"replay": {"providers": []}}, "replay.providers:"),
        (
            {"replay": {"providers": [{"id": "a", "provider": "openai", "model": "m"}], "concurrency": 0}},
            "replay.concurrency: Input should be greater than or equal to 1",
        ),
        ({"replay": {"providers": [{"id": "a", "provider": "openai", "model": "m"}] * 2}}, "unique"),
        (
            {"colector": "x", "replay": {"providers": [{"id": "a", "provider": "openai", "model": "m"}]}},
            "colector: unknown key; did you mean 'collector'?",
        ),
    ],
)
def test_mistakes_name_the_key(data: dict, message: str) -> None:
    with pytest.raises(ConfigError) as raised:
        parse_config(data, "bakeoff.yaml")
    text = str(raised.value)
    assert message in text and "\n" not in text and text.startswith("bakeoff.yaml: ")


def test_file_problems(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="no such config file"):
        load_config(tmp_path / "missing.yaml")
    bad = tmp_path / "bad.yaml"
    bad.write_text("replay: [unclosed")
    with pytest.raises(ConfigError, match="not valid YAML"):
        load_config(bad)
    bad.write_text("- a list")
    with pytest.raises(ConfigError, match="expected a mapping"):
        load_config(bad)


def test_the_example_config_loads() -> None:
    example = Path(__file__).resolve().parents[2] / "examples" / "bakeoff.yaml"
    config = load_config(example)
    assert [p.provider for p in config.replay.providers] == ["openai", "anthropic", "openai-compatible"]
    assert config.replay.providers[1].api == "messages" and config.replay.cost_limit == 5.0
