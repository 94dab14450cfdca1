"""The "authorization required: open this URL" event, end to end: a local OAuth-protected MCP
server (401 + protected-resource and authorization-server metadata, a token endpoint), the
`oauth` option passed through as a nested dict, the event delivered to a callable and to an
async iterator, and the login completed the way a browser would (the redirect to the proxy's
callback), after which requests through the proxy carry the token."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator

import httpx
import pytest

import toolhive
from conftest import wait_until
from rigs import HEADERS, PING, TOKEN, FakeProtectedServer, callback_url


@pytest.fixture
def protected() -> Iterator[FakeProtectedServer]:
    srv = FakeProtectedServer()
    yield srv
    srv.close()


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
            auth = proxy.auth
            assert auth is not None and auth.state == "authenticated" and auth.reason is None
            assert auth.expires_at is not None and auth.expires_at.tzinfo is not None  # expires_in 3600
            assert auth == proxy.info().auth and auth.to_dict()["state"] == "authenticated"
            changed = [e for e in events if e.type == "auth_state_changed"]
            assert changed[-1].auth is not None and changed[-1].auth.state == "authenticated"

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
