"""Reads that see every replica's acknowledged events: the store as a route gets it behind the barrier.

:data:`FreshStoreDep` is :data:`~bakeoff.collector.deps.StoreDep` (this replica's own acknowledged
events committed) plus, on DuckLake, the cluster's read barrier (every other live replica's too, see
:mod:`bakeoff.collector.read_barrier`). A route answers with :func:`behind_headers`, which names the
replicas it could not wait for, if any, in the `X-Bakeoff-Replicas-Behind` header.
"""

from __future__ import annotations

import asyncio
from typing import Annotated

from fastapi import Depends, Request

from bakeoff.collector.deps import get_store
from bakeoff.collector.read_barrier import BEHIND_HEADER
from bakeoff.collector.store import Store


async def fresh_store(request: Request) -> Store:
    """The store, once every event acknowledged anywhere in the cluster before this request is committed
    (or the replicas that hold some cannot be waited for: see :func:`behind_headers`)."""
    store = await get_store(request)
    if store.kind == "ducklake":  # one catalog query when nothing is pending; in a thread, as it may wait
        request.state.replicas_behind = await asyncio.to_thread(store.await_replicas)
    return store


def behind_headers(request: Request) -> dict[str, str]:
    """The response header naming the replicas whose acknowledged events this answer may lack."""
    behind: list[str] = getattr(request.state, "replicas_behind", None) or []
    return {BEHIND_HEADER: ", ".join(behind)} if behind else {}


FreshStoreDep = Annotated[Store, Depends(fresh_store)]
