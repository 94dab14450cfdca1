"""The "authorization required: open this URL" event, end to end: a local OAuth-protected MCP
server (401 + protected-resource and authorization-server metadata, a token endpoint), the
`oauth` option passed through as a nested dict, the event delivered to a callable and to an
async iterator, and the login completed the way a browser would (the redirect to the proxy's
callback), after which requests through the proxy carry the token."""

from __future__ import annotations

import asyncio
import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest

import toolhive
from conftest import wait_until

TOKEN = "tok-python-binding"


class FakeProtectedServer:
    """An MCP endpoint at /mcp that wants a bearer token, with the OAuth metadata to get one."""

    def __init__(self) -> None:
        outer = self
        self.authorized_requests = 0

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:
                pass

            def _json(self, obj: Any, code: int = 200) -> None:
                body = json.dumps(obj).encode()
                self.send_response(code)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def do_GET(self) -> None:
                base = outer.base
                if self.path.startswith("/.well-known/oauth-protected-resource"):
                    return self._json({"resource": base + "/mcp", "authorization_servers": [base]})
                if self.path.startswith("/.well-known/oauth-authorization-server"):
                    return self._json(
                        {
                            "issuer": base,
                            "authorization_endpoint": base + "/authorize",
                            "token_endpoint": base + "/token",
                            "response_types_supported": ["code"],
                            "code_challenge_methods_supported": ["S256"],
                        }
                    )
                self.send_response(404)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                if self.path == "/token":
                    form = parse_qs(body.decode())
                    assert form["grant_type"] == ["authorization_code"], form
                    assert form["code"] == ["the-code"], form
                    return self._json({"access_token": TOKEN, "token_type": "Bearer", "expires_in": 3600})
                if self.headers.get("Authorization") != f"Bearer {TOKEN}":
                    self.send_response(401)
                    self.send_header(
                        "WWW-Authenticate", f'Bearer resource_metadata="{outer.base}/.well-known/oauth-protected-resource"'
                    )
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return
                outer.authorized_requests += 1
                msg = json.loads(body)
                self._json({"jsonrpc": "2.0", "id": msg.get("id"), "result": {"ok": True}})

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.base = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    @property
    def url(self) -> str:
        return self.base + "/mcp"

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def protected() -> Iterator[FakeProtectedServer]:
    srv = FakeProtectedServer()
    yield srv
    srv.close()


def callback_url(authorization_url: str) -> str:
    """Where the authorization server sends the browser after the user agreed."""
    query = parse_qs(urlsplit(authorization_url).query)
    assert query["client_id"] == ["py-client"] and query["code_challenge_method"] == ["S256"], query
    return f"{query['redirect_uri'][0]}?code=the-code&state={query['state'][0]}"


PING = {"jsonrpc": "2.0", "id": 7, "method": "ping"}
HEADERS = {"Accept": "application/json, text/event-stream", "Content-Type": "application/json"}
OAUTH = {"client_id": "py-client", "skip_browser": True}


def test_authorization_required_to_a_callable_then_login(protected: FakeProtectedServer, name: str) -> None:
    events: list[toolhive.Event] = []
    with toolhive.subscribe(events.append, proxy=name):
        with toolhive.start(protected.url, name=name, oauth=OAUTH) as proxy:
            wait_until(lambda: any(e.type == "authorization_required" for e in events), what="authorization_required")
            required = next(e for e in events if e.type == "authorization_required")
            assert required.url and required.url.startswith(protected.base + "/authorize?")
            assert required.data["url"] == required.url and required.to_state is None
            assert proxy.auth_state == "authorizing"

            # The "browser": the authorization server redirects to the proxy's callback.
            assert httpx.get(callback_url(required.url), timeout=10).status_code == 200
            wait_until(lambda: proxy.auth_state == "authenticated", what="authenticated")
            # Events reach callables on toolhive's thread, shortly after the state changed.
            wait_until(
                lambda: any(e.type == "auth_state_changed" and e.auth_state == "authenticated" for e in events),
                what="the auth_state_changed event",
            )
            assert proxy.info().auth_state == "authenticated"

            r = httpx.post(proxy.url, json=PING, headers=HEADERS, timeout=10)
            assert r.status_code == 200 and r.json()["result"] == {"ok": True}, r.text
            assert protected.authorized_requests >= 1


@pytest.mark.anyio
async def test_authorization_required_as_an_async_iterator_then_login(protected: FakeProtectedServer, name: str) -> None:
    async with toolhive.events(proxy=name) as stream:
        async with await toolhive.start_async(protected.url, {"oauth": OAUTH}, name=name) as proxy:
            async with httpx.AsyncClient(timeout=10) as http:
                async for event in stream:
                    if event.type == "authorization_required":
                        assert event.url is not None
                        assert (await http.get(callback_url(event.url))).status_code == 200
                    if event.auth_state == "authenticated":
                        break
                r = await http.post(proxy.url, json=PING, headers=HEADERS)
                assert r.status_code == 200, r.text
    await asyncio.sleep(0)


def test_credential_errors_sync(protected: FakeProtectedServer, name: str) -> None:
    with pytest.raises(toolhive.SecretError) as secret:
        toolhive.start(protected.url, name=name, headers={"X-Api-Key": {"secret": "no-such-secret"}})
    assert (secret.value.kind, secret.value.field) == ("secret", "headers.X-Api-Key")
    with pytest.raises(toolhive.AuthRequiredError) as rejected:
        toolhive.start(protected.url, name=name, bearer_token={"value": "not-the-token"})
    assert (rejected.value.kind, rejected.value.field) == ("auth_required", "bearer_token")
    assert "not-the-token" not in str(rejected.value)  # secrets never appear in messages
    # The right token: no OAuth, requests carry it.
    with toolhive.start(protected.url, name=name, bearer_token={"value": TOKEN}) as proxy:
        assert proxy.auth_state is None
        r = httpx.post(proxy.url, json=PING, headers=HEADERS, timeout=10)
        assert r.status_code == 200, r.text


@pytest.mark.anyio
async def test_credential_errors_async(protected: FakeProtectedServer, name: str) -> None:
    with pytest.raises(toolhive.SecretError):
        await toolhive.start_async(protected.url, name=name, bearer_token={"secret": "no-such-secret"})
    with pytest.raises(toolhive.AuthRequiredError):
        await toolhive.start_async(protected.url, {"bearer_token": {"value": "nope"}}, name=name)
