"""What the DuckLake cluster tests send to replicas and read back from every one of them."""

from __future__ import annotations

import json

import httpx

from support.deploy import LocalCluster

EVENTS_PER_BATCH = 50


def batch(tag: str, number: int) -> list[dict[str, object]]:
    """Batch `number` of `tag`: EVENTS_PER_BATCH events with ids `tag-number-i`, tagged `tag`."""
    return [
        {
            "id": f"{tag}-{number}-{i}",
            "ts": f"2026-11-{1 + number % 28:02d}T10:{i % 60:02d}:00Z",
            "provider": "openai",
            "api": "chat.completions",
            "model": ["gpt-4o-mini", "gpt-4o"][i % 2],
            "tags": [tag, f"kind-{i % 3}"],
            "request": {"messages": [{"role": "user", "content": f"question {number} {i}"}]},
            "response": {"text": f"answer {number} {i}"},
        }
        for i in range(EVENTS_PER_BATCH)
    ]


def ids_of(batches: list[list[dict[str, object]]]) -> set[str]:
    return {str(event["id"]) for events in batches for event in events}


def stored_ids(url: str, tag: str) -> list[str]:
    """Every id of `tag` that `url` reads, page by page, with the total it reports."""
    ids: list[str] = []
    total = None
    while total is None or len(ids) < total:
        page = httpx.get(
            url + "/v1/events", params={"tag": tag, "limit": 1000, "offset": len(ids)}, timeout=60
        )
        assert page.status_code == 200, page.text
        body = page.json()
        total = body["total"]
        if not body["events"]:
            break
        ids += [event["id"] for event in body["events"]]
    assert len(ids) == total
    return ids


def committed_everywhere(cluster: LocalCluster) -> None:
    """Wait until every acknowledged event is committed. A replica's reads wait for what it acknowledged
    itself, not for what the others did (their commits follow within milliseconds): each one's
    /healthz waits for its own."""
    for replica in cluster.replicas:
        assert httpx.get(replica.url + "/healthz", timeout=60).status_code == 200


def assert_stored_once_everywhere(cluster: LocalCluster, tag: str, expected: set[str]) -> None:
    committed_everywhere(cluster)
    for replica in cluster.replicas:
        ids = stored_ids(replica.url, tag)
        assert len(ids) == len(set(ids)), f"{replica.name}: duplicate ids"
        assert set(ids) == expected, (replica.name, len(ids), len(expected))


def dataset_rows(url: str, name: str) -> list[tuple[str, float]]:
    """A dataset's (id, weight) rows as `url` downloads them."""
    response = httpx.get(f"{url}/v1/datasets/{name}", timeout=60)
    assert response.status_code == 200, response.text
    rows = [json.loads(line) for line in response.content.splitlines() if line]
    return [(row["id"], row["weight"]) for row in rows]
