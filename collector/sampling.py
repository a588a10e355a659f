"""Sampling strategies: which events go into a dataset, and the weight that makes each row count.

Every strategy picks ids first (never sorting whole rows) over the events that match the filters, with
a seeded hash of the event's stored sampling key as its random key (see :class:`SampleKey`), so the same
seed on the same data gives the same sample, on any replica.
Each row carries its weight, the inverse of its inclusion probability, so that averages over a dataset
can be re-weighted into estimates for the whole traffic. `errors` and `recent` are not probability
samples: their rows weigh 1 and the dataset's params say `"weighting": "none"`.

Strata by tag mean kinds of request: an event's stratum is its first tag past the tags given to the
SDK's `init` (which every call of a process shares) and past any tag that every event of the population
carries (for senders that do not say which tags are init's); `(untagged)` gathers events with no such tag.
"""

from __future__ import annotations

import math
from collections import Counter
from dataclasses import dataclass, field
from typing import Any, Literal

import duckdb

from bakeoff.collector.store import SAMPLE_KEY_SQL, event_filters

STRATEGIES = ("random", "stratified", "feedback", "errors", "recent", "diverse")
Strategy = Literal["random", "stratified", "feedback", "errors", "recent", "diverse"]
# A tag stratum is the first tag after the init tags (`init_tags` of them; NULL before migration 3).
STRATUM_SQL = {
    "model": "model",
    "provider": "provider",
    "tag": "coalesce(tags[coalesce(init_tags, 0) + 1], '(untagged)')",
}
# How many events `_maybe_common` looks at.
_FIRST_EVENTS = 10_000
# The same, also passing over the tags that every event of the population carries (the one parameter).
_TAG_STRATUM_PAST_COMMON = (
    "coalesce(list_filter(list_slice(tags, coalesce(init_tags, 0) + 1, len(tags)), "
    "lambda t: NOT list_contains(?::VARCHAR[], t))[1], '(untagged)')"
)


@dataclass
class SampleSpec:
    """What to sample: strategy, size, stratification, seed and event filters."""

    strategy: Strategy
    n: int
    by: Literal["tag", "model", "provider"] = "tag"
    allocation: Literal["proportional", "equal"] = "proportional"
    seed: int = 0
    filters: dict[str, Any] = field(default_factory=dict)


@dataclass
class Sample:
    """The chosen rows, in dataset order: `(event_id, weight, stratum)`, and the population size."""

    rows: list[tuple[str, float, str | None]]
    population: int
    weighting: str = "inverse-inclusion-probability"


@dataclass(frozen=True)
class SampleKey:
    """A seed's random key of an event, as SQL over `events`: a uniform 64-bit integer, a random order
    of the events per seed.

    It mixes the event's stored `sample_key` (hash(id), written at ingest: migration 10) with the seed
    through DuckDB's integer hash, which costs a tenth of hashing every id. Not `hash(id, seed)`: DuckDB
    combines a value's hash with the seed's by XOR, so every seed ordered the events by one hash under a
    different mask, and events of nearby hashes were drawn together whatever the seed. `stored` is False
    while some event lacks its stored key (written by something other than the store); the key is then
    computed from the id for those, at the cost of reading every id.
    """

    sql: str
    stored: bool


def sample_key(cursor: duckdb.DuckDBPyConnection, seed: int) -> SampleKey:
    """The key of `seed` (see :class:`SampleKey`); DuckDB's hash is deterministic for a given release
    (pinned to 1.5.x), so every replica draws the same sample. A stored dataset keeps its rows."""
    mask = f"hash({int(seed)}::BIGINT)"
    (missing,) = cursor.execute("SELECT count(*) FROM events WHERE sample_key IS NULL").fetchone() or (0,)
    if missing:
        return SampleKey(f"hash(xor(coalesce(sample_key, {SAMPLE_KEY_SQL}), {mask}))", stored=False)
    return SampleKey(f"hash(xor(sample_key, {mask}))", stored=True)


def draw(cursor: duckdb.DuckDBPyConnection, spec: SampleSpec) -> Sample:
    """Draw a sample according to `spec` from the events table."""
    if spec.n <= 0:
        raise ValueError("n must be positive")
    where, params = event_filters(spec.filters)
    drawer = {
        "random": _random,
        "stratified": _stratified,
        "feedback": _feedback,
        "errors": _errors,
        "recent": _recent,
        "diverse": _diverse,
    }[spec.strategy]
    return drawer(cursor, spec, where, params, sample_key(cursor, spec.seed))


def _count(cursor: duckdb.DuckDBPyConnection, where: str, params: list[Any]) -> int:
    (total,) = cursor.execute(f"SELECT count(*) FROM events WHERE {where}", params).fetchone() or (0,)
    return int(total)


def _random(
    cursor: duckdb.DuckDBPyConnection, spec: SampleSpec, where: str, params: list[Any], key: SampleKey
) -> Sample:
    population = _count(cursor, where, params)
    if key.stored and where == "TRUE":
        # The n smallest keys from the key column alone, then their rows' ids: a top-n that carried every
        # id along took three times as long (the semi-join's filter reaches the scan). Under filters the
        # scan of the filtered columns dominates, and a second one would double it.
        ids = cursor.execute(
            f"SELECT id FROM events WHERE {where} AND sample_key IN (SELECT sample_key FROM events "
            f"WHERE {where} ORDER BY {key.sql} LIMIT ?) ORDER BY {key.sql}, id LIMIT ?",
            [*params, *params, spec.n, spec.n],
        ).fetchall()
    else:
        ids = cursor.execute(
            f"SELECT id FROM events WHERE {where} ORDER BY {key.sql}, id LIMIT ?", [*params, spec.n]
        ).fetchall()
    weight = population / len(ids) if ids else 0.0
    return Sample([(i, weight, None) for (i,) in ids], population)


def allocate(sizes: dict[str, int], n: int, allocation: str) -> dict[str, int]:
    """Per-stratum sample sizes summing to min(n, population): proportional (largest remainder) or equal."""
    total = sum(sizes.values())
    n = min(n, total)
    if allocation == "equal":
        counts = {h: 0 for h in sizes}
        remaining = n
        open_strata = sorted(sizes, key=lambda h: (sizes[h], h))
        while remaining and open_strata:
            share = max(1, remaining // len(open_strata))
            for h in list(open_strata):
                take = min(share, sizes[h] - counts[h], remaining)
                counts[h] += take
                remaining -= take
                if counts[h] == sizes[h]:
                    open_strata.remove(h)
                if not remaining:
                    break
        return counts
    quotas = {h: n * size / total for h, size in sizes.items()}
    counts = {h: math.floor(q) for h, q in quotas.items()}
    for h in sorted(quotas, key=lambda h: (-(quotas[h] - counts[h]), h))[: n - sum(counts.values())]:
        counts[h] += 1
    return counts


@dataclass
class Strata:
    """How events fall into strata: the SQL of an event's stratum, the parameters of that SQL then of
    the filters (in that order, as the queries place them), each stratum's size, and the tags that
    every event carries (passed over by tag)."""

    sql: str
    params: list[Any]
    sizes: dict[str, int]
    common: list[str] = field(default_factory=list)


def strata(cursor: duckdb.DuckDBPyConnection, by: str, where: str, params: list[Any]) -> Strata:
    """The strata of the events matching `where`, by `by` (tag, model or provider)."""
    if by == "tag":
        return tag_strata(cursor, where, params)
    return Strata(STRATUM_SQL[by], params, _sizes(cursor, STRATUM_SQL[by], where, params))


def _sizes(cursor: duckdb.DuckDBPyConnection, sql: str, where: str, params: list[Any]) -> dict[str, int]:
    return dict(
        cursor.execute(f"SELECT {sql} AS h, count(*) FROM events WHERE {where} GROUP BY h", params).fetchall()
    )


def _maybe_common(cursor: duckdb.DuckDBPyConnection, where: str, params: list[Any]) -> list[str]:
    """The tags that may be on every event: any one event holds every common tag, and a tag that some
    of the first events lack is not common (most kinds of request show there, without a whole scan)."""
    first = cursor.execute(f"SELECT tags FROM events WHERE {where} LIMIT 1", params).fetchone()
    candidates = list(dict.fromkeys(first[0] or [])) if first else []
    if not candidates:
        return []
    everywhere = ", ".join("bool_and(coalesce(list_contains(tags, ?), false))" for _ in candidates)
    row = cursor.execute(
        f"SELECT {everywhere} FROM (SELECT tags FROM events WHERE {where} LIMIT {_FIRST_EVENTS})",
        [*candidates, *params],
    ).fetchone()
    return [tag for tag, kept in zip(candidates, row or (), strict=True) if kept]


def tag_strata(cursor: duckdb.DuckDBPyConnection, where: str, params: list[Any]) -> Strata:
    """Strata by tag: an event's first tag that is neither one of its init tags (which every call of
    its process shares, see the `init_tags` column) nor carried by every event of the population (a
    universal tag sent by another SDK or an older one); `(untagged)` when none is left."""
    candidates = _maybe_common(cursor, where, params)
    prefix = STRATUM_SQL["tag"]
    if not candidates:
        return Strata(prefix, params, _sizes(cursor, prefix, where, params))
    # One pass: the strata by the first tag past the init tags and, for each candidate, how many events
    # carry it at all and past their init tags. A common tag found only among init tags (the SDK's
    # init(tags=[...]) on every call) changes no stratum, and the cheaper expression stays.
    carried = ", ".join(
        "count(*) FILTER (WHERE list_contains(tags, ?)), count(*) FILTER "
        "(WHERE list_contains(list_slice(tags, coalesce(init_tags, 0) + 1, len(tags)), ?))"
        for _ in candidates
    )
    rows = cursor.execute(
        f"SELECT {prefix} AS h, count(*), {carried} FROM events WHERE {where} GROUP BY h",
        [*(tag for tag in candidates for _ in range(2)), *params],
    ).fetchall()
    total = sum(row[1] for row in rows)
    common, past_init = [], False
    for i, tag in enumerate(candidates):
        if sum(row[2 + 2 * i] for row in rows) == total:
            common.append(tag)
            past_init = past_init or sum(row[3 + 2 * i] for row in rows) > 0
    if not past_init:
        return Strata(prefix, params, {row[0]: row[1] for row in rows}, common)
    with_common = [common, *params]
    return Strata(
        _TAG_STRATUM_PAST_COMMON,
        with_common,
        _sizes(cursor, _TAG_STRATUM_PAST_COMMON, where, with_common),
        common,
    )


def _stratified(
    cursor: duckdb.DuckDBPyConnection, spec: SampleSpec, where: str, params: list[Any], key: SampleKey
) -> Sample:
    found = strata(cursor, spec.by, where, params)
    stratum, params, sizes = found.sql, found.params, found.sizes
    counts = allocate(sizes, spec.n, spec.allocation)
    if not any(counts.values()):
        return Sample([], sum(sizes.values()))
    # Keys are uniform 64-bit hashes: a stratum's k smallest almost surely lie under a cut-off a few times
    # k/N of the range, so only those rows reach the window; a stratum short of rows is redrawn uncut.
    cuts = {
        h: min(2**64 - 1, int(2**64 * min(1.0, 4 * k / sizes[h] + 64 / sizes[h]))) for h, k in counts.items()
    }
    rows = _stratified_rows(cursor, key, stratum, where, params, counts, cuts)
    got = Counter(h for _, h in rows)
    if any(got[h] < k for h, k in counts.items()):
        rows = _stratified_rows(cursor, key, stratum, where, params, counts, dict.fromkeys(counts, 2**64 - 1))
    return Sample([(i, sizes[h] / counts[h], h) for i, h in rows], sum(sizes.values()))


def _stratified_rows(
    cursor: duckdb.DuckDBPyConnection,
    key: SampleKey,
    stratum: str,
    where: str,
    params: list[Any],
    counts: dict[str, int],
    cuts: dict[str, int],
) -> list[tuple[str, str]]:
    cursor.execute("CREATE OR REPLACE TEMP TABLE _alloc (h VARCHAR, k BIGINT, cut UBIGINT)")
    cursor.executemany(
        "INSERT INTO _alloc VALUES (?, ?, ?)", [(h, k, cuts[h]) for h, k in counts.items() if k]
    )
    return cursor.execute(
        f"""
        SELECT id, h FROM (
            SELECT c.id, c.h, row_number() OVER (PARTITION BY c.h ORDER BY c.key, c.id) AS rank, a.k FROM (
                SELECT id, {stratum} AS h, {key.sql} AS key FROM events WHERE {where}
            ) c JOIN _alloc a ON c.h = a.h WHERE c.key <= a.cut
        ) WHERE rank <= k ORDER BY h, rank
        """,
        params,
    ).fetchall()


def _feedback(
    cursor: duckdb.DuckDBPyConnection, spec: SampleSpec, where: str, params: list[Any], key: SampleKey
) -> Sample:
    """Probability proportional to (1 - mean feedback score): low scores first, weighted.

    Drawn with Efraimidis-Spirakis keys; inclusion probabilities are the PPS ones, n * s_i / sum(s),
    capped at 1 (the capped rows are taken for sure and the rest re-apportioned).
    """
    scored = cursor.execute(
        f"""
        SELECT e.id, 1.0 - avg(f.score) + 0.05 AS size,
               -ln((({key.sql} >> 11) + 0.5) / 9007199254740992.0) AS u
        FROM events e JOIN feedback f ON f.event_id = e.id
        WHERE {where.replace("list_contains(tags", "list_contains(e.tags")} GROUP BY e.id, e.sample_key
        """,
        params,
    ).fetchall()
    if not scored:
        return Sample([], 0)
    sizes = {i: s for i, s, _ in scored}
    probabilities = pps_probabilities(sizes, spec.n)
    chosen = sorted(scored, key=lambda row: (row[2] / row[1], row[0]))[: spec.n]
    return Sample([(i, 1.0 / probabilities[i], None) for i, _, _ in chosen], len(scored))


def pps_probabilities(sizes: dict[str, float], n: int) -> dict[str, float]:
    """Inclusion probabilities proportional to size for a sample of n, with the ones over 1 capped."""
    probabilities: dict[str, float] = {}
    remaining = dict(sizes)
    slots = min(n, len(sizes))
    while remaining:
        total = sum(remaining.values())
        capped = {i for i, s in remaining.items() if slots * s / total >= 1.0}
        if not capped:
            probabilities.update({i: slots * s / total for i, s in remaining.items()})
            break
        for i in capped:
            probabilities[i] = 1.0
            del remaining[i]
        slots -= len(capped)
        if slots <= 0:
            probabilities.update({i: 0.0 for i in remaining})
            break
    return probabilities


def _errors(
    cursor: duckdb.DuckDBPyConnection, spec: SampleSpec, where: str, params: list[Any], key: SampleKey
) -> Sample:
    population = _count(cursor, where, params)
    ids = cursor.execute(
        f"SELECT id FROM events WHERE {where} "
        f"ORDER BY (status = 'error') DESC, latency_ms DESC NULLS LAST, {key.sql} LIMIT ?",
        [*params, spec.n],
    ).fetchall()
    return Sample([(i, 1.0, None) for (i,) in ids], population, weighting="none")


def _recent(
    cursor: duckdb.DuckDBPyConnection, spec: SampleSpec, where: str, params: list[Any], key: SampleKey
) -> Sample:
    population = _count(cursor, where, params)
    ids = cursor.execute(
        f"SELECT id FROM events WHERE {where} ORDER BY ts DESC, {key.sql} LIMIT ?", [*params, spec.n]
    ).fetchall()
    return Sample([(i, 1.0, None) for (i,) in ids], population, weighting="none")


def _diverse(
    cursor: duckdb.DuckDBPyConnection, spec: SampleSpec, where: str, params: list[Any], key: SampleKey
) -> Sample:
    """One representative per group of near-duplicate prompts, groups drawn at random.

    Prompts equal after normalisation (case, white space) share a `prompt_hash`; a representative
    weighs its group's size times (groups / n), so the weights still sum to the population.
    """
    groups = cursor.execute(
        f"""
        SELECT arg_min(id, key), count(*) AS size FROM (
            SELECT id, prompt_hash, {key.sql} AS key FROM events WHERE {where}
        ) GROUP BY prompt_hash ORDER BY min(key) LIMIT ?
        """,
        [*params, spec.n],
    ).fetchall()
    population = _count(cursor, where, params)
    (group_count,) = cursor.execute(
        f"SELECT count(DISTINCT prompt_hash) FROM events WHERE {where}", params
    ).fetchone() or (0,)
    scale = group_count / len(groups) if groups else 0.0
    return Sample([(i, size * scale, None) for i, size in groups], population)
