"""Sinks: a signed webhook, a Slack-compatible payload, a JSON-lines file, stderr; retried with backoff, and
a sink that keeps failing is reported without keeping the others from the alert."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import orjson
import pytest

from bakeoff.monitor_config import AlertsSection
from bakeoff.monitor_sinks import deliver, signature
from support.collector import free_port
from support.webhook import Hook

ALERT: dict[str, Any] = {
    "id": "a1",
    "monitor": "support-errors",
    "kind": "traffic",
    "state": "firing",
    "signal": "error_rate",
    "value": 0.05,
    "baseline": 0.01,
    "change": 0.04,
    "message": "support-errors: error_rate rose to 0.05 from a baseline of 0.01 (+0.04; min_change 0.02)",
    "window_start": "2026-03-01T10:00:00Z",
    "window_end": "2026-03-01T10:05:00Z",
    "started_at": "2026-03-01T10:05:00Z",
    "resolved_at": None,
}


@pytest.fixture()
def hook() -> Iterator[Hook]:
    receiver = Hook("topsecret")
    try:
        yield receiver
    finally:
        receiver.close()


def _sinks(*sinks: dict[str, Any]) -> list[Any]:
    return AlertsSection.model_validate({"sinks": list(sinks)}).sinks


def test_every_sink_gets_the_alert_in_its_form(
    hook: Hook, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("HOOK_SECRET", "topsecret")
    slack = Hook()
    try:
        sinks = _sinks(
            {"webhook": hook.url, "secret_env": "HOOK_SECRET"},
            {"slack": slack.url},
            {"file": str(tmp_path / "alerts.jsonl")},
            {"stderr": True},
        )
        assert deliver(ALERT, sinks, sleep=lambda s: None) == []
        ((body, signed),) = hook.received
        assert body == ALERT and signed
        ((payload, _),) = slack.received
        assert ALERT["message"] in payload["text"] and payload["blocks"][0]["type"] == "section"
    finally:
        slack.close()
    assert orjson.loads((tmp_path / "alerts.jsonl").read_bytes()) == ALERT
    assert "ALERT [firing] support-errors" in capsys.readouterr().err


def test_a_failing_sink_is_retried_with_backoff_then_reported_and_the_others_still_get_it(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    waits: list[float] = []
    nowhere = f"http://127.0.0.1:{free_port()}/hook"  # nothing listens there
    sinks = _sinks({"webhook": nowhere}, {"file": str(tmp_path / "alerts.jsonl")})
    failed = deliver(ALERT, sinks, sleep=waits.append)
    assert failed == [f"webhook {nowhere}"]
    assert waits == [0.5, 1.0, 2.0]
    assert orjson.loads((tmp_path / "alerts.jsonl").read_bytes())["id"] == "a1"
    assert f"could not deliver alert a1 to webhook {nowhere}" in capsys.readouterr().err


def test_a_webhook_whose_secret_is_missing_is_not_sent_unsigned(
    hook: Hook, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("NO_SUCH_SECRET", raising=False)
    failed = deliver(
        ALERT, _sinks({"webhook": hook.url, "secret_env": "NO_SUCH_SECRET"}), sleep=lambda s: None
    )
    assert failed == [f"webhook {hook.url}"] and hook.received == []


def test_the_signature_is_hmac_sha256_of_the_body() -> None:
    # RFC 4231 test case 2: key "Jefe", data "what do ya want for nothing?"
    expected = "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
    assert signature(b"what do ya want for nothing?", "Jefe") == "sha256=" + expected
