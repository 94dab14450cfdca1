"""End-to-end: the official Python MCP SDK client, through `toolhive run`, against server-everything.

Also raw-HTTP (httpx) checks of what the proxy itself must answer.
"""

from __future__ import annotations

import json
import time
from datetime import timedelta

import anyio
import httpx
import pytest
from httpx_sse import aconnect_sse
from mcp import ClientSession
from mcp.client.sse import sse_client
from mcp.client.streamable_http import streamable_http_client
from pydantic import AnyUrl

from e2e_support import (
    DIRECT,
    RawSession,
    assert_jsonrpc_error_body,
    init_request,
    mcp_headers,
    resolve_endpoint,
    response_for,
)

READ_TIMEOUT = timedelta(seconds=20)

LONG_TOOL = "trigger-long-running-operation"
EXPECTED_TOOLS = {"echo", "get-sum", LONG_TOOL}
EXPECTED_PROMPTS = {"simple-prompt", "args-prompt"}


# --------------------------------------------------------------------------------------------
# SDK helpers
# --------------------------------------------------------------------------------------------


def _text(result) -> str:
    assert not getattr(result, "isError", False), result
    texts = [c.text for c in result.content if getattr(c, "type", None) == "text"]
    assert texts, result
    return "\n".join(texts)


async def _check_initialize(session: ClientSession):
    init = await session.initialize()
    assert init.serverInfo.name == "mcp-servers/everything", init.serverInfo
    assert init.capabilities.tools is not None
    assert init.capabilities.resources is not None
    assert init.capabilities.prompts is not None
    return init


async def _check_tools(session: ClientSession):
    tools = await session.list_tools()
    names = {t.name for t in tools.tools}
    missing = EXPECTED_TOOLS - names
    assert not missing, f"tools/list lacks {missing}; got {sorted(names)}"

    echoed = _text(await session.call_tool("echo", {"message": "hello through the proxy ✓"}))
    assert echoed == "Echo: hello through the proxy ✓"

    summed = _text(await session.call_tool("get-sum", {"a": 2, "b": 40}))
    assert summed == "The sum of 2 and 40 is 42."


async def _check_progress_streams(session: ClientSession, duration: float = 2.4, steps: int = 4):
    """Progress notifications must reach the client one by one while the tool is still running."""
    stamps: list[tuple[float, float, float | None]] = []

    async def on_progress(progress: float, total: float | None, message: str | None) -> None:
        stamps.append((time.monotonic(), progress, total))

    t0 = time.monotonic()
    result = await session.call_tool(
        LONG_TOOL, {"duration": duration, "steps": steps}, read_timeout_seconds=READ_TIMEOUT, progress_callback=on_progress
    )
    t_end = time.monotonic()
    assert "Long running operation completed" in _text(result)

    assert [p for _, p, _ in stamps] == list(range(1, steps + 1)), stamps
    assert all(t == steps for _, _, t in stamps), stamps
    times = [t for t, _, _ in stamps]
    step = duration / steps
    rel = [round(t - t0, 3) for t in times]
    # The first notification comes about one step after the call, long before the result.
    assert times[0] - t0 < step + 1.5, f"first progress notification too late: {rel}"
    assert t_end - times[0] >= 0.5 * (duration - step), f"progress was not streamed (arrival times {rel}, result at {t_end - t0:.3f})"
    # And they arrive spread out over the run, not in one burst (loose bound: CI machines are busy).
    span = times[-1] - times[0]
    assert span >= 0.5 * step * (steps - 1), f"progress notifications arrived in a burst: times {rel}"


async def _check_resources(session: ClientSession):
    listed = await session.list_resources()
    uris = [str(r.uri) for r in listed.resources]
    static = [u for u in uris if u.startswith("demo://resource/static/document/")]
    assert static, f"no static document resources in {uris}"
    uri = next((u for u in static if u.endswith("instructions.md")), static[0])
    read = await session.read_resource(AnyUrl(uri))
    assert read.contents and str(read.contents[0].uri) == uri
    assert getattr(read.contents[0], "text", ""), read.contents[0]

    templates = await session.list_resource_templates()
    assert any("demo://resource/dynamic/text/" in t.uriTemplate for t in templates.resourceTemplates), templates
    dyn = await session.read_resource(AnyUrl("demo://resource/dynamic/text/7"))
    assert dyn.contents[0].text.startswith("Resource 7:"), dyn.contents[0]


async def _check_prompts(session: ClientSession):
    prompts = await session.list_prompts()
    names = {p.name for p in prompts.prompts}
    assert EXPECTED_PROMPTS <= names, names
    simple = await session.get_prompt("simple-prompt")
    assert simple.messages[0].content.text == "This is a simple prompt without arguments."
    args = await session.get_prompt("args-prompt", {"city": "Lyon", "state": "Rhône"})
    assert args.messages[0].content.text == "What's weather in Lyon, Rhône?"


# --------------------------------------------------------------------------------------------
# Streamable HTTP through the proxy (SDK)
# --------------------------------------------------------------------------------------------


@pytest.mark.anyio
async def test_streamable_full_session(streamable):
    srv, proxy = streamable
    async with streamable_http_client(proxy.url) as (read, write, get_session_id):
        async with ClientSession(read, write, read_timeout_seconds=READ_TIMEOUT) as session:
            await _check_initialize(session)
            assert get_session_id(), "no Mcp-Session-Id reached the client"
            await _check_tools(session)
            await _check_resources(session)
            await _check_prompts(session)
            await session.send_ping()


@pytest.mark.anyio
async def test_streamable_progress_is_streamed(streamable):
    srv, proxy = streamable
    async with streamable_http_client(proxy.url) as (read, write, _):
        async with ClientSession(read, write, read_timeout_seconds=READ_TIMEOUT) as session:
            await session.initialize()
            await _check_progress_streams(session)


@pytest.mark.anyio
async def test_streamable_concurrent_calls(streamable):
    """Several requests in flight on one session: each answer reaches its caller."""
    srv, proxy = streamable
    async with streamable_http_client(proxy.url) as (read, write, _):
        async with ClientSession(read, write, read_timeout_seconds=READ_TIMEOUT) as session:
            await session.initialize()
            results: dict[int, str] = {}

            async def one(i: int):
                results[i] = _text(await session.call_tool("echo", {"message": f"m{i}"}))

            async with anyio.create_task_group() as tg:
                tg.start_soon(_check_progress_streams, session, 1.6, 4)
                for i in range(8):
                    tg.start_soon(one, i)
            assert results == {i: f"Echo: m{i}" for i in range(8)}


@pytest.mark.anyio
async def test_streamable_session_end_deletes_upstream_session(streamable):
    """The SDK sends DELETE on close; afterwards the old session id is dead, locally and upstream."""
    srv, proxy = streamable
    async with streamable_http_client(proxy.url) as (read, write, get_session_id):
        async with ClientSession(read, write, read_timeout_seconds=READ_TIMEOUT) as session:
            await session.initialize()
            await session.call_tool("echo", {"message": "x"})
            sid = get_session_id()
    assert sid

    listing = {"jsonrpc": "2.0", "id": 9, "method": "tools/list"}
    async with httpx.AsyncClient(timeout=10) as http:
        r = await http.post(proxy.url, json=listing, headers=mcp_headers(sid))
        # server-everything answers 400 for unknown sessions; the spec's answer is 404.
        # A proxy that re-initialized a session the client itself ended would answer 200 here.
        assert r.status_code in (400, 404), f"old session still usable through {proxy.url}: HTTP {r.status_code} {r.text[:300]}"
        if not DIRECT:
            # If the proxy passed the upstream id through, upstream must have forgotten it too.
            r = await http.post(srv.url, json=listing, headers=mcp_headers(sid))
            assert r.status_code == 400, f"upstream still knows session {sid}: HTTP {r.status_code}"


@pytest.mark.anyio
@pytest.mark.proxy_only
async def test_streamable_sdk_survives_upstream_restart(everything, toolhive):
    """Upstream restarts between two calls (new process, old session unknown): the proxy
    re-initializes upstream, the SDK client keeps its session id and never notices."""
    srv = everything("streamableHttp")
    proxy = toolhive(srv.url)
    async with streamable_http_client(proxy.url) as (read, write, get_session_id):
        async with ClientSession(read, write, read_timeout_seconds=READ_TIMEOUT) as session:
            await session.initialize()
            assert _text(await session.call_tool("echo", {"message": "before"})) == "Echo: before"
            sid = get_session_id()
            srv.restart()  # blocking on purpose: children are spawned from the main thread
            assert _text(await session.call_tool("echo", {"message": "after"})) == "Echo: after"
            tools = await session.list_tools()
            assert EXPECTED_TOOLS <= {t.name for t in tools.tools}
            await _check_progress_streams(session, 1.6, 4)
            assert get_session_id() == sid


# --------------------------------------------------------------------------------------------
# Legacy HTTP+SSE through the proxy (SDK)
# --------------------------------------------------------------------------------------------


@pytest.mark.anyio
async def test_sse_full_session(legacy_sse):
    srv, proxy = legacy_sse
    assert proxy.url.endswith("/sse")
    created: list[str] = []
    async with sse_client(proxy.url, timeout=10, sse_read_timeout=20, on_session_created=created.append) as (read, write):
        async with ClientSession(read, write, read_timeout_seconds=READ_TIMEOUT) as session:
            await _check_initialize(session)
            await _check_tools(session)
            await _check_resources(session)
            await _check_prompts(session)


@pytest.mark.anyio
async def test_sse_progress_is_streamed(legacy_sse):
    srv, proxy = legacy_sse
    async with sse_client(proxy.url, timeout=10, sse_read_timeout=20) as (read, write):
        async with ClientSession(read, write, read_timeout_seconds=READ_TIMEOUT) as session:
            await session.initialize()
            await _check_progress_streams(session)


@pytest.mark.anyio
async def test_sse_endpoint_event_points_at_proxy(legacy_sse):
    """Raw: the first event is `endpoint`, it resolves to the proxy's origin, and POSTing there
    answers 202 while the reply arrives as a `message` event on the stream."""
    srv, proxy = legacy_sse
    async with httpx.AsyncClient(timeout=httpx.Timeout(10, read=30)) as http:
        async with aconnect_sse(http, "GET", proxy.url, headers={"Accept": "text/event-stream"}) as es:
            assert es.response.status_code == 200
            events = es.aiter_sse()
            first = await anext(events)
            assert first.event == "endpoint", first
            endpoint = resolve_endpoint(proxy.url, first.data)
            assert endpoint.startswith(proxy.base + "/"), f"endpoint {first.data!r} -> {endpoint} is not on {proxy.base}"
            assert "sessionId=" in endpoint

            r = await http.post(endpoint, json=init_request(1), headers={"Content-Type": "application/json"})
            assert r.status_code == 202, (r.status_code, r.text)
            with anyio.fail_after(15):
                async for ev in events:
                    if ev.event == "message" and ev.data:
                        msg = json.loads(ev.data)
                        if msg.get("id") == 1:
                            break
            assert msg["result"]["serverInfo"]["name"] == "mcp-servers/everything"

            r = await http.post(endpoint, json={"jsonrpc": "2.0", "method": "notifications/initialized"})
            assert r.status_code == 202
            r = await http.post(
                endpoint, json={"jsonrpc": "2.0", "id": 2, "method": "tools/call", "params": {"name": "echo", "arguments": {"message": "raw sse"}}}
            )
            assert r.status_code == 202
            with anyio.fail_after(15):
                async for ev in events:
                    if ev.event == "message" and ev.data and json.loads(ev.data).get("id") == 2:
                        msg = json.loads(ev.data)
                        break
            assert msg["result"]["content"][0]["text"] == "Echo: raw sse"


# --------------------------------------------------------------------------------------------
# Raw streamable HTTP (httpx)
# --------------------------------------------------------------------------------------------


def test_raw_session_lifecycle(streamable):
    """initialize -> session id -> requests -> DELETE -> old id rejected."""
    srv, proxy = streamable
    with httpx.Client(timeout=15) as http:
        s = RawSession(http, proxy.url)
        init = s.initialize()
        assert init["serverInfo"]["name"] == "mcp-servers/everything"
        tools = s.call("tools/list")
        assert EXPECTED_TOOLS <= {t["name"] for t in tools["tools"]}
        res = s.call("tools/call", {"name": "echo", "arguments": {"message": "raw"}})
        assert res["content"][0]["text"] == "Echo: raw"

        r = s.delete()
        assert r.status_code in (200, 204), f"DELETE: HTTP {r.status_code}: {r.text[:300]}"
        req_id, r = s.post("tools/list")
        assert r.status_code in (400, 404), f"ended session still answers: HTTP {r.status_code} {r.text[:300]}"


def test_raw_accept_header_is_passed_on(streamable):
    """server-everything answers 406 when Accept lacks text/event-stream; the proxy must not
    'fix' the client's request silently nor turn the answer into something else."""
    srv, proxy = streamable
    with httpx.Client(timeout=15) as http:
        r = http.post(proxy.url, json=init_request(1), headers={"Accept": "application/json", "Content-Type": "application/json"})
        assert r.status_code == 406, (r.status_code, r.text[:300])


@pytest.mark.proxy_only
def test_upstream_killed_gives_502_then_recovers(everything, toolhive):
    srv = everything("streamableHttp")
    proxy = toolhive(srv.url)
    with httpx.Client(timeout=20) as http:
        s = RawSession(http, proxy.url)
        s.initialize()
        sid = s.session_id
        res = s.call("tools/call", {"name": "echo", "arguments": {"message": "before"}})
        assert res["content"][0]["text"] == "Echo: before"

        srv.kill()
        req_id, r = s.post("tools/call", {"name": "echo", "arguments": {"message": "while down"}})
        assert_jsonrpc_error_body(r, status=502, req_id=req_id)

        srv.start()  # same port, new process: the old upstream session is unknown there (400)
        req_id, r = s.post("tools/call", {"name": "echo", "arguments": {"message": "after"}})
        assert r.status_code == 200, f"after restart: HTTP {r.status_code}: {r.text[:500]}"
        msg = response_for(r, req_id)
        assert msg["result"]["content"][0]["text"] == "Echo: after"
        echoed_sid = r.headers.get("mcp-session-id")
        assert echoed_sid in (None, sid), f"client session id changed from {sid} to {echoed_sid}"

        tools = s.call("tools/list")
        assert EXPECTED_TOOLS <= {t["name"] for t in tools["tools"]}
        assert s.session_id == sid
        r = s.delete()
        assert r.status_code in (200, 204), (r.status_code, r.text[:300])


# --------------------------------------------------------------------------------------------
# Things the proxy answers itself
# --------------------------------------------------------------------------------------------


@pytest.mark.proxy_only
def test_stateless_answers_405_itself(everything, toolhive):
    srv = everything("streamableHttp")
    proxy = toolhive(srv.url, "--stateless")
    with httpx.Client(timeout=15) as http:
        for method in ("GET", "HEAD", "DELETE"):
            r = http.request(method, proxy.url, headers={"Accept": "text/event-stream", "Mcp-Session-Id": "whatever"})
            assert r.status_code == 405, f"{method}: HTTP {r.status_code} {r.text[:200]}"
            allow = {m.strip().upper() for m in r.headers.get("allow", "").split(",") if m.strip()}
            assert allow == {"POST", "OPTIONS"}, f"{method}: Allow: {r.headers.get('allow')!r}"
        # POST is still forwarded.
        r = http.post(proxy.url, json=init_request(1), headers=mcp_headers())
        assert r.status_code == 200, (r.status_code, r.text[:300])
        assert response_for(r, 1)["result"]["serverInfo"]["name"] == "mcp-servers/everything"


@pytest.mark.proxy_only
@pytest.mark.parametrize(
    "bad",
    [
        {"Host": "evil.example.com"},
        {"Origin": "http://evil.example.com"},
        {"Host": "evil.example.com", "Origin": "http://evil.example.com"},
    ],
    ids=["host", "origin", "both"],
)
def test_dns_rebinding_rejected(streamable, bad):
    srv, proxy = streamable
    with httpx.Client(timeout=15) as http:
        r = http.post(proxy.url, json=init_request(1), headers=mcp_headers(extra=bad))
        assert_jsonrpc_error_body(r, status=403)
        r = http.get(proxy.url, headers={"Accept": "text/event-stream", **bad})
        assert r.status_code == 403, (r.status_code, r.text[:300])


@pytest.mark.proxy_only
def test_localhost_host_and_origin_accepted(streamable):
    srv, proxy = streamable
    hostport = f"127.0.0.1:{proxy.port}"
    with httpx.Client(timeout=15) as http:
        for extra in (
            {"Host": hostport, "Origin": f"http://{hostport}"},
            {"Host": f"localhost:{proxy.port}", "Origin": f"http://localhost:{proxy.port}"},
        ):
            r = http.post(proxy.url, json=init_request(1), headers=mcp_headers(extra=extra))
            assert r.status_code == 200, f"{extra}: HTTP {r.status_code} {r.text[:300]}"
            sid = r.headers.get("mcp-session-id")
            if sid:
                http.delete(proxy.url, headers=mcp_headers(sid))


@pytest.mark.proxy_only
def test_sse_transport_rejects_foreign_origin(legacy_sse):
    srv, proxy = legacy_sse
    with httpx.Client(timeout=15) as http:
        r = http.get(proxy.url, headers={"Accept": "text/event-stream", "Origin": "http://evil.example.com"})
        assert r.status_code == 403, (r.status_code, r.text[:300])


@pytest.mark.proxy_only
def test_health_is_local_json(streamable):
    srv, proxy = streamable
    with httpx.Client(timeout=15) as http:
        r = http.get(proxy.base + "/health")
        assert r.status_code == 200, (r.status_code, r.text[:300])
        assert r.headers.get("content-type", "").startswith("application/json"), r.headers
        assert isinstance(r.json(), dict)


@pytest.mark.proxy_only
@pytest.mark.parametrize(
    "path",
    [
        "/.well-known/oauth-protected-resource",
        "/.well-known/oauth-protected-resource/mcp",
        "/.well-known/oauth-authorization-server",
    ],
)
def test_well_known_is_local_json_404(streamable, path):
    srv, proxy = streamable
    with httpx.Client(timeout=15) as http:
        r = http.get(proxy.base + path)
        assert r.status_code == 404, (r.status_code, r.text[:300])
        assert r.headers.get("content-type", "").startswith("application/json"), r.headers
        r.json()  # a JSON body, not express's HTML "Cannot GET"


@pytest.mark.proxy_only
def test_cli_picks_a_port_and_keeps_the_path(everything, toolhive):
    srv = everything("streamableHttp")
    proxy = toolhive(srv.url, proxy_port=None)
    assert proxy.url.startswith("http://127.0.0.1:") and proxy.url.endswith("/mcp"), proxy.url
    with httpx.Client(timeout=15) as http:
        s = RawSession(http, proxy.url)
        s.initialize()
        assert s.call("tools/call", {"name": "echo", "arguments": {"message": "p"}})["content"][0]["text"] == "Echo: p"
        s.delete()


@pytest.mark.proxy_only
def test_sigint_stops_gracefully(everything, toolhive):
    srv = everything("streamableHttp")
    proxy = toolhive(srv.url)
    import signal

    res = proxy.stop(signal.SIGINT)
    assert res.returncode == 0, f"exit code after SIGINT: {res.returncode}\n{res.stderr_tail}"
    assert not res.extra_stdout.strip(), res.extra_stdout
