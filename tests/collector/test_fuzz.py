"""Fuzzing: schemathesis against the collector's own OpenAPI document (every operation, with and
without the API key), and hypothesis on the OTLP decoder and the event schema. No input may get a 5xx,
and the collector keeps serving after all of them."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import httpx
import msgspec
import orjson
import pytest
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

from bakeoff.collector.otlp import decode_json, decode_protobuf, events_from_request
from bakeoff.collector.routes_events import split_batch
from bakeoff.schema import encode_event
from support.collector import CollectorProcess

KEY = "fuzz-key"
BUDGET_S = 30.0  # for the whole schemathesis part: each operation gets its share
FAST = settings(
    deadline=None,
    database=None,
    derandomize=True,
    phases=[Phase.explicit, Phase.generate],
    suppress_health_check=list(HealthCheck),
)


@pytest.fixture(scope="module")
def keyed_collector(tmp_path_factory: pytest.TempPathFactory, store_kind: str) -> Iterator[CollectorProcess]:
    process = CollectorProcess(tmp_path_factory.mktemp("fuzz") / "fuzz.duckdb", "--api-key", KEY).start()
    try:
        yield process
    finally:
        process.stop()


def test_no_input_gets_a_server_error(keyed_collector: CollectorProcess) -> None:
    url = keyed_collector.url
    schema = schemathesis.openapi.from_url(url + "/openapi.json")
    operations = [result.ok() for result in schema.get_all_operations()]
    assert {"/v1/events", "/v1/feedback", "/v1/runs", "/v1/samples", "/v1/traces"} <= {
        op.path for op in operations
    }
    tried: list[tuple[str, int]] = []
    share = BUDGET_S / (2 * len(operations))
    for operation in operations:
        for headers in ({"Authorization": f"Bearer {KEY}"}, {}):
            fuzz(operation, url, headers, 60 if headers else 8, time.monotonic() + share, tried)
    errors = [(where, status) for where, status in tried if status >= 500]
    print(f"schemathesis: {len(tried)} inputs tried over {len(operations)} operations, {len(errors)} 5xx")
    assert len(tried) > 300
    assert not errors, errors[:10]
    health = httpx.get(url + "/healthz", timeout=10)
    assert health.status_code == 200 and health.json()["status"] == "ok"


def fuzz(
    operation: Any,
    url: str,
    headers: dict[str, str],
    examples: int,
    deadline: float,
    tried: list[tuple[str, int]],
) -> None:
    """Send up to `examples` cases of `operation` (until `deadline`), noting each answer's status."""

    @settings(FAST, max_examples=examples)
    @given(case=operation.as_strategy())
    def call(case: Any) -> None:
        if time.monotonic() > deadline:
            return
        response = case.call(base_url=url, headers=headers, timeout=30)
        tried.append((f"{case.method} {case.formatted_path}", response.status_code))

    call()


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4)
    ),
    max_leaves=20,
)


@settings(FAST, max_examples=200)
@given(st.binary(max_size=400))
def test_otlp_protobuf_decoder_refuses_or_reads(body: bytes) -> None:
    try:
        export = decode_protobuf(body)
    except Exception as exc:
        assert type(exc).__name__ == "DecodeError"
        return
    spans = events_from_request(export)  # never raises: a bad span is refused, not the export
    assert spans.ignored >= 0


@settings(FAST, max_examples=200)
@given(json_values)
def test_otlp_json_decoder_raises_only_value_error(value: Any) -> None:
    try:
        body = orjson.dumps({"resourceSpans": [{"scopeSpans": [{"spans": [value]}]}]})
    except TypeError:
        return  # an integer orjson cannot write: not a body anyone could send
    try:
        export = decode_json(body)
    except ValueError:
        return
    events_from_request(export)


event_fields = st.fixed_dictionaries(
    {"id": st.text(min_size=0, max_size=12), "ts": st.text(max_size=30), "provider": st.text(max_size=5)},
    optional={
        "api": st.text(max_size=5),
        "request": json_values,
        "attributes": json_values,
        "usage": json_values,
        "response": json_values,
        "tags": json_values,
        "latency_ms": json_values,
        "status": st.sampled_from(["ok", "error", "maybe"]),
    },
)


@settings(FAST, max_examples=300)
@given(st.lists(event_fields | json_values, max_size=4))
def test_event_schema_accepts_only_what_reads_back(batch: list[Any]) -> None:
    raws = [msgspec.json.encode(item) for item in batch]  # integers of any size, as a client may send
    events, rejected = split_batch([msgspec.Raw(raw) for raw in raws])
    assert len(events) + len(rejected) == len(batch)
    for event in events:
        orjson.loads(encode_event(event))  # what is acknowledged, every reader takes back
