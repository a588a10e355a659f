"""Providers over real HTTP against the simulated OpenAI/Anthropic-compatible server on 127.0.0.1."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime
from typing import Any

import pytest
from aiohttp import web

from bakeoff.replay.errors import ProviderError
from bakeoff.replay.http.retry_after import retry_delay
from bakeoff.replay.providers.base import make_client, make_provider
from bakeoff.replay.providers.config import ProviderConfig
from bakeoff.replay.providers.translate import to_canonical
from bakeoff.replay.simulator.models import responder
from bakeoff.replay.simulator.server import SimulatorServer
from bakeoff.replay.types import Completion

QUESTION = {
    "model": "recorded",
    "messages": [{"role": "user", "content": "What is 12 * 12?"}],
    "temperature": 0,
}
ORDER = {
    "model": "recorded",
    "messages": [{"role": "user", "content": "Order from Sam Ortiz, sam.o@example.org, 240.00."}],
    "tools": [{"type": "function", "function": {"name": "record_order", "parameters": {"type": "object"}}}],
}


@pytest.fixture(scope="module")
def server() -> Iterator[SimulatorServer]:
    with SimulatorServer(responder=responder()) as simulator:
        yield simulator


def config(server: SimulatorServer, provider: str, **extra: Any) -> ProviderConfig:
    base = server.url if provider == "anthropic" else server.url + "/v1"
    kind = "openai-compatible" if provider == "openai" else provider
    return ProviderConfig(
        id=f"{provider}/{extra.get('api', 'default')}",
        provider=kind,
        model="sim-premium",
        base_url=base,
        **extra,
    )


async def complete(cfg: ProviderConfig, canonical: dict[str, Any], **kwargs: Any) -> Completion:
    client = make_client()
    try:
        return await make_provider(cfg, client).acomplete(canonical, **kwargs)
    finally:
        await client.close()


@pytest.mark.parametrize(
    ("provider", "api"), [("openai", "chat.completions"), ("openai", "responses"), ("anthropic", "messages")]
)
@pytest.mark.parametrize("stream", [False, True])
async def test_text_answers(server: SimulatorServer, provider: str, api: str, stream: bool) -> None:
    result = await complete(
        config(server, provider, api=api), to_canonical("chat.completions", QUESTION), stream=stream
    )
    assert result.text == "The answer is 144."
    assert result.input_tokens and result.output_tokens
    assert result.latency_ms and result.latency_ms > 0
    assert (result.ttft_ms is not None) == stream


@pytest.mark.parametrize(
    ("provider", "api"), [("openai", "chat.completions"), ("openai", "responses"), ("anthropic", "messages")]
)
@pytest.mark.parametrize("stream", [False, True])
async def test_tool_calls(server: SimulatorServer, provider: str, api: str, stream: bool) -> None:
    result = await complete(
        config(server, provider, api=api), to_canonical("chat.completions", ORDER), stream=stream
    )
    (call,) = result.tool_calls or []
    assert call["function"]["name"] == "record_order"
    assert json.loads(call["function"]["arguments"]) == {
        "name": "Sam Ortiz",
        "email": "sam.o@example.org",
        "total": 240.0,
    }


async def test_recorded_anthropic_request_replayed_on_openai(server: SimulatorServer) -> None:
    recorded = {
        "model": "claude",
        "max_tokens": 20,
        "system": "be exact",
        "messages": [{"role": "user", "content": [{"type": "text", "text": "What is 12 * 12?"}]}],
    }
    result = await complete(config(server, "openai"), to_canonical("messages", recorded), stream=False)
    assert result.text == "The answer is 144."
    sent = server.requests[-1]["body"]
    assert sent["messages"][0] == {"role": "system", "content": "be exact"} and sent["model"] == "sim-premium"


async def test_params_override_the_recorded_ones(server: SimulatorServer) -> None:
    await complete(
        config(server, "openai", params={"temperature": 0.7, "max_tokens": 5}),
        to_canonical("chat.completions", QUESTION),
        stream=False,
    )
    sent = server.requests[-1]["body"]
    assert sent["temperature"] == 0.7 and sent["max_tokens"] == 5


async def test_errors_say_whether_to_retry(server: SimulatorServer) -> None:
    canonical = to_canonical("chat.completions", QUESTION)
    server.inject("429")
    with pytest.raises(ProviderError) as rate_limited:
        await complete(config(server, "openai"), canonical, stream=False)
    assert rate_limited.value.retryable and rate_limited.value.status_code == 429
    assert rate_limited.value.retry_after == 0 and rate_limited.value.error_type == "RateLimitError"
    server.inject("500")
    with pytest.raises(ProviderError) as failed:
        await complete(config(server, "anthropic"), canonical, stream=True)
    assert failed.value.retryable and failed.value.status_code == 500
    missing = ProviderConfig(
        id="x", provider="openai-compatible", model="missing-model", base_url=server.url + "/v1"
    )
    with pytest.raises(ProviderError) as not_found:
        await complete(missing, canonical, stream=False)
    assert not not_found.value.retryable and not_found.value.status_code == 404
    server.inject("slow:2000")
    with pytest.raises(ProviderError) as slow:
        await complete(config(server, "openai", timeout=0.2), canonical, stream=False)
    assert slow.value.retryable and slow.value.error_type == "Timeout"


async def test_connection_refused_is_retryable() -> None:
    cfg = ProviderConfig(id="down", provider="openai-compatible", model="m", base_url="http://127.0.0.1:9/v1")
    with pytest.raises(ProviderError) as refused:
        await complete(cfg, to_canonical("chat.completions", QUESTION))
    assert refused.value.retryable and refused.value.error_type == "ConnectionError"


async def test_simulated_provider_needs_no_network() -> None:
    cfg = ProviderConfig(id="sim", provider="simulated", model="sim-premium", latency_scale=0.0)
    result = await complete(cfg, to_canonical("chat.completions", ORDER))
    assert result.raw == {"simulated": True} and result.latency_ms and result.latency_ms > 0
    assert json.loads((result.tool_calls or [{}])[0]["function"]["arguments"])["email"] == "sam.o@example.org"


def test_config_validation() -> None:
    with pytest.raises(ValueError, match="base_url"):
        ProviderConfig(id="x", provider="openai-compatible", model="m")
    with pytest.raises(ValueError, match="not offered"):
        ProviderConfig(id="x", provider="anthropic", model="m", api="responses")
    assert ProviderConfig(id="x", provider="anthropic", model="m").api == "messages"


@pytest.mark.parametrize(
    ("headers", "seconds"),
    [
        ({"retry-after": "2"}, 2.0),
        ({"retry-after": "0.5"}, 0.5),
        ({"retry-after-ms": "250", "retry-after": "9"}, 0.25),  # the precise one first
        ({"retry-after": "Fri, 15 Jan 2027 08:00:07 GMT"}, 7.0),
        ({"retry-after": "Fri, 15 Jan 2027 07:59:00 GMT"}, 0.0),  # already passed
        ({"x-ratelimit-reset-requests": "1s", "x-ratelimit-reset-tokens": "6m0s"}, 360.0),
        (
            {
                "x-ratelimit-reset-requests": "1s",
                "x-ratelimit-remaining-requests": "0",
                "x-ratelimit-reset-tokens": "6m0s",
                "x-ratelimit-remaining-tokens": "5000",
            },
            1.0,  # only the exhausted limit must reset
        ),
        ({"x-ratelimit-reset-tokens": "1h2m3.5s"}, 3723.5),
        ({"x-ratelimit-reset-requests": "120ms"}, 0.12),
        ({"anthropic-ratelimit-requests-reset": "2027-01-15T08:00:30Z"}, 30.0),
        (
            {
                "anthropic-ratelimit-input-tokens-reset": "2027-01-15T08:00:05+00:00",
                "anthropic-ratelimit-output-tokens-reset": "2027-01-15T08:00:45+00:00",
            },
            45.0,
        ),
        ({"retry-after": "soon", "x-ratelimit-reset-requests": "2s"}, 2.0),  # unreadable: the next form
        ({"retry-after": "-3"}, None),
        ({"x-ratelimit-reset-requests": "1 fortnight"}, None),
        ({"anthropic-ratelimit-requests-reset": "2027-01-15T08:00:30"}, None),  # no zone: no instant
        ({}, None),
    ],
)
def test_retry_delay_reads_every_form(headers: dict[str, str], seconds: float | None) -> None:
    now = datetime(2027, 1, 15, 8, 0, 0, tzinfo=UTC).timestamp()
    delay = retry_delay(headers, now=now)
    assert delay == pytest.approx(seconds) if seconds is not None else delay is None


async def _rate_limited(request: web.Request) -> web.Response:
    headers = json.loads(request.headers["x-answer-headers"])
    body = {"error": {"type": "rate_limit_error", "message": "slow down"}}
    return web.json_response(body, status=429, headers=headers)


@pytest.fixture
async def limited_url() -> AsyncIterator[str]:
    app = web.Application()
    app.router.add_post("/v1/chat/completions", _rate_limited)
    app.router.add_post("/v1/messages", _rate_limited)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    yield f"http://127.0.0.1:{port}"
    await runner.cleanup()


@pytest.mark.parametrize(
    ("provider", "headers", "seconds"),
    [
        ("openai", {"retry-after-ms": "1500"}, 1.5),
        ("openai", {"x-ratelimit-reset-requests": "6m0s", "x-ratelimit-remaining-requests": "0"}, 360.0),
        ("anthropic", {"retry-after": "3"}, 3.0),
        ("anthropic", {"anthropic-ratelimit-tokens-reset": "2099-01-01T00:00:00Z"}, None),  # far: just > 0
    ],
)
async def test_a_429_says_how_long_to_wait(
    limited_url: str, provider: str, headers: dict[str, str], seconds: float | None
) -> None:
    kind = "openai-compatible" if provider == "openai" else provider
    base = limited_url + "/v1" if provider == "openai" else limited_url
    cfg = ProviderConfig(id="p", provider=kind, model="m", base_url=base)
    client = make_client()
    chosen = make_provider(cfg, client)
    chosen.headers = lambda: {"Content-Type": "application/json", "x-answer-headers": json.dumps(headers)}  # type: ignore[method-assign]
    try:
        with pytest.raises(ProviderError) as limited:
            await chosen.acomplete(to_canonical("chat.completions", QUESTION), stream=False)
    finally:
        await client.close()
    assert limited.value.status_code == 429 and limited.value.retryable and "slow down" in str(limited.value)
    wait = limited.value.retry_after
    assert wait is not None and (wait == pytest.approx(seconds) if seconds is not None else wait > 86_400)
