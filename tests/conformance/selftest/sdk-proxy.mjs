#!/usr/bin/env node
// A STAND-IN for `toolhive run`, used only to validate client.sh/run.sh (`run.sh --self-test`)
// and to record what the official TypeScript SDK's OAuth client (`auth()` from
// @modelcontextprotocol/sdk/client/auth.js) passes. It follows the OAuth CLI contract
// (notes/oauth-cli-contract.md) as far as the wrapper can see it:
//   - prints ONE stdout line, the local MCP URL, as soon as it listens; logs to stderr;
//   - probes the remote with an unauthenticated `initialize`; a 401 starts the login;
//   - --remote-auth-skip-browser: stderr gets `Please open this URL in your browser: <url>`;
//   - callback on 127.0.0.1, redirect URI http://localhost:<port>/callback, `state` checked;
//   - answers 503 + Retry-After while no token exists and a login runs;
//   - a request meeting 401, or 403 insufficient_scope, waits for the (step-up) login and is
//     retried once; at most 3 logins in all.
// Discovery, PKCE, CIMD/DCR/pre-registration, token endpoint auth and the resource parameter are
// entirely the SDK's. Flags honoured: run <url>, --remote-auth-client-id,
// --remote-auth-client-secret, --remote-auth-client-metadata-url, --remote-auth-callback-port;
// the others are accepted and ignored.
//
// SDK_PROXY_BREAK=<mode> breaks it on purpose, to prove that run.sh notices:
//   no-cimd         ignore --remote-auth-client-metadata-url (auth/basic-cimd: WARNING)
//   fail-tools-call answer tools/call with 500 after a good login (no check fails; only
//                   client.sh's result line tells)
//   hang            never answer MCP requests (client.sh's deadline)

import http from 'node:http';
import crypto from 'node:crypto';
import path from 'node:path';
import { Readable } from 'node:stream';
import { fileURLToPath, pathToFileURL } from 'node:url';

const HERE = path.dirname(fileURLToPath(import.meta.url));
const NODE_MODULES =
  process.env.CONFORMANCE_NODE_MODULES || path.resolve(HERE, '../../e2e/node_modules');
const { auth, extractWWWAuthenticateParams } = await import(
  pathToFileURL(path.join(NODE_MODULES, '@modelcontextprotocol/sdk/dist/esm/client/auth.js')).href
);

const log = (m) => process.stderr.write(`sdk-proxy: ${m}\n`);
const BREAK = process.env.SDK_PROXY_BREAK || '';

// ------------------------------------------------------------------ flags
const argv = process.argv.slice(2);
if (argv[0] !== 'run' || !argv[1]) {
  log('usage: sdk-proxy.mjs run <url> [flags]');
  process.exit(2);
}
const upstream = new URL(argv[1]);
const flags = {};
for (let i = 2; i < argv.length; i++) {
  const a = argv[i];
  if (!a.startsWith('--')) continue;
  const next = argv[i + 1];
  if (next !== undefined && !next.startsWith('--')) {
    flags[a] = next;
    i++;
  } else {
    flags[a] = true;
  }
}

// ------------------------------------------------------------------ OAuth client (the SDK's)
let tokens;
let clientInformation = flags['--remote-auth-client-id']
  ? {
      client_id: flags['--remote-auth-client-id'],
      ...(flags['--remote-auth-client-secret'] && {
        client_secret: flags['--remote-auth-client-secret']
      })
    }
  : undefined;
let codeVerifier;
let expectedState;
let waitingForCode; // { resolve, reject }
let scope; // union of the scopes asked for so far
let logins = 0;
let loginInFlight = null;

const callbackServer = http.createServer((req, res) => {
  const u = new URL(req.url, 'http://localhost');
  if (u.pathname !== '/callback') {
    res.writeHead(404).end();
    return;
  }
  const state = u.searchParams.get('state');
  const code = u.searchParams.get('code');
  if (!waitingForCode || !state || state !== expectedState || !code) {
    res.writeHead(400, { 'content-type': 'text/plain' }).end('unexpected callback');
    return;
  }
  expectedState = undefined; // single use
  res.writeHead(200, { 'content-type': 'text/plain' }).end('Login complete; you may close this tab.');
  waitingForCode.resolve(code);
});
await new Promise((r) =>
  callbackServer.listen(Number(flags['--remote-auth-callback-port'] || 0), '127.0.0.1', r)
);
const redirectUri = `http://localhost:${callbackServer.address().port}/callback`;

const provider = {
  get redirectUrl() {
    return redirectUri;
  },
  clientMetadataUrl: BREAK === 'no-cimd' ? undefined : flags['--remote-auth-client-metadata-url'],
  get clientMetadata() {
    return {
      client_name: 'toolhive sdk stand-in',
      redirect_uris: [redirectUri],
      grant_types: ['authorization_code', 'refresh_token'],
      response_types: ['code']
    };
  },
  state() {
    expectedState = crypto.randomBytes(16).toString('base64url');
    return expectedState;
  },
  clientInformation: () => clientInformation,
  saveClientInformation: (ci) => {
    clientInformation = ci;
  },
  tokens: () => tokens,
  saveTokens: (t) => {
    tokens = t;
  },
  redirectToAuthorization(url) {
    process.stderr.write(`Please open this URL in your browser: ${url.href}\n`);
  },
  saveCodeVerifier: (v) => {
    codeVerifier = v;
  },
  codeVerifier: () => codeVerifier,
  invalidateCredentials(what) {
    if (what === 'all' || what === 'tokens') tokens = undefined;
    if (what === 'all' || what === 'client') clientInformation = undefined;
  }
};

function unionScopes(a, b) {
  const set = new Set([...(a || '').split(' '), ...(b || '').split(' ')].filter(Boolean));
  return set.size ? [...set].join(' ') : undefined;
}

// One login at a time; concurrent callers share it.
function login(challenge) {
  if (loginInFlight) return loginInFlight;
  loginInFlight = (async () => {
    if (logins >= 3) throw new Error('gave up: 3 logins already');
    logins++;
    const { resourceMetadataUrl, scope: challenged } = challenge;
    scope = unionScopes(scope, challenged);
    tokens = undefined; // a step-up needs a new authorization, not a refresh
    log(`login #${logins} (scope ${scope || 'none'})`);
    const opts = { serverUrl: upstream, resourceMetadataUrl, scope };
    let result = await auth(provider, opts);
    if (result === 'REDIRECT') {
      const code = await new Promise((resolve, reject) => {
        waitingForCode = { resolve, reject };
        setTimeout(() => reject(new Error('login timed out')), 20000).unref();
      });
      waitingForCode = undefined;
      result = await auth(provider, { ...opts, authorizationCode: code });
    }
    if (result !== 'AUTHORIZED') throw new Error(`auth() returned ${result}`);
    log(`login #${logins} done`);
  })().finally(() => {
    loginInFlight = null;
  });
  return loginInFlight;
}

function challengeOf(res) {
  if (res.status === 401) return extractWWWAuthenticateParams(res);
  if (res.status === 403) {
    const p = extractWWWAuthenticateParams(res);
    if (p.error === 'insufficient_scope') return p;
  }
  return null;
}

// ------------------------------------------------------------------ the proxy
const FORWARD = ['content-type', 'accept', 'mcp-session-id', 'mcp-protocol-version', 'last-event-id'];

function forward(method, headers, body) {
  const h = new Headers();
  for (const name of FORWARD) if (headers[name]) h.set(name, headers[name]);
  if (tokens) h.set('authorization', `Bearer ${tokens.access_token}`);
  return fetch(upstream, { method, headers: h, body: body && body.length ? body : undefined });
}

const server = http.createServer(async (req, res) => {
  try {
    const chunks = [];
    for await (const c of req) chunks.push(c);
    const body = Buffer.concat(chunks);
    if (BREAK === 'hang') return;
    if (BREAK === 'fail-tools-call' && body.includes('"tools/call"')) {
      res.writeHead(500).end('broken on purpose');
      return;
    }
    if (!tokens && loginInFlight) {
      res.writeHead(503, { 'retry-after': '1', 'content-type': 'application/json' });
      res.end(JSON.stringify({ error: 'authorization in progress' }));
      return;
    }
    let up = await forward(req.method, req.headers, body);
    const challenge = challengeOf(up);
    if (challenge) {
      log(`${req.method} -> ${up.status}; logging in`);
      await up.arrayBuffer().catch(() => {});
      await login(challenge);
      up = await forward(req.method, req.headers, body); // retried once
    }
    const out = {};
    for (const name of ['content-type', 'mcp-session-id']) {
      const v = up.headers.get(name);
      if (v) out[name] = v;
    }
    res.writeHead(up.status, out);
    if (up.body) Readable.fromWeb(up.body).pipe(res);
    else res.end();
  } catch (e) {
    log(`request failed: ${e.message}`);
    if (!res.headersSent) res.writeHead(502, { 'content-type': 'application/json' });
    res.end(JSON.stringify({ error: e.message }));
  }
});
await new Promise((r) => server.listen(0, '127.0.0.1', r));
process.stdout.write(`http://127.0.0.1:${server.address().port}/mcp\n`);

// Probe: does the remote want a login before anything else?
try {
  const probe = await forward(
    'POST',
    { 'content-type': 'application/json', accept: 'application/json, text/event-stream' },
    Buffer.from(
      JSON.stringify({
        jsonrpc: '2.0',
        id: 0,
        method: 'initialize',
        params: {
          protocolVersion: '2025-11-25',
          capabilities: {},
          clientInfo: { name: 'sdk-proxy-probe', version: '0' }
        }
      })
    )
  );
  await probe.arrayBuffer().catch(() => {});
  const challenge = challengeOf(probe);
  if (challenge) {
    log(`probe -> ${probe.status}; logging in`);
    login(challenge).catch((e) => log(`login failed: ${e.message}`));
  } else {
    log(`probe -> ${probe.status}; no login needed yet`);
  }
} catch (e) {
  log(`probe failed: ${e.message}`);
}

for (const sig of ['SIGTERM', 'SIGINT']) process.on(sig, () => process.exit(0));
