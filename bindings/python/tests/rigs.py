"""Upstreams of the tests' own: an OAuth-protected MCP endpoint with its metadata and token
endpoint (FakeProtectedServer), and one that wants a fixed bearer token (BearerServer)."""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

TOKEN = "tok-python-binding"

PING = {"jsonrpc": "2.0", "id": 7, "method": "ping"}
HEADERS = {"Accept": "application/json, text/event-stream", "Content-Type": "application/json"}


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



class BearerServer:
    """An MCP endpoint at /mcp that answers only requests carrying ``Authorization: Bearer
    <token>``; others get a bare ``Bearer`` challenge (no OAuth hints)."""

    def __init__(self, token: str) -> None:
        outer = self
        self.token = token
        self.authorized_requests = 0
        self.rejected_requests = 0

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:
                pass

            def do_GET(self) -> None:
                self.send_response(404)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                if self.headers.get("Authorization") != f"Bearer {outer.token}":
                    outer.rejected_requests += 1
                    self.send_response(401)
                    self.send_header("WWW-Authenticate", "Bearer")
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return
                outer.authorized_requests += 1
                msg = json.loads(body)
                reply = json.dumps({"jsonrpc": "2.0", "id": msg.get("id"), "result": {"ok": True}}).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(reply)))
                self.end_headers()
                self.wfile.write(reply)

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.base = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    @property
    def url(self) -> str:
        return self.base + "/mcp"

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


def callback_url(authorization_url: str) -> str:
    """Where the authorization server sends the browser after the user agreed."""
    query = parse_qs(urlsplit(authorization_url).query)
    assert query["client_id"] == ["py-client"] and query["code_challenge_method"] == ["S256"], query
    return f"{query['redirect_uri'][0]}?code=the-code&state={query['state'][0]}"
