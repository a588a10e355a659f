"""The replay's HTTP client against real servers on 127.0.0.1 that answer the way servers do, and don't.

Each server is a plain asyncio TCP server writing the bytes of its answer itself, so that keep-alive
races, bodies without a length, truncated and malformed answers are exactly what the test says.
"""

from __future__ import annotations

import asyncio
import gzip
import logging
import re
import ssl
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from urllib.parse import urlsplit

import pytest
import trustme

from bakeoff.replay.http.client import HttpClient, HttpError
from bakeoff.replay.http.proxy import Proxy, ProxyError, environment_proxy

Handler = Callable[[asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]]


class RawServer:
    """A TCP server on 127.0.0.1 running `handler` per connection; counts the connections."""

    def __init__(self, handler: Handler, ssl_context: ssl.SSLContext | None = None) -> None:
        self.handler = handler
        self.ssl_context = ssl_context
        self.connections = 0
        self.server: asyncio.Server | None = None
        self.tasks: set[asyncio.Task[None]] = set()
        self.url = ""
        self.port = 0

    async def __aenter__(self) -> RawServer:
        async def on_connection(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            self.connections += 1
            task = asyncio.current_task()
            assert task is not None
            self.tasks.add(task)
            try:
                await self.handler(reader, writer)
            except (ConnectionError, asyncio.IncompleteReadError, asyncio.CancelledError):
                pass  # the client went away, or the test is over
            finally:
                writer.close()

        self.server = await asyncio.start_server(on_connection, "127.0.0.1", 0, ssl=self.ssl_context)
        self.port = int(self.server.sockets[0].getsockname()[1])
        scheme = "https" if self.ssl_context else "http"
        self.url = f"{scheme}://localhost:{self.port}/v1/x"
        return self

    async def __aexit__(self, *exc: object) -> None:
        assert self.server is not None
        self.server.close()
        for task in self.tasks:
            task.cancel()
        await asyncio.gather(*self.tasks, return_exceptions=True)


async def read_request(reader: asyncio.StreamReader) -> bytes:
    """One request's head and body (by its Content-Length)."""
    head = await reader.readuntil(b"\r\n\r\n")
    length = next(
        int(line.split(b":")[1]) for line in head.split(b"\r\n") if line.lower().startswith(b"content-length")
    )
    return head + await reader.readexactly(length)


def answer(body: bytes, *headers: str) -> bytes:
    lines = ["HTTP/1.1 200 OK", f"Content-Length: {len(body)}", *headers]
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + body


async def keep_alive_echo(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    while True:
        request = await read_request(reader)
        writer.write(answer(request.split(b"\r\n\r\n", 1)[1]))
        await writer.drain()


@pytest.fixture(autouse=True)
def no_errors_in_callbacks(caplog: pytest.LogCaptureFixture) -> Iterator[None]:
    """asyncio logs, rather than raises, what a protocol's callback raised: none may have."""
    yield
    records = caplog.get_records("call")
    assert not [r.getMessage() for r in records if r.name == "asyncio" and r.levelno >= logging.ERROR]


@pytest.fixture
async def client() -> AsyncIterator[HttpClient]:
    http = HttpClient(limit=4)
    yield http
    await http.close()


async def fetch(client: HttpClient, url: str, body: bytes = b"{}") -> tuple[int, bytes]:
    response = await client.request("POST", url, {"Content-Type": "application/json"}, body)
    try:
        return response.status, await response.read()
    finally:
        response.release()


async def test_connections_are_kept_alive_and_reused(client: HttpClient) -> None:
    async with RawServer(keep_alive_echo) as server:
        for i in range(5):
            assert await fetch(client, server.url, b'{"n": %d}' % i) == (200, b'{"n": %d}' % i)
        assert server.connections == 1


async def test_a_connection_the_server_dropped_between_requests_is_replaced(client: HttpClient) -> None:
    async def answer_then_close(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await read_request(reader)
        writer.write(answer(b"ok"))  # keep-alive by HTTP/1.1's default, then closed all the same
        await writer.drain()

    async with RawServer(answer_then_close) as server:
        for _ in range(3):
            assert await fetch(client, server.url) == (200, b"ok")
        assert server.connections == 3


async def test_a_request_on_a_connection_closed_under_it_is_sent_again_on_a_new_one(
    client: HttpClient,
) -> None:
    async def answers_one_then_hangs_up(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await read_request(reader)
        writer.write(answer(b"first"))
        await writer.drain()
        await read_request(reader)  # the second request on this connection: closed without an answer

    async with RawServer(answers_one_then_hangs_up) as server:
        assert await fetch(client, server.url) == (200, b"first")
        assert await fetch(client, server.url) == (200, b"first")  # sent twice, answered once
        assert server.connections == 2


async def test_chunked_and_connection_delimited_bodies_are_read_whole(client: HttpClient) -> None:
    async def chunked(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await read_request(reader)
        writer.write(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n")
        for part in (b"data: a\n\n", b"data: b\n\n"):
            writer.write(b"%x\r\n%s\r\n" % (len(part), part))
            await writer.drain()
            await asyncio.sleep(0.01)
        writer.write(b"0\r\n\r\n")

    async def until_close(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await read_request(reader)
        writer.write(b"HTTP/1.1 200 OK\r\nConnection: close\r\n\r\nall of it")

    async with RawServer(chunked) as server:
        assert await fetch(client, server.url) == (200, b"data: a\n\ndata: b\n\n")
    async with RawServer(until_close) as server:
        assert await fetch(client, server.url) == (200, b"all of it")


async def test_a_gzip_body_after_an_informational_answer_is_decoded(client: HttpClient) -> None:
    async def gzipped(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        request = await read_request(reader)
        assert b"accept-encoding: gzip" in request.lower()
        writer.write(b"HTTP/1.1 103 Early Hints\r\nLink: </style.css>; rel=preload\r\n\r\n")
        writer.write(answer(gzip.compress(b'{"text": "squeezed"}'), "Content-Encoding: gzip"))

    async with RawServer(gzipped) as server:
        assert await fetch(client, server.url) == (200, b'{"text": "squeezed"}')


@pytest.mark.parametrize(
    ("reply", "reason"),
    [
        (b"HELLO THERE\r\n\r\n", "malformed response"),
        (b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\nonly this", "in the middle of the response body"),
        (b"HTTP/1.1 200 OK\r\nContent-Encoding: gzip\r\nContent-Length: 5\r\n\r\nnope!", "not valid gzip"),
        (b"", "connection closed before the response"),
    ],
)
async def test_broken_answers_are_http_errors(client: HttpClient, reply: bytes, reason: str) -> None:
    async def broken(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await read_request(reader)
        writer.write(reply)

    async with RawServer(broken) as server:
        with pytest.raises(HttpError, match=reason):
            await fetch(client, server.url)


async def test_connection_refused_is_an_http_error(client: HttpClient) -> None:
    with pytest.raises(HttpError, match="cannot connect"):
        await fetch(client, "http://127.0.0.1:9/v1/x")


async def test_a_cancelled_request_closes_its_connection_and_frees_its_slot() -> None:
    async def slow_first(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await read_request(reader)
        await asyncio.sleep(5)

    client = HttpClient(limit=1)  # one slot: the next request proves it was given back
    try:
        async with RawServer(slow_first) as slow:
            with pytest.raises(TimeoutError):
                async with asyncio.timeout(0.2):
                    await fetch(client, slow.url)
        async with RawServer(keep_alive_echo) as server:
            async with asyncio.timeout(5):
                assert await fetch(client, server.url, b"next") == (200, b"next")
    finally:
        await client.close()


async def test_a_body_larger_than_the_buffer_pauses_reading_and_resumes() -> None:
    payload = bytes(range(256)) * 8192  # 2 MiB

    async def big(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await read_request(reader)
        writer.write(answer(payload))
        await writer.drain()

    client = HttpClient(high_water_bytes=64 * 1024)
    try:
        async with RawServer(big) as server:
            response = await client.request("GET", server.url, {})
            received = bytearray()
            while chunk := await response.content.readany():
                received += chunk
                await asyncio.sleep(0.001)  # a slow reader: the buffer fills and reading pauses
            response.release()
            assert bytes(received) == payload
    finally:
        await client.close()


async def test_https_with_the_certificates_the_client_trusts() -> None:
    authority = trustme.CA()
    server_context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    authority.issue_cert("localhost").configure_cert(server_context)
    client_context = ssl.create_default_context()
    authority.configure_trust(client_context)

    client = HttpClient(ssl_context=client_context)
    try:
        async with RawServer(keep_alive_echo, server_context) as server:
            assert server.url.startswith("https://")
            assert await fetch(client, server.url, b"secret") == (200, b"secret")
            assert await fetch(client, server.url, b"again") == (200, b"again")
            assert server.connections == 1
        async with RawServer(keep_alive_echo, server_context) as server:
            untrusting = HttpClient()  # the system's authorities do not know this one
            with pytest.raises(HttpError, match="CERTIFICATE_VERIFY_FAILED"):
                await fetch(untrusting, server.url)
    finally:
        await client.close()


class TunnelProxy:
    """An HTTP proxy: tunnels `CONNECT` requests and forwards absolute-form ones; keeps their heads."""

    def __init__(self, refuse: bool = False) -> None:
        self.refuse = refuse
        self.heads: list[bytes] = []

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        head = await reader.readuntil(b"\r\n\r\n")
        self.heads.append(head)
        method, target, _ = head.split(b"\r\n", 1)[0].decode().split(" ")
        if method == "CONNECT":
            if self.refuse:
                writer.write(b"HTTP/1.1 407 Proxy Authentication Required\r\n\r\n")
                return
            host, port = target.rsplit(":", 1)
            upstream = await asyncio.open_connection(host, int(port))
            writer.write(b"HTTP/1.1 200 Connection established\r\n\r\n")
        else:
            url = urlsplit(target)
            upstream = await asyncio.open_connection(url.hostname, url.port)
            upstream[1].write(head)
        await asyncio.gather(pipe(reader, upstream[1]), pipe(upstream[0], writer))


async def pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    try:
        while data := await reader.read(65536):
            writer.write(data)
            await writer.drain()
    finally:
        writer.close()


def tls_pair() -> tuple[ssl.SSLContext, ssl.SSLContext]:
    """(server, client) contexts of a throwaway authority that issued a certificate for localhost."""
    authority = trustme.CA()
    server_context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    authority.issue_cert("localhost").configure_cert(server_context)
    client_context = ssl.create_default_context()
    authority.configure_trust(client_context)
    return server_context, client_context


async def test_https_through_a_proxy_tunnel_with_credentials() -> None:
    server_context, client_context = tls_pair()
    proxy = TunnelProxy()
    async with RawServer(proxy.handle) as proxy_server, RawServer(keep_alive_echo, server_context) as server:
        client = HttpClient(
            ssl_context=client_context, proxy=f"http://ann:s%40fe@127.0.0.1:{proxy_server.port}"
        )
        try:
            assert await fetch(client, server.url, b"one") == (200, b"one")
            assert await fetch(client, server.url, b"two") == (200, b"two")
        finally:
            await client.close()
    assert len(proxy.heads) == 1  # one tunnel, kept alive for both requests
    assert proxy.heads[0].startswith(f"CONNECT localhost:{server.port} HTTP/1.1\r\n".encode())
    assert b"Proxy-Authorization: Basic YW5uOnNAZmU=\r\n" in proxy.heads[0]  # ann:s@fe


async def test_http_through_a_proxy_uses_absolute_urls() -> None:
    proxy = TunnelProxy()
    async with RawServer(proxy.handle) as proxy_server, RawServer(keep_alive_echo) as server:
        client = HttpClient(proxy=f"127.0.0.1:{proxy_server.port}")
        try:
            assert await fetch(client, server.url, b"plain") == (200, b"plain")
        finally:
            await client.close()
    assert proxy.heads[0].startswith(f"POST {server.url} HTTP/1.1\r\n".encode())


async def test_a_refused_tunnel_is_an_http_error() -> None:
    async with RawServer(TunnelProxy(refuse=True).handle) as proxy_server:
        client = HttpClient(proxy=f"http://127.0.0.1:{proxy_server.port}")
        refusal = re.escape("refused a tunnel to api.example.com:443: 'HTTP/1.1 407")
        with pytest.raises(HttpError, match=refusal):
            await fetch(client, "https://api.example.com/v1/x")
        await client.close()


def test_the_environment_names_the_proxy_but_not_for_loopback_or_no_proxy(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    for name in ("http_proxy", "https_proxy", "all_proxy", "no_proxy"):
        monkeypatch.delenv(name, raising=False)
        monkeypatch.delenv(name.upper(), raising=False)
    assert environment_proxy("https", "api.openai.com") is None
    monkeypatch.setenv("HTTPS_PROXY", "http://proxy.corp:3128")
    monkeypatch.setenv("NO_PROXY", "internal.corp")
    assert environment_proxy("https", "api.openai.com") == Proxy("proxy.corp", 3128)
    assert environment_proxy("http", "api.openai.com") is None  # HTTP_PROXY is not set
    assert environment_proxy("https", "llm.internal.corp") is None
    assert environment_proxy("https", "localhost") is None and environment_proxy("https", "127.0.0.1") is None
    monkeypatch.setenv("HTTPS_PROXY", "socks4://proxy.corp:1080")
    with pytest.raises(ProxyError, match="only http://"):
        environment_proxy("https", "api.openai.com")


async def test_a_header_with_a_line_break_is_refused_before_anything_is_sent(client: HttpClient) -> None:
    async with RawServer(keep_alive_echo) as server:
        with pytest.raises(ValueError, match="'Authorization' holds a line break"):
            await client.request("POST", server.url, {"Authorization": "Bearer k\r\nX-Evil: 1"}, b"{}")
        assert server.connections == 0
