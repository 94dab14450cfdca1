#!/usr/bin/env node
// The OAuth end-to-end rig: one process serving
//   * a real authorization server, oidc-provider (npm), at http://127.0.0.1:<asPort>
//     (open dynamic client registration, PKCE S256 required, refresh tokens with rotation,
//     RFC 8707 resource indicators, short access-token lifetime, dev login/consent forms), plus
//     test-only admin routes under /admin (never under the issuer);
//   * a protected MCP server (TypeScript SDK, streamable HTTP, stateful) at
//     http://127.0.0.1:<mcpPort>/mcp with tools `echo` and `whoami`, answering 401 +
//     WWW-Authenticate (resource_metadata=...) without a valid token for this resource, and its
//     Protected Resource Metadata (RFC 9728) at /.well-known/oauth-protected-resource/mcp.
//
// Usage: node server.mjs [--as-port N] [--mcp-port N] [--access-token-ttl SECONDS]
//                        [--issuer-path /tenant1] [--token-format jwt|opaque]
//                        [--required-scopes "mcp:tools"]
// Env (same meaning): AS_PORT, MCP_PORT, ACCESS_TOKEN_TTL (default 5), REFRESH_TOKEN_TTL
//   (default 86400), ISSUER_PATH (default none: the issuer is the origin), TOKEN_FORMAT (default
//   jwt), REQUIRED_SCOPES (space separated, default "mcp:tools"; "" for none), RIG_VERBOSE=1.
// Port 0 (the default) picks a free port. When both listeners are up it prints ONE JSON line on
// stdout: {"issuer", "mcp_url", "resource_metadata_url", "admin_url", ...}. SIGTERM/SIGINT exit.
//
// Admin routes (AS port; JSON):
//   GET  /admin/stats    {"authorization_code":n,"refresh_token":m,"registrations":k, ...}
//                        (token-endpoint CALLS by grant_type, whatever their outcome; see below)
//   GET  /admin/events   every token-endpoint call: {t, grant_type, status, error, client_id,
//                        resource, presented_rt, issued_rt, access_token_jti}; refresh tokens as
//                        sha256 fingerprints, so a test can check the rotation chain
//   GET  /admin/clients  registered clients (metadata without secrets)
//   POST /admin/revoke-all[?client_id=ID]  revoke every grant that has a refresh token (of that
//                        client): refresh tokens, opaque access tokens and codes die at once; JWT
//                        access tokens stay valid until they expire (at most the access TTL)
//   POST /admin/reset-stats  zero the counters and the event list
import * as crypto from 'node:crypto';
import * as http from 'node:http';
import { parseArgs } from 'node:util';

import express from 'express';
import * as jose from 'jose';
import Provider, { errors as oidcErrors } from 'oidc-provider';
import { McpServer } from '@modelcontextprotocol/sdk/server/mcp.js';
import { StreamableHTTPServerTransport } from '@modelcontextprotocol/sdk/server/streamableHttp.js';
import { isInitializeRequest } from '@modelcontextprotocol/sdk/types.js';
import { requireBearerAuth } from '@modelcontextprotocol/sdk/server/auth/middleware/bearerAuth.js';
import { InvalidTokenError } from '@modelcontextprotocol/sdk/server/auth/errors.js';
import { z } from 'zod';

// ---------------------------------------------------------------------------------------------
// options
// ---------------------------------------------------------------------------------------------

const { values: argv } = parseArgs({
  options: {
    'as-port': { type: 'string' },
    'mcp-port': { type: 'string' },
    'access-token-ttl': { type: 'string' },
    'refresh-token-ttl': { type: 'string' },
    'issuer-path': { type: 'string' },
    'token-format': { type: 'string' },
    'required-scopes': { type: 'string' },
  },
  strict: true,
});

const opt = (name, envName, dflt) => argv[name] ?? process.env[envName] ?? dflt;
const AS_PORT = Number(opt('as-port', 'AS_PORT', '0'));
const MCP_PORT = Number(opt('mcp-port', 'MCP_PORT', '0'));
const ACCESS_TOKEN_TTL = Number(opt('access-token-ttl', 'ACCESS_TOKEN_TTL', '5'));
const REFRESH_TOKEN_TTL = Number(opt('refresh-token-ttl', 'REFRESH_TOKEN_TTL', '86400'));
const ISSUER_PATH = (opt('issuer-path', 'ISSUER_PATH', '') || '').replace(/\/+$/, '');
const TOKEN_FORMAT = opt('token-format', 'TOKEN_FORMAT', 'jwt');
const REQUIRED_SCOPES = opt('required-scopes', 'REQUIRED_SCOPES', 'mcp:tools').split(/\s+/).filter(Boolean);
const VERBOSE = process.env.RIG_VERBOSE === '1';

if (!['jwt', 'opaque'].includes(TOKEN_FORMAT)) throw new Error(`--token-format must be jwt or opaque, not ${TOKEN_FORMAT}`);
if (ISSUER_PATH && !ISSUER_PATH.startsWith('/')) throw new Error('--issuer-path must start with /');
if (!(ACCESS_TOKEN_TTL > 0)) throw new Error('--access-token-ttl must be a positive number of seconds');

// The scopes the MCP server knows (PRM scopes_supported) and the provider can grant for it.
const MCP_SCOPES = ['mcp:tools'];

const log = (...args) => { if (VERBOSE) console.error('[rig]', ...args); };
const fingerprint = (value) => (value ? crypto.createHash('sha256').update(String(value)).digest('hex').slice(0, 16) : null);

// ---------------------------------------------------------------------------------------------
// listeners first (ports may be 0), then the provider, whose issuer needs the port
// ---------------------------------------------------------------------------------------------

let asHandler = (req, res) => { res.writeHead(503, { 'content-type': 'text/plain' }).end('starting'); };
const asServer = http.createServer((req, res) => asHandler(req, res));
const mcpApp = express();
const mcpServer = http.createServer(mcpApp);

const listen = (server, port) => new Promise((resolve, reject) => {
  server.once('error', reject);
  server.listen(port, '127.0.0.1', () => resolve(server.address().port));
});
const asPort = await listen(asServer, AS_PORT);
const mcpPort = await listen(mcpServer, MCP_PORT);

const AS_ORIGIN = `http://127.0.0.1:${asPort}`;
const ISSUER = `${AS_ORIGIN}${ISSUER_PATH}`;
const MCP_ORIGIN = `http://127.0.0.1:${mcpPort}`;
const MCP_URL = `${MCP_ORIGIN}/mcp`;
const PRM_URL = `${MCP_ORIGIN}/.well-known/oauth-protected-resource/mcp`;

// ---------------------------------------------------------------------------------------------
// storage: a plain in-memory adapter (the bundled one is an LRU that may evict), enumerable so
// that /admin/revoke-all can find every refresh token
// ---------------------------------------------------------------------------------------------

const store = new Map(); // `${model}:${id}` -> { payload, expiresAt }
const GRANTABLE = new Set(['AccessToken', 'AuthorizationCode', 'RefreshToken', 'DeviceCode', 'BackchannelAuthenticationRequest']);

function live(key) {
  const entry = store.get(key);
  if (!entry) return undefined;
  if (entry.expiresAt && entry.expiresAt <= Date.now()) {
    store.delete(key);
    return undefined;
  }
  return entry.payload;
}

class Adapter {
  constructor(model) { this.model = model; }
  key(id) { return `${this.model}:${id}`; }
  async upsert(id, payload, expiresIn) {
    store.set(this.key(id), { payload, expiresAt: expiresIn ? Date.now() + expiresIn * 1000 : 0 });
  }
  async find(id) { return live(this.key(id)); }
  async findByUserCode(userCode) {
    for (const [key] of store) {
      if (!key.startsWith(`${this.model}:`)) continue;
      const p = live(key);
      if (p?.userCode === userCode) return p;
    }
    return undefined;
  }
  async findByUid(uid) {
    for (const [key] of store) {
      if (!key.startsWith(`${this.model}:`)) continue;
      const p = live(key);
      if (p?.uid === uid) return p;
    }
    return undefined;
  }
  async consume(id) {
    const p = live(this.key(id));
    if (p) p.consumed = Math.floor(Date.now() / 1000);
  }
  async destroy(id) { store.delete(this.key(id)); }
  async revokeByGrantId(grantId) { revokeGrant(grantId); }
}

function revokeGrant(grantId) {
  let n = 0;
  for (const [key, entry] of store) {
    const model = key.slice(0, key.indexOf(':'));
    if (GRANTABLE.has(model) && entry.payload?.grantId === grantId) {
      store.delete(key);
      n += 1;
    }
  }
  store.delete(`Grant:${grantId}`);
  return n;
}

// ---------------------------------------------------------------------------------------------
// statistics
// ---------------------------------------------------------------------------------------------

const stats = {};
const events = [];
function resetStats() {
  Object.assign(stats, {
    authorization_code: 0,
    refresh_token: 0,
    other_grants: 0,
    token_errors: 0,
    refresh_token_errors: 0,
    registrations: 0,
    registration_errors: 0,
    authorization_requests: 0,
    revocations: 0,
    mcp: { requests: 0, ok: 0, unauthorized: 0, forbidden: 0, other: 0 },
  });
  events.length = 0;
}
resetStats();

// ---------------------------------------------------------------------------------------------
// the authorization server
// ---------------------------------------------------------------------------------------------

const { privateKey } = await jose.generateKeyPair('RS256', { extractable: true });
const signingJwk = { ...(await jose.exportJWK(privateKey)), kid: 'rig-rs256', alg: 'RS256', use: 'sig' };
const { d, p, q, dp, dq, qi, ...publicJwk } = signingJwk;
const localJwks = jose.createLocalJWKSet({ keys: [publicJwk] });

const provider = new Provider(ISSUER, {
  adapter: Adapter,
  jwks: { keys: [signingJwk] },
  cookies: { keys: [crypto.randomBytes(32).toString('hex')] },
  // Any login name is an account; its `sub` is the name typed into the login form.
  async findAccount(_ctx, sub) {
    return { accountId: sub, async claims() { return { sub }; } };
  },
  scopes: ['openid', 'offline_access', ...MCP_SCOPES],
  claims: { openid: ['sub'] },
  responseTypes: ['code'],
  pkce: { required: () => true }, // oidc-provider 9 only knows S256
  clientDefaults: {
    grant_types: ['authorization_code', 'refresh_token'],
    response_types: ['code'],
    token_endpoint_auth_method: 'none',
  },
  features: {
    devInteractions: { enabled: true }, // login form (any login/password), then consent form
    registration: { enabled: true, initialAccessToken: false }, // open DCR
    revocation: { enabled: true },
    introspection: { enabled: true },
    resourceIndicators: {
      enabled: true,
      // Without a `resource` parameter the token is still for the MCP server (so a client that
      // omits it works), but /admin/events shows that it was omitted.
      defaultResource: async (_ctx, _client, oneOf) => oneOf ?? MCP_URL,
      useGrantedResource: async () => true,
      getResourceServerInfo: async (_ctx, resourceIndicator) => {
        if (resourceIndicator !== MCP_URL) {
          throw new oidcErrors.InvalidTarget(`unknown resource ${resourceIndicator}; this AS only serves ${MCP_URL}`);
        }
        return {
          scope: MCP_SCOPES.join(' '),
          audience: MCP_URL,
          accessTokenTTL: ACCESS_TOKEN_TTL,
          accessTokenFormat: TOKEN_FORMAT,
          ...(TOKEN_FORMAT === 'jwt' ? { jwt: { sign: { alg: 'RS256' } } } : {}),
        };
      },
    },
  },
  // A refresh token for every code grant of a client allowed the refresh_token grant (no need for
  // offline_access), rotated on every use; a rotated token used again is reuse: invalid_grant and
  // the whole grant is revoked (oidc-provider's behaviour).
  issueRefreshToken: async (_ctx, client) => client.grantTypeAllowed('refresh_token'),
  rotateRefreshToken: () => true,
  expiresWithSession: async () => false,
  ttl: {
    AccessToken: ACCESS_TOKEN_TTL,
    AuthorizationCode: 60,
    RefreshToken: REFRESH_TOKEN_TTL,
    Grant: REFRESH_TOKEN_TTL,
    Session: 3600,
    Interaction: 600,
    IdToken: 3600,
  },
  // Loopback http redirect URIs: oidc-provider already accepts them for web clients by exact
  // match, and for `application_type: native` clients on any port (RFC 8252 7.3).
  renderError(ctx, out, error) {
    ctx.type = 'html';
    const esc = (s) => String(s).replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
    ctx.body = `<!DOCTYPE html><html><head><title>oops! something went wrong</title></head><body>`
      + `<h1>oops! something went wrong</h1>`
      + Object.entries(out).map(([k, v]) => `<pre id="${esc(k)}"><strong>${esc(k)}</strong>: ${esc(v)}</pre>`).join('')
      + `</body></html>`;
    log('renderError', out, error?.message);
  },
});
provider.proxy = false;

// Count token-endpoint calls (whatever their outcome) by grant_type.
provider.use(async (ctx, next) => {
  await next();
  const route = ctx.oidc?.route;
  if (route === 'token') {
    const params = ctx.oidc.body ?? {};
    const grantType = String(params.grant_type ?? '');
    const ok = ctx.status === 200;
    if (grantType === 'authorization_code') stats.authorization_code += 1;
    else if (grantType === 'refresh_token') stats.refresh_token += 1;
    else stats.other_grants += 1;
    if (!ok) {
      stats.token_errors += 1;
      if (grantType === 'refresh_token') stats.refresh_token_errors += 1;
    }
    const body = ctx.body && typeof ctx.body === 'object' ? ctx.body : {};
    let accessTokenJti = null;
    if (ok && typeof body.access_token === 'string' && body.access_token.split('.').length === 3) {
      try { accessTokenJti = jose.decodeJwt(body.access_token).jti ?? null; } catch { /* opaque */ }
    }
    const ev = {
      t: Date.now(),
      grant_type: grantType,
      status: ctx.status,
      error: ok ? null : (body.error ?? null),
      error_description: ok ? null : (body.error_description ?? null),
      client_id: ctx.oidc.client?.clientId ?? params.client_id ?? null,
      resource: params.resource ?? null,
      scope_requested: params.scope ?? null,
      presented_rt: fingerprint(params.refresh_token),
      issued_rt: ok ? fingerprint(body.refresh_token) : null,
      access_token_jti: accessTokenJti,
      expires_in: ok ? (body.expires_in ?? null) : null,
      scope_granted: ok ? (body.scope ?? null) : null,
    };
    events.push(ev);
    log('token', JSON.stringify(ev));
  } else if (route === 'registration' || route === 'registration_create') {
    if (ctx.status === 201) stats.registrations += 1;
    else stats.registration_errors += 1;
    log('registration', ctx.status, JSON.stringify(ctx.oidc.body ?? {}));
  } else if (route === 'authorization') {
    stats.authorization_requests += 1;
    const p = ctx.oidc.params ?? {};
    log('authorization', ctx.status, JSON.stringify({
      client_id: p.client_id, redirect_uri: p.redirect_uri, scope: p.scope, resource: p.resource,
      code_challenge_method: p.code_challenge_method, has_code_challenge: Boolean(p.code_challenge), has_state: Boolean(p.state),
    }));
  } else if (route === 'revocation') {
    stats.revocations += 1;
  }
});

const providerCallback = provider.callback();

function sendJson(res, status, value) {
  res.writeHead(status, { 'content-type': 'application/json', 'cache-control': 'no-store' });
  res.end(JSON.stringify(value));
}

async function listClients() {
  const out = [];
  for (const [key] of store) {
    if (!key.startsWith('Client:')) continue;
    const c = live(key);
    if (!c) continue;
    const { client_secret: _secret, registration_access_token: _rat, ...rest } = c;
    out.push(rest);
  }
  return out;
}

function revokeAll(clientId) {
  const grantIds = new Set();
  for (const [key] of store) {
    if (!key.startsWith('RefreshToken:')) continue;
    const p = live(key);
    if (p && (!clientId || p.clientId === clientId)) grantIds.add(p.grantId);
  }
  let tokens = 0;
  for (const g of grantIds) tokens += revokeGrant(g);
  return { grants: grantIds.size, tokens };
}

asHandler = async (req, res) => {
  const url = new URL(req.url, AS_ORIGIN);
  if (url.pathname.startsWith('/admin/')) {
    try {
      if (req.method === 'GET' && url.pathname === '/admin/stats') return sendJson(res, 200, stats);
      if (req.method === 'GET' && url.pathname === '/admin/events') return sendJson(res, 200, events);
      if (req.method === 'GET' && url.pathname === '/admin/clients') return sendJson(res, 200, await listClients());
      if (req.method === 'POST' && url.pathname === '/admin/revoke-all') {
        const result = revokeAll(url.searchParams.get('client_id'));
        log('revoke-all', result);
        return sendJson(res, 200, { revoked: result.grants, ...result });
      }
      if (req.method === 'POST' && url.pathname === '/admin/reset-stats') {
        resetStats();
        return sendJson(res, 200, stats);
      }
      return sendJson(res, 404, { error: 'no such admin route' });
    } catch (e) {
      return sendJson(res, 500, { error: String(e?.stack ?? e) });
    }
  }
  if (ISSUER_PATH) {
    if (url.pathname !== ISSUER_PATH && !url.pathname.startsWith(`${ISSUER_PATH}/`)) {
      return sendJson(res, 404, { error: 'not_found', error_description: `the issuer is ${ISSUER}` });
    }
    // Mounted under a path: oidc-provider routes on the path below the issuer.
    req.originalUrl = req.url;
    req.url = req.url.slice(ISSUER_PATH.length) || '/';
  }
  return providerCallback(req, res);
};

// ---------------------------------------------------------------------------------------------
// the protected MCP server
// ---------------------------------------------------------------------------------------------

async function verifyAccessToken(token) {
  if (TOKEN_FORMAT === 'jwt') {
    let payload;
    try {
      ({ payload } = await jose.jwtVerify(token, localJwks, {
        issuer: ISSUER,
        audience: MCP_URL,
        typ: 'at+jwt',
        clockTolerance: 0,
      }));
    } catch (e) {
      throw new InvalidTokenError(`invalid access token: ${e.code ?? e.message}`);
    }
    return {
      token,
      clientId: String(payload.client_id ?? ''),
      scopes: String(payload.scope ?? '').split(' ').filter(Boolean),
      expiresAt: payload.exp,
      resource: new URL(Array.isArray(payload.aud) ? payload.aud[0] : payload.aud),
      extra: { sub: payload.sub, jti: payload.jti, aud: payload.aud, format: 'jwt' },
    };
  }
  const at = await provider.AccessToken.find(token);
  if (!at) throw new InvalidTokenError('invalid access token: unknown, expired or revoked');
  const aud = at.aud ?? at.resourceServer?.audience;
  if (aud !== MCP_URL) throw new InvalidTokenError('invalid access token: not issued for this resource');
  return {
    token,
    clientId: at.clientId,
    scopes: String(at.scope ?? '').split(' ').filter(Boolean),
    expiresAt: at.exp,
    resource: new URL(aud),
    extra: { sub: at.accountId, jti: at.jti, aud, format: 'opaque' },
  };
}

function buildMcpServer() {
  const server = new McpServer({ name: 'oauth-rig-protected-mcp', version: '1.0.0' });
  server.registerTool('echo', {
    description: 'Echoes back the input',
    inputSchema: { message: z.string().describe('Message to echo') },
  }, async ({ message }) => ({ content: [{ type: 'text', text: `Echo: ${message}` }] }));
  server.registerTool('whoami', {
    description: 'Describes the access token this request carried',
    inputSchema: {},
  }, async (_args, extra) => {
    const a = extra.authInfo ?? {};
    const info = {
      sub: a.extra?.sub ?? null,
      client_id: a.clientId ?? null,
      scopes: a.scopes ?? [],
      aud: a.extra?.aud ?? null,
      exp: a.expiresAt ?? null,
      jti: a.extra?.jti ?? null,
      format: a.extra?.format ?? null,
    };
    return { content: [{ type: 'text', text: JSON.stringify(info) }], structuredContent: info };
  });
  return server;
}

// Protected Resource Metadata (RFC 9728), path-suffixed form and root form.
const prm = {
  resource: MCP_URL,
  authorization_servers: [ISSUER],
  scopes_supported: MCP_SCOPES,
  bearer_methods_supported: ['header'],
  resource_name: 'oauth rig protected MCP server',
};
mcpApp.get('/.well-known/oauth-protected-resource/mcp', (_req, res) => res.json(prm));
mcpApp.get('/.well-known/oauth-protected-resource', (_req, res) => res.json(prm));

// Count MCP requests by outcome.
mcpApp.use('/mcp', (req, res, next) => {
  stats.mcp.requests += 1;
  res.on('finish', () => {
    if (res.statusCode === 401) stats.mcp.unauthorized += 1;
    else if (res.statusCode === 403) stats.mcp.forbidden += 1;
    else if (res.statusCode < 400) stats.mcp.ok += 1;
    else stats.mcp.other += 1;
  });
  next();
});

const bearer = requireBearerAuth({
  verifier: { verifyAccessToken },
  requiredScopes: REQUIRED_SCOPES,
  resourceMetadataUrl: PRM_URL,
  expectedResource: new URL(MCP_URL),
});

const sessions = new Map(); // mcp-session-id -> transport

mcpApp.all('/mcp', bearer, express.json({ limit: '4mb' }), async (req, res) => {
  try {
    const sid = req.headers['mcp-session-id'];
    let transport = sid ? sessions.get(String(sid)) : undefined;
    if (!transport) {
      if (sid) {
        return res.status(404).json({ jsonrpc: '2.0', error: { code: -32001, message: 'Session not found' }, id: null });
      }
      if (req.method !== 'POST' || !isInitializeRequest(req.body)) {
        return res.status(400).json({ jsonrpc: '2.0', error: { code: -32000, message: 'Bad Request: no session id and not an initialize request' }, id: null });
      }
      transport = new StreamableHTTPServerTransport({
        sessionIdGenerator: () => crypto.randomUUID(),
        onsessioninitialized: (id) => { sessions.set(id, transport); },
      });
      transport.onclose = () => { if (transport.sessionId) sessions.delete(transport.sessionId); };
      await buildMcpServer().connect(transport);
    }
    await transport.handleRequest(req, res, req.body);
  } catch (e) {
    log('mcp error', e);
    if (!res.headersSent) res.status(500).json({ jsonrpc: '2.0', error: { code: -32603, message: String(e) }, id: null });
  }
});

// ---------------------------------------------------------------------------------------------
// ready
// ---------------------------------------------------------------------------------------------

const shutdown = () => {
  asServer.closeAllConnections?.();
  mcpServer.closeAllConnections?.();
  asServer.close();
  mcpServer.close();
  setTimeout(() => process.exit(0), 200).unref();
};
process.on('SIGTERM', shutdown);
process.on('SIGINT', shutdown);

process.stdout.write(`${JSON.stringify({
  issuer: ISSUER,
  discovery_url: `${ISSUER}/.well-known/openid-configuration`,
  registration_endpoint: `${ISSUER}/reg`,
  mcp_url: MCP_URL,
  resource_metadata_url: PRM_URL,
  admin_url: `${AS_ORIGIN}/admin`,
  as_port: asPort,
  mcp_port: mcpPort,
  access_token_ttl: ACCESS_TOKEN_TTL,
  token_format: TOKEN_FORMAT,
  scopes: MCP_SCOPES,
  required_scopes: REQUIRED_SCOPES,
})}\n`);
