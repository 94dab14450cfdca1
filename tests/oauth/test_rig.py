"""Self-test of the OAuth rig, without toolhive: a stand-in OAuth client written here (discovery
from the 401, DCR, authorization code + PKCE S256 with a resource indicator, the browser playing
the user through login and consent up to a loopback callback, refresh with rotation) drives
oidc-provider and the protected MCP server, and the official Python MCP SDK calls the tools with
the tokens. It proves the rig before the proxy uses it, and shows the exact facts the proxy meets.
"""

from __future__ import annotations

import base64
import hashlib
import http.server
import json
import secrets
import socket
import threading
import time
from datetime import timedelta
from urllib.parse import urlencode, urlsplit

import anyio
import httpx
import jwt
import pytest
from mcp import ClientSession
from mcp.client.streamable_http import streamable_http_client

from oauth_support import Rig, query_of, run_browser

READ_TIMEOUT = timedelta(seconds=20)


# --------------------------------------------------------------------------------------------
# a stand-in OAuth client
# --------------------------------------------------------------------------------------------


def parse_www_authenticate(value: str) -> dict[str, str]:
    """Enough for the SDK's header: `Bearer k="v", k2="v2"` (one challenge)."""
    scheme, _, rest = value.partition(" ")
    assert scheme.lower() == "bearer", value
    out: dict[str, str] = {}
    i = 0
    while i < len(rest):
        while i < len(rest) and rest[i] in " ,":
            i += 1
        eq = rest.find("=", i)
        if eq < 0:
            break
        key = rest[i:eq].strip()
        i = eq + 1
        if i < len(rest) and rest[i] == '"':
            i += 1
            buf = []
            while i < len(rest) and rest[i] != '"':
                if rest[i] == "\\":
                    i += 1
                buf.append(rest[i])
                i += 1
            i += 1
            out[key] = "".join(buf)
        else:
            end = rest.find(",", i)
            end = len(rest) if end < 0 else end
            out[key] = rest[i:end].strip()
            i = end
    return out


class CallbackServer:
    """http://localhost:<port>/callback on 127.0.0.1, like the proxy's: records the query."""

    def __init__(self):
        self.queries: list[dict[str, str]] = []
        outer = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self):
                if urlsplit(self.path).path != "/callback":
                    self.send_response(404)
                    self.end_headers()
                    return
                outer.queries.append(query_of(self.path))
                body = b"<html><body>You can close this window.</body></html>"
                self.send_response(200)
                self.send_header("content-type", "text/html")
                self.send_header("content-length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *a):
                pass

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self.httpd.server_address[1]
        self.redirect_uri = f"http://localhost:{self.port}/callback"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    def close(self):
        self.httpd.shutdown()
        self.httpd.server_close()


def pkce_pair() -> tuple[str, str]:
    verifier = secrets.token_urlsafe(48)
    challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()
    return verifier, challenge


class StandInClient:
    def __init__(self, rig: Rig):
        self.rig = rig
        self.http = httpx.Client(timeout=10)
        self.cb = CallbackServer()
        self.meta: dict = {}
        self.prm: dict = {}
        self.client: dict = {}
        self.scope = ""

    def close(self):
        self.cb.close()
        self.http.close()

    def discover(self) -> None:
        r = self.http.post(self.rig.mcp_url, json={"jsonrpc": "2.0", "id": 1, "method": "ping"},
                           headers={"accept": "application/json, text/event-stream"})
        assert r.status_code == 401, r.text
        challenge = parse_www_authenticate(r.headers["www-authenticate"])
        assert challenge["resource_metadata"] == self.rig.prm_url, challenge
        self.prm = self.http.get(challenge["resource_metadata"]).json()
        assert self.prm["resource"] == self.rig.mcp_url, self.prm
        assert self.prm["authorization_servers"] == [self.rig.issuer], self.prm
        # Scope selection as SPEC.md 6: the challenge's scope, else PRM's scopes_supported.
        self.scope = challenge.get("scope") or " ".join(self.prm.get("scopes_supported", []))
        assert self.scope == "mcp:tools"
        issuer = self.prm["authorization_servers"][0]
        # Root issuer: RFC 8414 form first; oidc-provider answers both root forms.
        self.meta = self.http.get(f"{issuer}/.well-known/oauth-authorization-server").json()
        assert self.meta == self.http.get(f"{issuer}/.well-known/openid-configuration").json()
        assert self.meta["issuer"] == issuer
        assert self.meta["code_challenge_methods_supported"] == ["S256"]
        assert "none" in self.meta["token_endpoint_auth_methods_supported"]
        assert {"authorization_code", "refresh_token"} <= set(self.meta["grant_types_supported"])

    def register(self, **extra) -> dict:
        body = {
            "client_name": "rig self-test",
            "redirect_uris": [self.cb.redirect_uri],
            "grant_types": ["authorization_code", "refresh_token"],
            "response_types": ["code"],
            "token_endpoint_auth_method": "none",
            **extra,
        }
        r = self.http.post(self.meta["registration_endpoint"], json=body)
        assert r.status_code == 201, r.text
        self.client = r.json()
        return self.client

    def authorize_url(self, *, resource: str | None = "__mcp__", challenge: str | None = None,
                      state: str | None = None, scope: str | None = "__default__", redirect_uri: str | None = None) -> str:
        q = {
            "response_type": "code",
            "client_id": self.client["client_id"],
            "redirect_uri": redirect_uri or self.cb.redirect_uri,
            "state": state or secrets.token_urlsafe(16),
        }
        if challenge is not None:
            q["code_challenge"] = challenge
            q["code_challenge_method"] = "S256"
        if scope is not None:
            q["scope"] = self.scope if scope == "__default__" else scope
        if resource is not None:
            q["resource"] = self.rig.mcp_url if resource == "__mcp__" else resource
        return f"{self.meta['authorization_endpoint']}?{urlencode(q)}"

    def login(self) -> dict:
        verifier, challenge = pkce_pair()
        state = secrets.token_urlsafe(16)
        result = run_browser(self.authorize_url(challenge=challenge, state=state))
        assert result["callback_status"] == 200, result
        q = self.cb.queries[-1]
        assert q["state"] == state and q.get("iss") == self.rig.issuer and "code" in q, q
        return self.token({"grant_type": "authorization_code", "code": q["code"], "redirect_uri": self.cb.redirect_uri,
                           "code_verifier": verifier, "resource": self.rig.mcp_url})

    def token(self, form: dict, *, expect: int = 200) -> dict:
        r = self.http.post(self.meta["token_endpoint"], data={"client_id": self.client["client_id"], **form})
        assert r.status_code == expect, f"token endpoint: HTTP {r.status_code} {r.text}"
        return r.json()

    def refresh(self, refresh_token: str, *, expect: int = 200) -> dict:
        return self.token({"grant_type": "refresh_token", "refresh_token": refresh_token, "resource": self.rig.mcp_url},
                          expect=expect)


def mcp_status(rig: Rig, token: str | None) -> httpx.Response:
    headers = {"accept": "application/json, text/event-stream", "content-type": "application/json"}
    if token:
        headers["authorization"] = f"Bearer {token}"
    return httpx.post(rig.mcp_url, headers=headers, timeout=10, json={
        "jsonrpc": "2.0", "id": 1, "method": "initialize",
        "params": {"protocolVersion": "2025-06-18", "capabilities": {}, "clientInfo": {"name": "probe", "version": "0"}},
    })


async def call_tools(rig: Rig, access_token: str) -> dict:
    async with httpx.AsyncClient(headers={"authorization": f"Bearer {access_token}"}, timeout=20) as http:
        async with streamable_http_client(rig.mcp_url, http_client=http) as (read, write, _):
            async with ClientSession(read, write, read_timeout_seconds=READ_TIMEOUT) as session:
                await session.initialize()
                tools = {t.name for t in (await session.list_tools()).tools}
                assert {"echo", "whoami"} <= tools, tools
                echo = await session.call_tool("echo", {"message": "hello rig"})
                assert echo.content[0].text == "Echo: hello rig"
                who = await session.call_tool("whoami", {})
                return json.loads(who.content[0].text)


@pytest.fixture
def stand_in(rig):
    c = StandInClient(rig)
    yield c
    c.close()


# --------------------------------------------------------------------------------------------
# the self-tests
# --------------------------------------------------------------------------------------------


@pytest.mark.anyio
async def test_rig_selftest_full_flow(rig, stand_in):
    """DCR, code + PKCE + resource, SDK calls, refresh with rotation, expiry -> 401, reuse and
    revocation -> invalid_grant, and the admin counters."""
    c = stand_in
    c.discover()
    client = c.register()
    assert client["token_endpoint_auth_method"] == "none" and client["application_type"] == "web"
    assert client["grant_types"] == ["authorization_code", "refresh_token"]

    tokens = c.login()
    assert tokens["token_type"] == "Bearer"
    assert tokens["expires_in"] == 5
    assert tokens["scope"] == "mcp:tools"
    assert tokens.get("refresh_token")

    # A JWT access token (RFC 9068) for the MCP server, signed with the published keys.
    jwks = jwt.PyJWKClient(c.meta["jwks_uri"])
    key = jwks.get_signing_key_from_jwt(tokens["access_token"])
    claims = jwt.decode(tokens["access_token"], key.key, algorithms=["RS256"], audience=rig.mcp_url, issuer=rig.issuer)
    assert jwt.get_unverified_header(tokens["access_token"])["typ"] == "at+jwt"
    assert claims["client_id"] == client["client_id"] and claims["sub"] == "alice" and claims["scope"] == "mcp:tools"
    assert claims["exp"] - claims["iat"] == 5

    who = await call_tools(rig, tokens["access_token"])
    assert who["sub"] == "alice" and who["client_id"] == client["client_id"] and who["aud"] == rig.mcp_url
    assert who["jti"] == claims["jti"]

    # Refresh with rotation: a new refresh token each time; the new access token works.
    t2 = c.refresh(tokens["refresh_token"])
    assert t2["refresh_token"] != tokens["refresh_token"] and t2["expires_in"] == 5
    who2 = await call_tools(rig, t2["access_token"])
    assert who2["jti"] != who["jti"]

    # Expiry: after 5 s the token is refused with a proper challenge.
    exp = jwt.decode(t2["access_token"], options={"verify_signature": False})["exp"]
    await anyio.sleep(max(0.0, exp - time.time()) + 1.2)
    r = mcp_status(rig, t2["access_token"])
    assert r.status_code == 401, r.text
    ch = r.headers["www-authenticate"]
    assert ch.startswith("Bearer ") and f'resource_metadata="{rig.prm_url}"' in ch and 'error="invalid_token"' in ch, ch
    for bad in (None, "not-a-token", tokens["access_token"][:-4] + "AAAA"):
        r = mcp_status(rig, bad)
        assert r.status_code == 401 and f'resource_metadata="{rig.prm_url}"' in r.headers["www-authenticate"], (bad, r.text)

    # After expiry the latest refresh token still works (one refresh per expiry).
    t3 = c.refresh(t2["refresh_token"])
    assert mcp_status(rig, t3["access_token"]).status_code == 200

    # Revocation by the admin route: the refresh token dies at once (invalid_grant); the JWT
    # access token lives until it expires, then 401.
    assert rig.revoke_all()["revoked"] == 1
    err = c.refresh(t3["refresh_token"], expect=400)
    assert err["error"] == "invalid_grant", err
    assert mcp_status(rig, t3["access_token"]).status_code == 200
    exp = jwt.decode(t3["access_token"], options={"verify_signature": False})["exp"]
    await anyio.sleep(max(0.0, exp - time.time()) + 1.2)
    assert mcp_status(rig, t3["access_token"]).status_code == 401

    # Counters and the rotation chain as the proxy tests will read them.
    stats = rig.stats()
    assert stats["authorization_code"] == 1 and stats["refresh_token"] == 3 and stats["registrations"] == 1, stats
    assert stats["refresh_token_errors"] == 1, stats
    evs = rig.events()
    assert [e["grant_type"] for e in evs] == ["authorization_code", "refresh_token", "refresh_token", "refresh_token"]
    assert all(e["resource"] == rig.mcp_url for e in evs)
    assert evs[1]["presented_rt"] == evs[0]["issued_rt"] and evs[2]["presented_rt"] == evs[1]["issued_rt"]
    assert evs[3]["presented_rt"] == evs[2]["issued_rt"] and evs[3]["error"] == "invalid_grant"

    # A new login recovers.
    t4 = c.login()
    assert (await call_tools(rig, t4["access_token"]))["sub"] == "alice"
    assert rig.stats()["authorization_code"] == 2


def test_rig_selftest_rotation_reuse_is_invalid_grant(rig, stand_in):
    """Using a rotated refresh token again is reuse: invalid_grant, and the grant is revoked, so
    the newest refresh token dies too. This is what two refreshes racing with one token meet."""
    c = stand_in
    c.discover()
    c.register()
    t1 = c.login()
    t2 = c.refresh(t1["refresh_token"])
    assert c.refresh(t1["refresh_token"], expect=400)["error"] == "invalid_grant"
    assert c.refresh(t2["refresh_token"], expect=400)["error"] == "invalid_grant"
    evs = rig.events()
    assert [e["presented_rt"] for e in evs[1:]] == [evs[0]["issued_rt"], evs[0]["issued_rt"], evs[1]["issued_rt"]]


def test_rig_selftest_pkce_resource_and_redirects(rig, stand_in):
    """The AS enforces what the proxy must do: PKCE (required, S256 only, verifier checked), a
    known resource, registered redirect URIs; omitting the resource yields a token for the MCP
    server anyway; the browser can cancel."""
    c = stand_in
    c.discover()
    c.register()

    # No code_challenge: refused, reported to the callback.
    run_browser(c.authorize_url(challenge=None))
    assert c.cb.queries[-1]["error"] == "invalid_request" and "PKCE" in c.cb.queries[-1]["error_description"]

    # Wrong verifier: invalid_grant at the token endpoint.
    _, challenge = pkce_pair()
    run_browser(c.authorize_url(challenge=challenge))
    code = c.cb.queries[-1]["code"]
    err = c.token({"grant_type": "authorization_code", "code": code, "redirect_uri": c.cb.redirect_uri,
                   "code_verifier": pkce_pair()[0]}, expect=400)
    assert err["error"] == "invalid_grant"

    # Unknown resource: invalid_target at the callback.
    _, challenge = pkce_pair()
    run_browser(c.authorize_url(challenge=challenge, resource="http://127.0.0.1:1/other"))
    assert c.cb.queries[-1]["error"] == "invalid_target", c.cb.queries[-1]

    # No resource at all: the token is still for the MCP server (the events show it was omitted).
    verifier, challenge = pkce_pair()
    run_browser(c.authorize_url(challenge=challenge, resource=None))
    t = c.token({"grant_type": "authorization_code", "code": c.cb.queries[-1]["code"], "redirect_uri": c.cb.redirect_uri,
                 "code_verifier": verifier})
    assert jwt.decode(t["access_token"], options={"verify_signature": False})["aud"] == c.rig.mcp_url
    assert mcp_status(c.rig, t["access_token"]).status_code == 200
    assert rig.events()[-1]["resource"] is None

    # No scope at all: oidc-provider grants nothing and answers access_denied.
    _, challenge = pkce_pair()
    run_browser(c.authorize_url(challenge=challenge, scope=None))
    assert c.cb.queries[-1]["error"] == "access_denied", c.cb.queries[-1]

    # A web client's redirect URI must match exactly: another port is refused on the AS's page.
    _, challenge = pkce_pair()
    with pytest.raises(AssertionError, match="redirect_uri"):
        run_browser(c.authorize_url(challenge=challenge, redirect_uri=f"http://localhost:{free_port()}/callback"))

    # The user cancels: access_denied at the callback.
    _, challenge = pkce_pair()
    run_browser(c.authorize_url(challenge=challenge), "--deny")
    assert c.cb.queries[-1]["error"] == "access_denied", c.cb.queries[-1]


def test_rig_selftest_native_client_any_loopback_port(rig, stand_in):
    """A native client registered with http://localhost:<p>/callback may use any port."""
    c = stand_in
    c.discover()
    c.register(application_type="native", redirect_uris=[f"http://localhost:{free_port()}/callback"])
    verifier, challenge = pkce_pair()
    run_browser(c.authorize_url(challenge=challenge))  # the callback server's own port
    q = c.cb.queries[-1]
    t = c.token({"grant_type": "authorization_code", "code": q["code"], "redirect_uri": c.cb.redirect_uri,
                 "code_verifier": verifier, "resource": rig.mcp_url})
    assert t["refresh_token"]


def test_rig_selftest_opaque_tokens_and_issuer_path(rig_factory):
    """Variant: opaque access tokens (checked in the provider's store, so revocation is immediate)
    and an issuer with a path (discovery at <issuer>/.well-known/openid-configuration)."""
    rig = rig_factory(token_format="opaque", issuer_path="/tenant1")
    assert rig.issuer.endswith("/tenant1")
    c = StandInClient(rig)
    try:
        r = mcp_status(rig, None)
        prm = httpx.get(parse_www_authenticate(r.headers["www-authenticate"])["resource_metadata"]).json()
        assert prm["authorization_servers"] == [rig.issuer]
        c.scope = "mcp:tools"
        c.meta = httpx.get(f"{rig.issuer}/.well-known/openid-configuration").json()
        assert c.meta["issuer"] == rig.issuer and c.meta["token_endpoint"].startswith(rig.issuer + "/")
        origin = "{0.scheme}://{0.netloc}".format(urlsplit(rig.issuer))
        assert httpx.get(f"{origin}/.well-known/oauth-authorization-server/tenant1").status_code == 404
        c.register()
        t = c.login()
        assert t["access_token"].count(".") == 0
        assert mcp_status(rig, t["access_token"]).status_code == 200
        rig.revoke_all()
        assert mcp_status(rig, t["access_token"]).status_code == 401
    finally:
        c.close()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]
