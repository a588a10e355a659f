"""Proxies the tests run on 127.0.0.1, each on its own event loop in a background thread.

- :class:`Socks5Proxy`: SOCKS5 (RFC 1928) CONNECT with username/password authentication (RFC 1929).
- :class:`HttpsProxy`: an HTTP proxy spoken to over TLS: `CONNECT` tunnels and absolute-form requests,
  `Proxy-Authorization: Basic` checked.
- :class:`TlsFront`: TLS in front of a plain server (the simulator), making it an https origin.
- :class:`Authority`: a throwaway certificate authority (trustme) for all of them.

Both proxies resolve host names through `names` (a name they do not know is unreachable), so tests
can use origin names that only "the proxy's network" knows, as with a corporate proxy.
"""

from __future__ import annotations

import asyncio
import base64
import ipaddress
import ssl
import threading
from pathlib import Path
from typing import Self
from urllib.parse import urlsplit

import trustme

# The loops of servers that are stopping (see `closed`).
_STOPPING: set[asyncio.AbstractEventLoop] = set()


class Authority:
    """A certificate authority of the tests' own: server certificates, and clients that trust them."""

    def __init__(self) -> None:
        self._ca = trustme.CA()

    def server_context(self, *names: str) -> ssl.SSLContext:
        """A TLS server context with a certificate for `names` (host names or IP addresses)."""
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        self._ca.issue_cert(*names).configure_cert(context)
        return context

    def client_context(self) -> ssl.SSLContext:
        """A client context that trusts this authority only."""
        context = ssl.create_default_context()
        self._ca.configure_trust(context)
        return context

    def pem(self, path: Path) -> Path:
        """The authority's certificate written to `path` (for `SSL_CERT_FILE`)."""
        self._ca.cert_pem.write_to_path(str(path))
        return path


class BackgroundServer:
    """An asyncio server on 127.0.0.1 in a thread of its own; `handle` serves each connection."""

    def __init__(self, ssl_context: ssl.SSLContext | None = None) -> None:
        self.ssl_context = ssl_context
        self.port = 0
        self.connections = 0
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._server: asyncio.Server | None = None
        self._tasks: set[asyncio.Task[None]] = set()

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        raise NotImplementedError

    async def _on_connection(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        task = asyncio.current_task()
        assert task is not None
        self._tasks.add(task)
        try:
            await self.handle(reader, writer)
        except (OSError, asyncio.IncompleteReadError, asyncio.CancelledError):
            pass  # a client that went away, or the server stopping
        finally:
            await closed(writer)
            self._tasks.discard(task)  # only now: a stopping server waits for the closes too

    def start(self) -> BackgroundServer:
        ready = threading.Event()

        async def serve() -> None:
            self._server = await asyncio.start_server(
                self._on_connection, "127.0.0.1", 0, ssl=self.ssl_context
            )
            self.port = self._server.sockets[0].getsockname()[1]
            ready.set()

        async def finish() -> None:
            assert self._server is not None
            _STOPPING.add(asyncio.get_running_loop())
            self._server.close()
            for task in list(self._tasks):
                task.cancel()
            await asyncio.gather(*self._tasks, return_exceptions=True)
            await self._server.wait_closed()

        def run() -> None:
            loop = self._loop = asyncio.new_event_loop()
            loop.run_until_complete(serve())
            loop.run_forever()
            loop.run_until_complete(finish())
            _STOPPING.discard(loop)
            loop.close()

        self._thread = threading.Thread(target=run, daemon=True)
        self._thread.start()
        if not ready.wait(10):
            raise RuntimeError("the test server did not start")
        return self

    def stop(self) -> None:
        if self._loop is not None and self._thread is not None:
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join(10)
            self._loop = self._thread = None

    def __enter__(self) -> Self:
        self.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()


async def pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    """Copy `reader` into `writer` until its end."""
    try:
        while data := await reader.read(65536):
            writer.write(data)
            await writer.drain()
    finally:
        writer.close()


async def splice(
    client: tuple[asyncio.StreamReader, asyncio.StreamWriter],
    upstream: tuple[asyncio.StreamReader, asyncio.StreamWriter],
) -> None:
    """Both directions at once, until both ends are done; both connections closed at the end."""
    try:
        await asyncio.gather(
            pipe(client[0], upstream[1]), pipe(upstream[0], client[1]), return_exceptions=True
        )
    finally:
        await closed(upstream[1])
        await closed(client[1])


async def closed(writer: asyncio.StreamWriter) -> None:
    """Close `writer` and wait until its transport is gone (before a stopping loop closes).

    While the server stops, connections are cut rather than closed: a TLS close waits for the
    client's answer, and a client on the thread that stops the server cannot answer meanwhile.
    """
    if asyncio.get_running_loop() in _STOPPING:
        writer.transport.abort()
    else:
        writer.close()
    try:
        await writer.wait_closed()
    except asyncio.CancelledError:  # the server stops meanwhile: cut it
        writer.transport.abort()
    except OSError:
        pass


class _Resolving(BackgroundServer):
    def __init__(self, ssl_context: ssl.SSLContext | None, names: dict[str, str] | None) -> None:
        super().__init__(ssl_context)
        self.names = names or {}

    def resolve(self, host: str) -> str | None:
        """The address to connect to for `host`: through `names`, else an address as such (None: unknown)."""
        if host in self.names:
            return self.names[host]
        try:
            return str(ipaddress.ip_address(host))
        except ValueError:
            return None


class Socks5Proxy(_Resolving):
    """SOCKS5 CONNECT; with `credentials`, only username/password authentication with those.

    `requests` keeps each CONNECT as (address type, host, port): 1 IPv4, 3 a name, 4 IPv6.
    `logins` keeps the credentials each client gave.
    """

    def __init__(
        self, credentials: tuple[str, str] | None = None, names: dict[str, str] | None = None
    ) -> None:
        super().__init__(None, names)
        self.credentials = credentials
        self.requests: list[tuple[int, str, int]] = []
        self.logins: list[tuple[str, str]] = []

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        version, count = await reader.readexactly(2)
        methods = await reader.readexactly(count)
        if version != 5:
            return
        wanted = 2 if self.credentials else 0
        if wanted not in methods:
            writer.write(b"\x05\xff")
            return
        writer.write(bytes([5, wanted]))
        if self.credentials:
            _, length = await reader.readexactly(2)
            user = (await reader.readexactly(length)).decode()
            (length,) = await reader.readexactly(1)
            password = (await reader.readexactly(length)).decode()
            self.logins.append((user, password))
            if (user, password) != self.credentials:
                writer.write(b"\x01\x01")
                return
            writer.write(b"\x01\x00")
        _, command, _, kind = await reader.readexactly(4)
        if kind == 1:
            host = str(ipaddress.IPv4Address(await reader.readexactly(4)))
        elif kind == 4:
            host = str(ipaddress.IPv6Address(await reader.readexactly(16)))
        else:
            (length,) = await reader.readexactly(1)
            host = (await reader.readexactly(length)).decode()
        port = int.from_bytes(await reader.readexactly(2), "big")
        self.requests.append((kind, host, port))
        if command != 1:
            writer.write(b"\x05\x07\x00\x01" + bytes(6))
            return
        address = self.resolve(host)
        if address is None:
            writer.write(b"\x05\x04\x00\x01" + bytes(6))  # host unreachable
            return
        try:
            upstream = await asyncio.open_connection(address, port)
        except OSError:
            writer.write(b"\x05\x05\x00\x01" + bytes(6))  # connection refused
            return
        writer.write(b"\x05\x00\x00\x01" + bytes(4) + b"\x00\x00")
        await splice((reader, writer), upstream)


class HttpsProxy(_Resolving):
    """An HTTP proxy over TLS: `CONNECT` tunnels and absolute-form requests; keeps each request head.

    With `credentials`, a request without the matching `Proxy-Authorization: Basic` is answered 407.
    """

    def __init__(
        self,
        ssl_context: ssl.SSLContext,
        credentials: tuple[str, str] | None = None,
        names: dict[str, str] | None = None,
    ) -> None:
        super().__init__(ssl_context, names)
        self.credentials = credentials
        self.heads: list[bytes] = []

    def _authorised(self, head: bytes) -> bool:
        if self.credentials is None:
            return True
        expected = base64.b64encode(":".join(self.credentials).encode())
        return f"proxy-authorization: basic {expected.decode()}".lower().encode() in head.lower()

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        head = await reader.readuntil(b"\r\n\r\n")
        self.heads.append(head)
        method, target, _ = head.split(b"\r\n", 1)[0].decode().split(" ")
        if not self._authorised(head):
            writer.write(
                b"HTTP/1.1 407 Proxy Authentication Required\r\n"
                b'Proxy-Authenticate: Basic realm="tests"\r\nContent-Length: 0\r\n\r\n'
            )
            await writer.drain()
            return
        host, port = target.rsplit(":", 1) if method == "CONNECT" else (urlsplit(target).hostname, None)
        address = self.resolve((host or "").strip("[]"))
        if address is None:
            writer.write(b"HTTP/1.1 502 Bad Gateway\r\nContent-Length: 0\r\n\r\n")
            return
        if method == "CONNECT":
            upstream = await asyncio.open_connection(address, int(port or 0))
            writer.write(b"HTTP/1.1 200 Connection established\r\n\r\n")
        else:
            upstream = await asyncio.open_connection(address, urlsplit(target).port or 80)
            upstream[1].write(head)
        await splice((reader, writer), upstream)


class TlsFront(BackgroundServer):
    """TLS on 127.0.0.1 in front of a plain server on `upstream_port`: an https origin."""

    def __init__(self, ssl_context: ssl.SSLContext, upstream_port: int) -> None:
        super().__init__(ssl_context)
        self.upstream_port = upstream_port

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await splice((reader, writer), await asyncio.open_connection("127.0.0.1", self.upstream_port))
