#!/usr/bin/env python3
"""A deliberately small stand-in for `toolhive` with OAuth, ONLY to check this suite's harness
(test_oauth.py) against the contract before the real proxy has OAuth:

    TOOLHIVE_BIN=tests/oauth/reference_proxy.py tests/oauth/run.sh

It implements just what the rig needs (PRM discovery from the 401, RFC 8414 metadata, DCR,
PKCE S256, resource indicator, loopback callback, tokens saved in the state directory,
single-flight refresh with rotation, 503 + Retry-After without a token, needs_login on
invalid_grant, a new login URL line). It is not the product and not a model of its design.

    reference_proxy.py run <URL> --name N --host H --remote-auth-skip-browser [--remote-auth-timeout 60s]
    reference_proxy.py list [--all] --format json
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import hashlib
import json
import os
import re
import secrets
import signal
import socket
import sys
import time
from pathlib import Path
from urllib.parse import parse_qs, urlencode, urlsplit

import httpx
import uvicorn
from starlette.applications import Starlette
from starlette.background import BackgroundTask
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route

STATE_DIR = Path(os.environ.get("TOOLHIVE_STATE_DIR", "/tmp/reference-proxy-state"))
FORWARD_REQ = ("content-type", "accept", "mcp-session-id", "mcp-protocol-version", "last-event-id")
FORWARD_RESP = ("content-type", "mcp-session-id", "cache-control")


def log(msg: str) -> None:
    print(f"reference-proxy: {msg}", file=sys.stderr, flush=True)


class Auth:
    def __init__(self, name: str, upstream: str, timeout: float):
        self.name = name
        self.upstream = upstream
        self.timeout = timeout
        self.file = STATE_DIR / f"{name}.tokens.json"
        self.info_file = STATE_DIR / f"{name}.info.json"
        self.http = httpx.AsyncClient(timeout=15)
        self.saved: dict = json.loads(self.file.read_text()) if self.file.exists() else {}
        self.state = "unauthenticated"
        self.refresh_lock = asyncio.Lock()
        self.login_task: asyncio.Task | None = None
        self.local_url = ""

    # -- persistence ----------------------------------------------------------------------
    def save(self) -> None:
        tmp = self.file.with_suffix(".tmp")
        tmp.write_text(json.dumps(self.saved))
        os.replace(tmp, self.file)

    def set_state(self, state: str) -> None:
        if state != self.state:
            log(f"auth state {self.state} -> {state}")
        self.state = state
        self.info_file.write_text(json.dumps({"name": self.name, "pid": os.getpid(), "local_url": self.local_url,
                                              "auth": {"state": state}}))

    # -- tokens ---------------------------------------------------------------------------
    def valid_token(self) -> str | None:
        t = self.saved.get("access_token")
        if not t:
            return None
        lifetime = self.saved.get("lifetime", 60)
        margin = min(60.0, lifetime * 0.2)
        return t if time.time() < self.saved.get("expires_at", 0) - margin else None

    async def token(self) -> str | None:
        t = self.valid_token()
        if t:
            return t
        if self.saved.get("refresh_token"):
            return await self.refresh(self.saved.get("access_token"))
        self.ensure_login()
        return None

    async def refresh(self, stale: str | None) -> str | None:
        async with self.refresh_lock:
            if self.saved.get("access_token") != stale and self.valid_token():
                return self.valid_token()  # someone else refreshed meanwhile
            if not self.saved.get("refresh_token") or self.state == "needs_login":
                self.ensure_login()
                return None
            self.set_state("refreshing")
            meta = await self.metadata()
            r = await self.http.post(meta["token_endpoint"], data={
                "grant_type": "refresh_token", "refresh_token": self.saved["refresh_token"],
                "client_id": self.saved["client_id"], "resource": self.saved["resource"]})
            if r.status_code != 200:
                log(f"refresh failed: {r.status_code} {r.text}")
                if r.json().get("error") == "invalid_grant":
                    self.saved.pop("refresh_token", None)
                    self.saved.pop("access_token", None)
                    self.save()
                    self.set_state("needs_login")
                    log("event needs_login")
                    self.ensure_login()
                return None
            self.store_tokens(r.json())
            self.set_state("authenticated")
            return self.saved["access_token"]

    def store_tokens(self, body: dict) -> None:
        self.saved["access_token"] = body["access_token"]
        self.saved["lifetime"] = body.get("expires_in", 3600)
        self.saved["expires_at"] = time.time() + self.saved["lifetime"]
        if body.get("refresh_token"):
            self.saved["refresh_token"] = body["refresh_token"]
        self.save()

    # -- discovery and login --------------------------------------------------------------
    async def metadata(self) -> dict:
        if "meta" not in self.saved:
            r = await self.http.post(self.upstream, json={"jsonrpc": "2.0", "id": 0, "method": "ping"},
                                     headers={"accept": "application/json, text/event-stream"})
            assert r.status_code == 401, r.status_code
            m = re.search(r'resource_metadata="([^"]+)"', r.headers.get("www-authenticate", ""))
            scope = re.search(r'scope="([^"]+)"', r.headers.get("www-authenticate", ""))
            prm = (await self.http.get(m.group(1))).json()
            assert prm["resource"] == self.upstream, prm
            issuer = prm["authorization_servers"][0]
            meta = (await self.http.get(f"{issuer}/.well-known/oauth-authorization-server")).json()
            assert "S256" in meta["code_challenge_methods_supported"]
            self.saved.update(meta=meta, resource=prm["resource"],
                              scope=scope.group(1) if scope else " ".join(prm.get("scopes_supported", [])))
            self.save()
        return self.saved["meta"]

    def ensure_login(self) -> None:
        if self.login_task is None or self.login_task.done():
            self.login_task = asyncio.get_running_loop().create_task(self.login())

    async def login(self) -> None:
        try:
            meta = await self.metadata()
            if self.state != "needs_login":
                self.set_state("authorizing")
            sock = socket.socket()
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            sock.bind(("127.0.0.1", self.saved.get("callback_port", 0)))
            port = sock.getsockname()[1]
            redirect = f"http://localhost:{port}/callback"
            if self.saved.get("redirect_uri") != redirect:
                r = await self.http.post(meta["registration_endpoint"], json={
                    "client_name": "reference-proxy", "redirect_uris": [redirect], "response_types": ["code"],
                    "grant_types": ["authorization_code", "refresh_token"], "token_endpoint_auth_method": "none"})
                r.raise_for_status()
                self.saved.update(client_id=r.json()["client_id"], redirect_uri=redirect, callback_port=port)
                self.save()
            verifier = secrets.token_urlsafe(48)
            challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()
            state = secrets.token_urlsafe(24)
            got: asyncio.Future = asyncio.get_running_loop().create_future()

            async def on_conn(reader, writer):
                line = (await reader.readline()).decode()
                while (await reader.readline()) not in (b"\r\n", b"\n", b""):
                    pass
                path = line.split(" ")[1] if " " in line else "/"
                q = {k: v[0] for k, v in parse_qs(urlsplit(path).query).items()}
                ok = urlsplit(path).path == "/callback" and q.get("state") == state and "code" in q
                body = b"Logged in; you can close this window." if ok else b"Bad callback."
                writer.write(b"HTTP/1.1 %d OK\r\ncontent-length: %d\r\nconnection: close\r\n\r\n%s" % (200 if ok else 400, len(body), body))
                await writer.drain()
                writer.close()
                if ok and not got.done():
                    got.set_result(q["code"])

            sock.listen()
            server = await asyncio.start_server(on_conn, sock=sock)
            url = meta["authorization_endpoint"] + "?" + urlencode({
                "response_type": "code", "client_id": self.saved["client_id"], "redirect_uri": redirect,
                "code_challenge": challenge, "code_challenge_method": "S256", "state": state,
                "scope": self.saved["scope"], "resource": self.saved["resource"]})
            print(f"Please open this URL in your browser: {url}", file=sys.stderr, flush=True)
            try:
                code = await asyncio.wait_for(got, self.timeout)
            finally:
                server.close()
            r = await self.http.post(meta["token_endpoint"], data={
                "grant_type": "authorization_code", "code": code, "redirect_uri": redirect, "code_verifier": verifier,
                "client_id": self.saved["client_id"], "resource": self.saved["resource"]})
            r.raise_for_status()
            self.store_tokens(r.json())
            self.set_state("authenticated")
        except Exception as e:  # noqa: BLE001
            log(f"login failed: {e!r}")
            self.set_state("needs_login" if self.state == "needs_login" else "unauthenticated")


def make_app(auth: Auth, upstream: str) -> Starlette:
    client = httpx.AsyncClient(timeout=httpx.Timeout(60, read=None))

    async def forward(request: Request) -> Response:
        body = await request.body()
        for attempt in (0, 1):
            token = await auth.token()
            if token is None:
                return JSONResponse({"jsonrpc": "2.0", "id": None, "error": {"code": -32000, "message": f"authorization {auth.state}"}},
                                    status_code=503, headers={"retry-after": "2"})
            headers = {k: v for k, v in request.headers.items() if k in FORWARD_REQ}
            headers["authorization"] = f"Bearer {token}"
            req = client.build_request(request.method, upstream, headers=headers, content=body)
            resp = await client.send(req, stream=True)
            if resp.status_code == 401 and attempt == 0:
                await resp.aclose()
                await auth.refresh(token)
                continue
            out = {k: v for k, v in resp.headers.items() if k in FORWARD_RESP}
            return StreamingResponse(resp.aiter_raw(), status_code=resp.status_code, headers=out,
                                     background=BackgroundTask(resp.aclose))
        return Response(status_code=502)

    path = urlsplit(upstream).path or "/"
    return Starlette(routes=[Route(path, forward, methods=["GET", "POST", "DELETE"])])


async def run(args) -> None:
    STATE_DIR.mkdir(parents=True, exist_ok=True)
    timeout = float(args.remote_auth_timeout.rstrip("s")) if args.remote_auth_timeout.endswith("s") else 300.0
    auth = Auth(args.name, args.url, timeout)
    sock = socket.socket()
    sock.bind((args.host, 0))
    path = urlsplit(args.url).path or "/"
    auth.local_url = f"http://{args.host}:{sock.getsockname()[1]}{path}"
    server = uvicorn.Server(uvicorn.Config(make_app(auth, args.url), log_level="warning", lifespan="off"))
    print(auth.local_url, flush=True)
    auth.set_state("authenticated" if auth.saved.get("refresh_token") else "unauthenticated")
    if not auth.saved.get("refresh_token"):
        auth.ensure_login()
    await server.serve(sockets=[sock])


def main() -> None:
    ap = argparse.ArgumentParser()
    sub = ap.add_subparsers(dest="cmd", required=True)
    r = sub.add_parser("run")
    r.add_argument("url")
    r.add_argument("--name", required=True)
    r.add_argument("--host", default="127.0.0.1")
    r.add_argument("--remote-auth-skip-browser", action="store_true")
    r.add_argument("--remote-auth-timeout", default="300s")
    ls = sub.add_parser("list")
    ls.add_argument("--all", action="store_true")
    ls.add_argument("--format", default="json")
    args = ap.parse_args()
    if args.cmd == "list":
        rows = [json.loads(f.read_text()) for f in sorted(STATE_DIR.glob("*.info.json"))] if STATE_DIR.exists() else []
        print(json.dumps(rows))
        return
    # uvicorn shuts down gracefully on SIGTERM, restores this handler and raises the signal again.
    signal.signal(signal.SIGTERM, lambda *_: os._exit(0))
    asyncio.run(run(args))


if __name__ == "__main__":
    main()
