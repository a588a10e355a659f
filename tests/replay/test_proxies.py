"""https:// and socks5(h):// proxies, with credentials, against proxies the tests run (tests/support/proxies).

The origins are real TLS servers (a throwaway authority's certificates) in front of the simulator.
The HTTP client first, then whole replays that find their proxy in the environment, as users set it.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import orjson
import pytest
import yaml

from bakeoff.replay.http.client import HttpClient, HttpError
from bakeoff.replay.http.proxy import Proxy, ProxyError, environment_proxy, proxy_from_url
from bakeoff.replay.simulator.server import SimulatorServer
from support.proxies import Authority, HttpsProxy, Socks5Proxy, TlsFront
from support.replaying import replay

# A name only the proxies know (as hosts behind a corporate proxy): it resolves nowhere else.
ORIGIN = "llm.test"
NAMES = {ORIGIN: "127.0.0.1", "localhost": "127.0.0.1", "::1": "127.0.0.1"}
PROXY_VARIABLES = ("http_proxy", "https_proxy", "all_proxy", "no_proxy")


@pytest.fixture(scope="module")
def authority() -> Authority:
    return Authority()


@pytest.fixture(scope="module")
def simulator() -> Iterator[SimulatorServer]:
    with SimulatorServer() as server:
        yield server


@pytest.fixture(scope="module")
def origin(authority: Authority, simulator: SimulatorServer) -> Iterator[TlsFront]:
    """The simulator behind TLS, with a certificate for llm.test and localhost."""
    with TlsFront(authority.server_context(ORIGIN, "localhost"), simulator.port) as front:
        yield front


@pytest.fixture(autouse=True)
def no_proxy_in_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in PROXY_VARIABLES:
        monkeypatch.delenv(name, raising=False)
        monkeypatch.delenv(name.upper(), raising=False)


async def ask(client: HttpClient, url: str, text: str) -> str:
    """A chat completion through `client`; the simulator echoes `text`."""
    body = orjson.dumps({"model": "m", "messages": [{"role": "user", "content": text}]})
    response = await client.request(
        "POST", url + "/v1/chat/completions", {"Content-Type": "application/json"}, body
    )
    try:
        assert response.status == 200, await response.read()
        return str(orjson.loads(await response.read())["choices"][0]["message"]["content"])
    finally:
        response.release()


async def test_https_proxy_tls_inside_tls_with_credentials(authority: Authority, origin: TlsFront) -> None:
    with HttpsProxy(authority.server_context("localhost"), ("ann", "s@fe:1"), NAMES) as proxy:
        client = HttpClient(
            ssl_context=authority.client_context(), proxy=f"https://ann:s%40fe%3A1@localhost:{proxy.port}"
        )
        try:
            assert await ask(client, f"https://{ORIGIN}:{origin.port}", "one") == "one"
            assert await ask(client, f"https://{ORIGIN}:{origin.port}", "two") == "two"
        finally:
            await client.close()
    assert proxy.connections == 1  # one tunnel, kept alive for both requests
    (head,) = proxy.heads
    assert head.startswith(f"CONNECT {ORIGIN}:{origin.port} HTTP/1.1\r\n".encode())
    assert b"Proxy-Authorization: Basic YW5uOnNAZmU6MQ==\r\n" in head  # ann:s@fe:1, percent-decoded


async def test_https_proxy_forwards_http_origins_in_absolute_form(
    authority: Authority, simulator: SimulatorServer
) -> None:
    with HttpsProxy(authority.server_context("localhost"), ("ann", "pw"), NAMES) as proxy:
        client = HttpClient(
            ssl_context=authority.client_context(), proxy=f"https://ann:pw@localhost:{proxy.port}"
        )
        try:
            assert await ask(client, simulator.url, "plain") == "plain"
        finally:
            await client.close()
    assert proxy.heads[0].startswith(f"POST {simulator.url}/v1/chat/completions HTTP/1.1\r\n".encode())
    assert b"Proxy-Authorization: Basic YW5uOnB3\r\n" in proxy.heads[0]


async def test_https_proxy_wants_its_credentials_and_its_certificate(
    authority: Authority, origin: TlsFront
) -> None:
    target = f"https://{ORIGIN}:{origin.port}"
    with HttpsProxy(authority.server_context("localhost"), ("ann", "pw"), NAMES) as proxy:
        for credentials in ("", "ann:wrong@", "bob:pw@"):
            client = HttpClient(
                ssl_context=authority.client_context(), proxy=f"https://{credentials}localhost:{proxy.port}"
            )
            refused = f"the proxy https://localhost:{proxy.port} refused a tunnel to {ORIGIN}:{origin.port}: "
            with pytest.raises(
                HttpError, match=re.escape(refused) + ".*407.*check the credentials in the proxy URL"
            ):
                await ask(client, target, "x")
            await client.close()
        untrusting = HttpClient(proxy=f"https://ann:pw@localhost:{proxy.port}")  # the system's authorities
        with pytest.raises(
            HttpError, match=r"cannot connect to the proxy https://localhost:\d+: .*CERTIFICATE_VERIFY_FAILED"
        ):
            await ask(untrusting, target, "x")
        await untrusting.close()
    assert len(proxy.heads) == 3  # the untrusting client never got as far as a request


async def test_socks5h_gives_the_proxy_the_name(
    authority: Authority, origin: TlsFront, simulator: SimulatorServer
) -> None:
    with Socks5Proxy(("ann", "p@ss"), NAMES) as proxy:
        client = HttpClient(
            ssl_context=authority.client_context(), proxy=f"socks5h://ann:p%40ss@127.0.0.1:{proxy.port}"
        )
        try:
            assert await ask(client, f"https://{ORIGIN}:{origin.port}", "tls") == "tls"
            assert await ask(client, f"https://{ORIGIN}:{origin.port}", "again") == "again"
            assert await ask(client, f"http://{ORIGIN}:{simulator.port}", "plain") == "plain"
        finally:
            await client.close()
    assert proxy.requests == [(3, ORIGIN, origin.port), (3, ORIGIN, simulator.port)]
    assert proxy.logins == [("ann", "p@ss")] * 2
    # Through SOCKS the origin gets the request as if it were reached directly.
    plain = simulator.requests[-1]
    assert plain["body"]["messages"][-1]["content"] == "plain"
    assert (
        plain["headers"]["Host"] == f"{ORIGIN}:{simulator.port}"
        and "Proxy-Authorization" not in plain["headers"]
    )


async def test_socks5_resolves_the_name_itself(authority: Authority, origin: TlsFront) -> None:
    with Socks5Proxy(None, NAMES) as proxy:
        client = HttpClient(ssl_context=authority.client_context(), proxy=f"socks5://127.0.0.1:{proxy.port}")
        try:
            assert await ask(client, f"https://localhost:{origin.port}", "local dns") == "local dns"
        finally:
            await client.close()
    ((kind, host, port),) = proxy.requests
    assert kind in (1, 4) and host in ("127.0.0.1", "::1") and port == origin.port  # an address, not a name
    assert proxy.logins == []


async def test_socks5_refusals_are_one_line_each(authority: Authority, origin: TlsFront) -> None:
    target = f"https://{ORIGIN}:{origin.port}"
    with Socks5Proxy(("ann", "pw"), NAMES) as proxy:
        url = f"127.0.0.1:{proxy.port}"
        for proxy_url, message in [
            (
                f"socks5h://{url}",
                f"the SOCKS5 proxy socks5h://{url} wants credentials: give them in the proxy URL",
            ),
            (
                f"socks5h://ann:nope@{url}",
                f"the SOCKS5 proxy socks5h://{url} refused the credentials of user 'ann'",
            ),
            (f"socks5h://ann:pw@{url}", f"refused a tunnel to nowhere.test:{origin.port}: host unreachable"),
        ]:
            client = HttpClient(ssl_context=authority.client_context(), proxy=proxy_url)
            with pytest.raises(HttpError, match=re.escape(message)) as raised:
                await ask(client, target.replace(ORIGIN, "nowhere.test"), "x")
            assert "\n" not in str(raised.value)
            await client.close()
    assert proxy.logins == [("ann", "nope"), ("ann", "pw")]
    closed = HttpClient(proxy=f"socks5://{url}")  # the proxy has stopped: nothing listens there
    with pytest.raises(HttpError, match=re.escape(f"cannot connect to the proxy socks5://{url}: ")):
        await ask(closed, target, "x")
    await closed.close()


def test_proxy_urls() -> None:
    assert proxy_from_url("https://proxy.corp") == Proxy("proxy.corp", 443, scheme="https")
    assert proxy_from_url("SOCKS5H://proxy.corp") == Proxy("proxy.corp", 1080, scheme="socks5h")
    socks = proxy_from_url("socks5://j%C3%B6rg:p%3Aw%40d@[::1]:1081")
    assert socks == Proxy("::1", 1081, scheme="socks5", credentials=("jörg", "p:w@d"))
    assert str(socks) == "socks5://[::1]:1081" and "p:w@d" not in repr(socks)
    assert (
        proxy_from_url("https://ann:pw@proxy.corp:8443").header() == "\r\nProxy-Authorization: Basic YW5uOnB3"
    )
    assert proxy_from_url("proxy.corp:3128") == Proxy("proxy.corp", 3128)
    for url, message in [
        (
            "socks4://ann:secret@proxy.corp",
            "unsupported proxy 'socks4://ann:***@proxy.corp': only http://, https://",
        ),
        ("https://proxy.corp:99999", "the port is not a number"),
        ("socks5://:pw@proxy.corp", "SOCKS5 user names and passwords are 1 to 255 bytes"),
        (f"socks5://ann:{'x' * 256}@proxy.corp", "SOCKS5 user names and passwords are 1 to 255 bytes"),
        ("https://", "names no host"),
    ]:
        with pytest.raises(ProxyError, match=re.escape(message)) as raised:
            proxy_from_url(url)
        assert "secret" not in str(raised.value) and "x" * 256 not in str(raised.value)


def test_the_environment_names_https_and_socks_proxies(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ALL_PROXY", "socks5h://ann:pw@socks.corp")
    assert environment_proxy("https", "api.openai.com") == Proxy(
        "socks.corp", 1080, scheme="socks5h", credentials=("ann", "pw")
    )
    monkeypatch.setenv("HTTPS_PROXY", "https://proxy.corp:8443")
    monkeypatch.setenv("NO_PROXY", "internal.corp")
    assert environment_proxy("https", "api.openai.com") == Proxy("proxy.corp", 8443, scheme="https")
    assert environment_proxy("http", "api.openai.com") == Proxy(
        "socks.corp", 1080, scheme="socks5h", credentials=("ann", "pw")
    )
    assert environment_proxy("https", "llm.internal.corp") is None
    assert environment_proxy("https", "127.0.0.1") is None


def _config(folder: Path, origin: TlsFront) -> Path:
    provider = {
        "id": "behind",
        "provider": "openai-compatible",
        "model": "m",
        "base_url": f"https://{ORIGIN}:{origin.port}/v1",
    }
    section = {"providers": [provider], "metrics": ["exact_match"], "retries": 0, "timeout": 10}
    path = folder / "bakeoff.yaml"
    path.write_text(yaml.safe_dump({"replay": section}))
    return path


def _dataset(folder: Path) -> Path:
    path = folder / "cases.jsonl"
    path.write_text(
        "".join(
            json.dumps({"id": f"c{i}", "input": f"answer {i}", "expected": f"answer {i}"}) + "\n"
            for i in range(4)
        )
    )
    return path


def _rows(output: Path) -> list[dict[str, Any]]:
    (run,) = output.iterdir()
    return [json.loads(line) for line in (run / "detailed_results.jsonl").read_text().splitlines()]


@pytest.mark.parametrize("kind", ["https", "socks5h"])
def test_a_replay_through_the_environments_proxy(
    kind: str, authority: Authority, origin: TlsFront, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SSL_CERT_FILE", str(authority.pem(tmp_path / "ca.pem")))  # trusted as the system's
    proxy: HttpsProxy | Socks5Proxy
    if kind == "https":
        proxy = HttpsProxy(authority.server_context("localhost"), ("ann", "pw"), NAMES)
        variable, url = "HTTPS_PROXY", "https://ann:pw@localhost:{port}"
    else:
        proxy = Socks5Proxy(("ann", "pw"), NAMES)
        variable, url = "ALL_PROXY", "socks5h://ann:pw@127.0.0.1:{port}"
    config, dataset = _config(tmp_path, origin), _dataset(tmp_path)
    with proxy:
        monkeypatch.setenv(variable, url.format(port=proxy.port))
        assert replay(config, dataset, tmp_path / "runs", "--no-cache") == 0
        rows = _rows(tmp_path / "runs")
        assert sorted(r["output"]["text"] for r in rows) == [f"answer {i}" for i in range(4)]
        assert all(r["error"] is None and r["scores"]["exact_match"]["score"] == 1.0 for r in rows)
        if isinstance(proxy, HttpsProxy):
            connect = f"CONNECT {ORIGIN}:{origin.port} ".encode()
            assert proxy.heads and all(head.startswith(connect) for head in proxy.heads)
        else:
            assert proxy.requests and set(proxy.requests) == {(3, ORIGIN, origin.port)}

        # The same replay with a wrong password: every row says why, in one line, and the run says it failed.
        monkeypatch.setenv(variable, url.replace(":pw@", ":wrong@").format(port=proxy.port))
        assert replay(config, dataset, tmp_path / "refused", "--no-cache") == 1
    for row in _rows(tmp_path / "refused"):
        assert row["error"]["type"] == "ConnectionError"
        assert re.search(
            "check the credentials in the proxy URL|refused the credentials of user 'ann'",
            row["error"]["message"],
        )
