"""Issue 7, end to end against a real authorization server: `toolhive run` in front of the rig's
protected MCP server, with oidc-provider as the AS (see server.mjs), the user played by
browser.mjs, MCP clients played by the official Python SDK and raw httpx.

Contract (notes/oauth-cli-contract.md): `toolhive run <URL> --remote-auth-skip-browser` prints
the local URL at once; each time a login is needed stderr carries one line
`Please open this URL in your browser: <url>`; without a valid token MCP clients get 503 with
Retry-After; `toolhive list --format json` shows `auth.state`; tokens and the client
registration live in the state directory, so a restart needs no browser.

All tests here are marked `proxy_oauth`: they need OAuth in the proxy and fail until it lands.
"""

from __future__ import annotations

import json
import re
import threading
import time
from datetime import timedelta

import anyio
import httpx
import pytest
from mcp import ClientSession
from mcp.client.streamable_http import streamable_http_client

from oauth_support import Rig, ToolhiveOAuthProxy, query_of, run_browser, tail

pytestmark = pytest.mark.proxy_oauth

READ_TIMEOUT = timedelta(seconds=60)
PROTOCOL_VERSION = "2025-06-18"
MCP_HEADERS = {"accept": "application/json, text/event-stream", "content-type": "application/json"}


# --------------------------------------------------------------------------------------------
# helpers
# --------------------------------------------------------------------------------------------


def init_body(req_id: int = 1) -> dict:
    return {"jsonrpc": "2.0", "id": req_id, "method": "initialize", "params": {
        "protocolVersion": PROTOCOL_VERSION, "capabilities": {}, "clientInfo": {"name": "oauth-e2e-raw", "version": "0"}}}


def raw_initialize(proxy: ToolhiveOAuthProxy, *, timeout: float = 10, headers: dict | None = None) -> httpx.Response:
    return httpx.post(proxy.url, json=init_body(), headers={**MCP_HEADERS, **(headers or {})}, timeout=timeout)


def assert_503_retry_after(r: httpx.Response, when: str) -> None:
    assert r.status_code == 503, f"{when}: expected 503 (no valid token), got HTTP {r.status_code}: {r.text[:500]!r}"
    ra = r.headers.get("retry-after")
    assert ra is not None and re.fullmatch(r"\d+", ra.strip()), f"{when}: 503 without a Retry-After in seconds: {dict(r.headers)}"
    assert "www-authenticate" not in r.headers, f"{when}: the proxy must not make clients start their own OAuth: {dict(r.headers)}"


def wait_serving(proxy: ToolhiveOAuthProxy, timeout: float = 20, rig: Rig | None = None) -> list[int]:
    """Poll with raw initialize until HTTP 200; 503 meanwhile is fine. Returns the statuses seen.
    With `rig`: fail at once if the proxy asks for a browser login meanwhile."""
    seen: list[int] = []
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if rig is not None and proxy.login_urls():
            raise AssertionError(
                "the proxy asked for a browser login instead of using its stored tokens; the AS saw "
                f"{rig.stats()} and these token calls: {token_events(rig)}\n{tail(proxy.stderr_path)}")
        try:
            r = raw_initialize(proxy, timeout=max(1.0, deadline - time.monotonic()))
        except httpx.TimeoutException:
            seen.append(-1)
            continue
        seen.append(r.status_code)
        if r.status_code == 200:
            return seen
        assert r.status_code == 503, f"while waiting for the proxy to serve: HTTP {r.status_code}: {r.text[:500]!r}"
        time.sleep(0.2)
    raise AssertionError(f"the proxy did not serve within {timeout}s; statuses seen: {seen}\n{tail(proxy.stderr_path)}")


def login(proxy: ToolhiveOAuthProxy, rig: Rig, index: int = 0, poke=None) -> dict:
    """Complete the index-th login this proxy asks for, with browser.mjs; wait until it serves."""
    url = proxy.wait_login_url(index, poke=poke)
    assert url.startswith(rig.info["issuer"] + "/"), f"the login URL is not the rig's AS: {url}"
    result = run_browser(url)
    assert result["callback_status"] == 200, f"the proxy's callback answered {result['callback_status']}: {result}"
    assert not result.get("callback_error"), result
    wait_serving(proxy)
    return {"url": url, "query": query_of(url), "browser": result}


async def sdk_tools(proxy: ToolhiveOAuthProxy) -> dict:
    async with streamable_http_client(proxy.url) as (read, write, _):
        async with ClientSession(read, write, read_timeout_seconds=READ_TIMEOUT) as session:
            await session.initialize()
            tools = {t.name for t in (await session.list_tools()).tools}
            assert {"echo", "whoami"} <= tools, tools
            echo = await session.call_tool("echo", {"message": "through the proxy"})
            assert not echo.isError and echo.content[0].text == "Echo: through the proxy", echo
            who = await session.call_tool("whoami", {})
            return json.loads(who.content[0].text)


def token_events(rig: Rig) -> list[dict]:
    return [e for e in rig.events() if e["grant_type"] in ("authorization_code", "refresh_token")]


def check_rotation_chain(events: list[dict]) -> None:
    """Every refresh presents the refresh token issued by the previous successful grant, and no
    refresh token is presented twice (with rotation, a second use is reuse: invalid_grant)."""
    last_issued = None
    presented = set()
    for e in events:
        if e["grant_type"] == "refresh_token":
            assert e["presented_rt"] not in presented, f"a refresh token was used twice: {e}\nall: {events}"
            presented.add(e["presented_rt"])
            assert e["presented_rt"] == last_issued, f"a refresh did not use the newest (rotated) refresh token: {e}\nall: {events}"
        if e["status"] == 200:
            last_issued = e["issued_rt"] or last_issued


# --------------------------------------------------------------------------------------------
# scenarios
# --------------------------------------------------------------------------------------------


@pytest.mark.anyio
async def test_first_login_dcr_pkce_callback_then_tools(rig, toolhive_oauth):
    proxy = toolhive_oauth(rig, "--remote-auth-timeout", "60s")

    # Before the login: 503 + Retry-After, for concurrent clients too, and one login, not one each.
    results: list[httpx.Response] = []

    def one():
        results.append(raw_initialize(proxy, timeout=15))

    threads = [threading.Thread(target=one) for _ in range(5)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    for r in results:
        assert_503_retry_after(r, "before the first login")

    url = proxy.wait_login_url(0)
    q = query_of(url)
    clients = rig.clients()
    assert len(clients) == 1, f"expected one dynamic registration, got {clients}"
    client = clients[0]
    assert q.get("client_id") == client["client_id"], (q, client)
    assert set(client["grant_types"]) >= {"authorization_code", "refresh_token"}, client
    assert re.fullmatch(r"http://localhost:\d+/callback", q.get("redirect_uri", "")), q
    assert q["redirect_uri"] in client["redirect_uris"] or client.get("application_type") == "native", (q, client)
    assert q.get("response_type") == "code", q
    assert q.get("code_challenge_method") == "S256" and re.fullmatch(r"[A-Za-z0-9_-]{43}", q.get("code_challenge", "")), q
    assert len(q.get("state", "")) >= 16, f"state should be random and long enough: {q}"
    assert q.get("resource") == rig.mcp_url, f"RFC 8707 resource should be the MCP server URL: {q}"
    assert "mcp:tools" in q.get("scope", "").split(), f"scope should come from the challenge / PRM: {q}"

    result = run_browser(url)
    assert result["callback_status"] == 200, result
    wait_serving(proxy)
    assert proxy.wait_auth_state("authenticated") == "authenticated"

    who = await sdk_tools(proxy)
    assert who["sub"] == "alice" and who["client_id"] == client["client_id"] and who["aud"] == rig.mcp_url, who

    # The local client's own Authorization header is never forwarded (the proxy sends its token).
    r = raw_initialize(proxy, headers={"authorization": "Bearer local-client-token"})
    assert r.status_code == 200, f"a local Authorization header broke the request: HTTP {r.status_code} {r.text[:300]}"

    stats = rig.stats()
    assert stats["authorization_code"] == 1 and stats["registrations"] == 1, stats
    assert stats["token_errors"] == 0, (stats, rig.events())
    code_event = token_events(rig)[0]
    assert code_event["grant_type"] == "authorization_code" and code_event["resource"] == rig.mcp_url, code_event
    assert len(proxy.login_urls()) == 1, f"one login should serve every waiting client: {proxy.login_urls()}"


@pytest.mark.anyio
async def test_refresh_once_per_expiry_under_concurrency(rig, toolhive_oauth):
    """5-s access tokens, 50 concurrent tools/call at three instants ~6 s apart (two expiries):
    every call succeeds, the refreshes follow the rotation chain without reuse or error, at most
    one refresh happens per burst, the token is renewed across each expiry, and the number of
    refreshes stays at about one per token lifetime."""
    ttl = rig.info["access_token_ttl"]
    proxy = toolhive_oauth(rig, "--remote-auth-timeout", "60s")
    login(proxy, rig)

    bursts: list[tuple[float, float]] = []
    async with streamable_http_client(proxy.url) as (read, write, _):
        async with ClientSession(read, write, read_timeout_seconds=READ_TIMEOUT) as session:
            await session.initialize()
            t0 = time.time()
            for k in range(3):
                if k:
                    await anyio.sleep(max(0.0, t0 + k * (ttl + 1) - time.time()))
                b0 = time.time()
                results: dict[int, str] = {}

                async def one(i: int, k=k):
                    res = await session.call_tool("echo", {"message": f"b{k}-{i}"})
                    results[i] = res.content[0].text if not res.isError else f"error: {res.content}"

                async with anyio.create_task_group() as tg:
                    for i in range(50):
                        tg.start_soon(one, i)
                bursts.append((b0, time.time()))
                assert results == {i: f"Echo: b{k}-{i}" for i in range(50)}, f"burst {k}: {results}"

    events = token_events(rig)
    check_rotation_chain(events)
    refreshes = [e for e in events if e["grant_type"] == "refresh_token"]
    bad = [e for e in refreshes if e["status"] != 200]
    assert not bad, f"failed refreshes: {bad}"
    assert all(e["resource"] == rig.mcp_url for e in refreshes), f"refresh requests should carry the resource: {refreshes}"

    ms = lambda t: t * 1000  # noqa: E731
    in_window = lambda a, b: [e for e in refreshes if ms(a) <= e["t"] <= ms(b)]  # noqa: E731
    summary = {
        "bursts": [(round(a - bursts[0][0], 2), round(b - bursts[0][0], 2)) for a, b in bursts],
        "refresh_times": [round(e["t"] / 1000 - bursts[0][0], 2) for e in refreshes],
        "mcp": rig.stats()["mcp"],
    }
    for k, (b0, b1) in enumerate(bursts):
        assert len(in_window(b0, b1)) <= 1, f"burst {k}: more than one refresh while 50 requests were in flight: {summary}"
        if k:
            assert len(in_window(bursts[k - 1][1], b1)) >= 1, f"burst {k}: the expired token was not renewed: {summary}"
    window = bursts[-1][1] - bursts[0][0]
    limit = int(window // (ttl / 2)) + 1
    n = len(in_window(bursts[0][0] - 0.5, bursts[-1][1]))
    assert 2 <= n <= limit, f"{n} refreshes in {window:.1f}s of 5-s tokens (expected 2..{limit}): {summary}"


def test_restart_reuses_stored_tokens_without_browser(rig, toolhive_oauth):
    ttl = rig.info["access_token_ttl"]
    proxy = toolhive_oauth(rig, "--remote-auth-timeout", "60s")
    login(proxy, rig)
    who = anyio.run(sdk_tools, proxy)
    assert proxy.stop() == 0, f"toolhive did not exit 0 on SIGTERM\n{tail(proxy.stderr_path)}"

    time.sleep(ttl + 1)  # the stored access token has expired: the restart must use the refresh token
    before = rig.stats()
    proxy.start()  # same name, same state directory
    seen = wait_serving(proxy, rig=rig)
    who2 = anyio.run(sdk_tools, proxy)
    assert who2["client_id"] == who["client_id"] and who2["sub"] == "alice", (who, who2)
    assert proxy.login_urls() == [], f"the restart asked for a login: {proxy.login_urls()}"
    after = rig.stats()
    assert after["authorization_code"] == before["authorization_code"] == 1, (before, after)
    assert after["registrations"] == 1, f"the restart registered a new client: {after}"
    assert after["refresh_token"] >= before["refresh_token"] + 1, (before, after, seen)
    assert after["token_errors"] == 0, rig.events()
    check_rotation_chain(token_events(rig))
    assert proxy.wait_auth_state("authenticated") == "authenticated"


def test_revoked_refresh_token_needs_login_503_then_new_login_recovers(rig, toolhive_oauth):
    ttl = rig.info["access_token_ttl"]
    proxy = toolhive_oauth(rig, "--remote-auth-timeout", "20s")
    login(proxy, rig)
    assert anyio.run(sdk_tools, proxy)["sub"] == "alice"

    assert rig.revoke_all()["revoked"] == 1
    time.sleep(ttl + 1)  # the JWT access token has expired too

    # The next request makes the proxy refresh: invalid_grant -> needs_login, and 503s.
    outcome: dict = {}

    def trigger():
        try:
            outcome["response"] = raw_initialize(proxy, timeout=45)
        except Exception as e:  # noqa: BLE001
            outcome["error"] = e

    t = threading.Thread(target=trigger)
    t.start()
    states: list = []
    deadline = time.monotonic() + 30
    answered_at = None
    while time.monotonic() < deadline:
        s = proxy.auth_state()
        if not states or states[-1] != s:
            states.append(s)
        if s == "needs_login":
            break
        if not t.is_alive():
            answered_at = answered_at or time.monotonic()
            if time.monotonic() - answered_at > 2:
                break
        time.sleep(0.1)
    t.join(50)
    assert "error" not in outcome, f"the request after the revocation failed: {outcome['error']!r}"
    assert_503_retry_after(outcome["response"], "after the refresh token was revoked")
    assert "needs_login" in states or "needs_login" in proxy.stderr_text(), (
        f"no needs_login in `toolhive list` (states seen: {states}) nor in toolhive's stderr\n{tail(proxy.stderr_path)}")

    # While the user has not logged in again: still 503 + Retry-After, promptly.
    assert_503_retry_after(raw_initialize(proxy, timeout=10), "while waiting for the new login")
    stats = rig.stats()
    assert stats["refresh_token_errors"] == 1, f"invalid_grant must not be retried: {stats} {rig.events()}"

    # A new login recovers (the proxy asks for it with a new URL line).
    login(proxy, rig, index=1, poke=lambda: raw_initialize(proxy, timeout=2))
    assert anyio.run(sdk_tools, proxy)["sub"] == "alice"
    assert proxy.wait_auth_state("authenticated") == "authenticated"
    stats = rig.stats()
    assert stats["authorization_code"] == 2, stats
    assert stats["registrations"] <= 2, stats
