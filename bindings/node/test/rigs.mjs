// Small upstreams of the tests' own: a remote MCP server that wants a static bearer token, an
// OAuth-protected one with its authorization server (PRM + AS metadata + DCR + authorize +
// token), and a secret store implemented in JS.

import http from 'node:http';

/** Listen on a free loopback port; resolves { server, origin, close() }. */
function serve(handler) {
  const server = http.createServer((req, res) => {
    let body = '';
    req.setEncoding('utf8');
    req.on('data', (d) => { body += d; });
    req.on('end', () => handler(req, res, body));
  });
  return new Promise((resolve) => {
    server.listen(0, '127.0.0.1', () => {
      const origin = `http://127.0.0.1:${server.address().port}`;
      resolve({
        server,
        origin,
        close: () => new Promise((r) => { server.closeAllConnections(); server.close(() => r()); }),
      });
    });
  });
}

function json(res, status, value, headers = {}) {
  res.writeHead(status, { 'content-type': 'application/json', ...headers });
  res.end(JSON.stringify(value));
}

/** A JSON-RPC answer to whatever was asked (enough for the proxy's probe and our POSTs). */
function answer(res, body, extra = {}) {
  let id = null;
  try { id = JSON.parse(body).id ?? null; } catch { /* not JSON */ }
  json(res, 200, { jsonrpc: '2.0', id, result: { ok: true, ...extra } });
}

/**
 * A remote MCP server at `<origin>/mcp` that answers only requests carrying
 * `Authorization: Bearer <token>`; others get 401 with a bare `Bearer` challenge (no OAuth
 * hints). `seen` collects the Authorization headers it received.
 */
export async function protectedUpstream(token) {
  const seen = [];
  const s = await serve((req, res, body) => {
    const path = req.url.split('?')[0];
    if (path !== '/mcp') return json(res, 404, {});
    seen.push(req.headers.authorization ?? null);
    if (req.headers.authorization === `Bearer ${token}`) return answer(res, body);
    json(res, 401, { error: 'unauthorized' }, { 'www-authenticate': 'Bearer' });
  });
  return { ...s, url: `${s.origin}/mcp`, seen };
}

/**
 * An OAuth-protected remote MCP server and its authorization server: 401 + PRM
 * (`resource_metadata`), AS metadata, dynamic client registration, an `/authorize` that
 * approves at once (302 back to the redirect URI) and a token endpoint. `issued` lists the
 * access tokens handed out; requests with the latest one are served.
 */
export async function oauthRig() {
  const issued = [];
  const as = await serve((req, res, body) => {
    const url = new URL(req.url, 'http://x');
    switch (url.pathname) {
      case '/.well-known/oauth-authorization-server':
        return json(res, 200, {
          issuer: as.origin,
          authorization_endpoint: `${as.origin}/authorize`,
          token_endpoint: `${as.origin}/token`,
          registration_endpoint: `${as.origin}/register`,
          code_challenge_methods_supported: ['S256'],
          token_endpoint_auth_methods_supported: ['none'],
        });
      case '/register':
        return json(res, 201, { client_id: 'client-1', token_endpoint_auth_method: 'none' });
      case '/authorize': {
        const back = new URL(url.searchParams.get('redirect_uri'));
        back.searchParams.set('code', 'code-1');
        back.searchParams.set('state', url.searchParams.get('state'));
        res.writeHead(302, { location: back.toString() });
        return res.end();
      }
      case '/token': {
        const form = new URLSearchParams(body);
        if (!form.get('code_verifier') && form.get('grant_type') === 'authorization_code') {
          return json(res, 400, { error: 'invalid_request' });
        }
        const access = `at-${issued.length + 1}`;
        issued.push(access);
        return json(res, 200, { access_token: access, token_type: 'Bearer', expires_in: 3600, refresh_token: `rt-${issued.length}` });
      }
      default:
        return json(res, 404, {});
    }
  });
  const mcp = await serve((req, res, body) => {
    const path = req.url.split('?')[0];
    if (path.startsWith('/.well-known/oauth-protected-resource')) {
      return json(res, 200, { resource: `${mcp.origin}/mcp`, authorization_servers: [as.origin] });
    }
    if (path !== '/mcp') return json(res, 404, {});
    const token = (req.headers.authorization ?? '').replace(/^Bearer /, '');
    if (token && token === issued.at(-1)) return answer(res, body, { token });
    json(res, 401, { error: 'invalid_token' }, {
      'www-authenticate': `Bearer resource_metadata="${mcp.origin}/.well-known/oauth-protected-resource/mcp"`,
    });
  });
  return {
    url: `${mcp.origin}/mcp`,
    asOrigin: as.origin,
    issued,
    close: () => Promise.all([as.close(), mcp.close()]),
  };
}

/**
 * A secret store in JS over a Map, the way a host implements one over its own storage: `get`
 * answers through a Promise, the others at once. `calls` records each call (operation and key,
 * never the value); `fail` makes an operation throw.
 */
export function jsStore(initial = {}) {
  const map = new Map(Object.entries(initial));
  const calls = [];
  const fail = {};
  return {
    map,
    calls,
    fail,
    kind: 'test-store',
    async get(key) {
      calls.push(['get', key]);
      await new Promise((r) => setImmediate(r));
      if (fail.get) throw new Error(fail.get);
      return map.get(key) ?? null;
    },
    set(key, value) {
      calls.push(['set', key]);
      if (fail.set) throw new Error(fail.set);
      map.set(key, value);
    },
    delete(key) {
      calls.push(['delete', key]);
      map.delete(key);
    },
    list() {
      calls.push(['list']);
      return [...map.keys()];
    },
  };
}

/** POST a JSON-RPC request to a proxy's local URL. */
export function rpc(url, method = 'tools/list') {
  return fetch(url, {
    method: 'POST',
    headers: { 'content-type': 'application/json', accept: 'application/json, text/event-stream' },
    body: JSON.stringify({ jsonrpc: '2.0', id: 1, method }),
  });
}

/** Wait until `cond()` is truthy (polling). */
export async function until(cond, ms = 10_000, what = 'condition') {
  const deadline = Date.now() + ms;
  for (;;) {
    const v = await cond();
    if (v) return v;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}
