"""Where alerts go: a webhook (signed), a Slack incoming webhook, a JSON-lines file, stderr.

The collector (`bakeoff serve --monitors`) and `bakeoff watch` both send alerts, so the sinks live here,
beside their config (:mod:`bakeoff.monitor_config`), where both parts may import them; only the standard
library and orjson are needed.

Each sink is tried a few times with exponential backoff; one that still fails is reported on stderr
and skipped, so a broken sink never stops monitoring nor keeps the other sinks from their alerts.
A webhook POST carries `X-Bakeoff-Signature: sha256=<hex HMAC-SHA256 of the body>` when the sink names
the environment variable holding the secret (`secret_env`).
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import os
import sys
import time
import urllib.request
from collections.abc import Callable
from typing import Any

import orjson

from bakeoff.monitor_config import FileSink, Sink, SlackSink, StderrSink, WebhookSink

logger = logging.getLogger("bakeoff.monitors")

ATTEMPTS = 4
FIRST_BACKOFF_S = 0.5
TIMEOUT_S = 10.0


def signature(body: bytes, secret: str) -> str:
    """The value of the X-Bakeoff-Signature header for `body`."""
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def slack_payload(alert: dict[str, Any]) -> dict[str, Any]:
    """A Slack incoming-webhook message for an alert: a headline and the alert's figures."""
    mark = ":rotating_light:" if alert["state"] == "firing" else ":white_check_mark:"
    headline = f"{mark} [{alert['state']}] {alert['message']}"
    window = f"window {alert['window_start']} .. {alert['window_end']}"
    return {
        "text": headline,
        "blocks": [
            {"type": "section", "text": {"type": "mrkdwn", "text": headline}},
            {"type": "context", "elements": [{"type": "mrkdwn", "text": window}]},
        ],
    }


def _post(url: str, body: bytes, headers: dict[str, str]) -> None:
    request = urllib.request.Request(
        url, data=body, headers={"Content-Type": "application/json", **headers}, method="POST"
    )
    with urllib.request.urlopen(request, timeout=TIMEOUT_S) as response:
        response.read()


def _send_once(sink: Sink, alert: dict[str, Any]) -> None:
    body = orjson.dumps(alert)
    if isinstance(sink, WebhookSink):
        secret = os.environ.get(sink.secret_env) if sink.secret_env else None
        if sink.secret_env and not secret:
            raise RuntimeError(f"the environment variable {sink.secret_env} (the webhook's secret) is unset")
        _post(sink.webhook, body, {"X-Bakeoff-Signature": signature(body, secret)} if secret else {})
    elif isinstance(sink, SlackSink):
        _post(sink.slack, orjson.dumps(slack_payload(alert)), {})
    elif isinstance(sink, FileSink):
        with open(sink.file, "ab") as file:
            file.write(body + b"\n")
    elif isinstance(sink, StderrSink) and sink.stderr:
        print(f"bakeoff: ALERT [{alert['state']}] {alert['message']}", file=sys.stderr, flush=True)


def describe(sink: Sink) -> str:
    """A sink as the config names it (for reports of failures)."""
    if isinstance(sink, WebhookSink):
        return f"webhook {sink.webhook}"
    if isinstance(sink, SlackSink):
        return "slack webhook"
    if isinstance(sink, FileSink):
        return f"file {sink.file}"
    return "stderr"


def deliver(
    alert: dict[str, Any], sinks: list[Sink], sleep: Callable[[float], None] = time.sleep
) -> list[str]:
    """Send one alert to every sink, retrying each with backoff; the sinks that failed, described."""
    failed = []
    for sink in sinks:
        delay = FIRST_BACKOFF_S
        for attempt in range(1, ATTEMPTS + 1):
            try:
                _send_once(sink, alert)
                break
            except Exception as exc:  # any failure of a sink is the sink's, never the monitor's
                if attempt == ATTEMPTS:
                    failed.append(describe(sink))
                    message = f"bakeoff: could not deliver alert {alert['id']} to {describe(sink)}: {exc}"
                    print(message, file=sys.stderr, flush=True)
                    logger.warning(message)
                else:
                    sleep(delay)
                    delay *= 2
    return failed
