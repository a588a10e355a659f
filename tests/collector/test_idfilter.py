"""The Bloom filter of stored ids: never a false 'absent', and false 'present' near its design rate."""

from __future__ import annotations

from bakeoff.collector.idfilter import IdFilter


def test_no_false_negatives_and_few_false_positives() -> None:
    ids = [f"event-{i}" for i in range(50_000)]
    id_filter = IdFilter(100_000, false_positive_rate=0.001)
    id_filter.add(ids)
    assert id_filter.might_contain(ids).all()
    others = [f"other-{i}" for i in range(100_000)]
    rate = id_filter.might_contain(others).mean()
    assert rate < 0.003  # designed for 0.001 at full capacity; half full here
    assert id_filter.count == 50_000 and not id_filter.full


def test_empty_inputs() -> None:
    id_filter = IdFilter(10)
    assert id_filter.might_contain([]).shape == (0,)
    id_filter.add([])
    assert not id_filter.might_contain(["x"])[0]
