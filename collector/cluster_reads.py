"""Answers that say which replicas' acknowledged events they may lack: the `X-Bakeoff-Replicas-Behind` header.

On DuckLake every read waits behind the cluster's read barrier (:func:`bakeoff.collector.deps.await_cluster`,
:mod:`bakeoff.collector.read_barrier`); a replica that is down, or still behind when the wait times out,
cannot be waited for. :class:`ReplicasBehindHeader` names those replicas in the answer of every route,
errors included (a 404 may be why), so no route has to remember to.
"""

from __future__ import annotations

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from bakeoff.collector.read_barrier import BEHIND_HEADER

_HEADER = BEHIND_HEADER.lower().encode()


class ReplicasBehindHeader:
    """ASGI middleware: adds the header when the request's read barrier left replicas behind."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def send_with_header(message: Message) -> None:
            if message["type"] == "http.response.start":
                behind = (scope.get("state") or {}).get("replicas_behind")
                if behind:
                    headers = list(message.get("headers", []))
                    headers.append((_HEADER, ", ".join(behind).encode()))
                    message = {**message, "headers": headers}
            await send(message)

        await self.app(scope, receive, send_with_header)
