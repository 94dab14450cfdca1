#!/usr/bin/env node
// The client under test for the official MCP conformance suite (client side):
// `toolhive run <server-url>` plus a scripted user.
//
//   client.sh <server-url>        (the suite appends the URL; see client.sh)
//
// 1. starts `${TOOLHIVE_BIN:-target/debug/toolhive} run <url> --remote-auth-skip-browser --name conf ...`
//    with a fresh TOOLHIVE_STATE_DIR, reads its one stdout line (the local MCP URL);
// 2. plays the user's browser: every stderr line `Please open this URL in your browser: <url>`
//    makes it GET <url> without following redirects, then GET the `Location` (the mock
//    authorization server answers at once with a 302 to the proxy's callback);
// 3. drives the local URL with the official TypeScript SDK client: initialize, tools/list,
//    tools/call of a listed tool (arguments made up from its input schema), close. A 503 from
//    the proxy (login still running) is retried after its Retry-After, bounded by the deadline;
// 4. stops the proxy (SIGTERM to its process group, SIGKILL after 3 s), prints the proxy's
//    stderr, and prints one last stdout line `CONFORMANCE-CLIENT-RESULT: ok|expected-error|fail: ...`
//    (run.sh reads it from the suite's stdout.txt: in --suite mode the suite itself ignores the
//    client's exit code and time-outs). Exit code 0 only for `ok`.
//
// Environment:
//   MCP_CONFORMANCE_SCENARIO   set by the suite (scenario name)
//   MCP_CONFORMANCE_CONTEXT    set by the suite for auth/pre-registration: {"client_id","client_secret"}
//   TOOLHIVE_BIN               the toolhive binary (default <repo>/target/debug/toolhive)
//   CONFORMANCE_CIMD           always (default) | never | scenario: when to pass
//                              --remote-auth-client-metadata-url (always: the proxy must use it
//                              only when the AS advertises client_id_metadata_document_supported)
//   CONFORMANCE_CIMD_URL       default https://conformance-test.local/client-metadata.json
//   CONFORMANCE_PROXY_ARGS     extra arguments for `toolhive run` (split on whitespace)
//   CONFORMANCE_CLIENT_DEADLINE_MS  overall bound for this process (default 25000; keep it below
//                              the suite's --timeout, 30000 by default)
//   CONFORMANCE_VERBOSE=1      stream the proxy's stderr live (default: printed at the end)
//   CONFORMANCE_KEEP_STATE=1   keep the state directory (its path is logged)
//   CONFORMANCE_NODE_MODULES   where @modelcontextprotocol/sdk lives (default <repo>/tests/e2e/node_modules)

import { spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import readline from 'node:readline';
import { fileURLToPath, pathToFileURL } from 'node:url';

const HERE = path.dirname(fileURLToPath(import.meta.url));
const REPO = path.resolve(HERE, '../..');
const NODE_MODULES =
  process.env.CONFORMANCE_NODE_MODULES || path.join(REPO, 'tests/e2e/node_modules');
const sdk = (p) =>
  import(pathToFileURL(path.join(NODE_MODULES, '@modelcontextprotocol/sdk/dist/esm', p)).href);

const DEFAULT_CIMD_URL = 'https://conformance-test.local/client-metadata.json';
// Scenarios whose mock server makes a successful MCP session impossible by design
// (the suite sets allowClientError on them): an error there is the expected outcome.
const EXPECT_CLIENT_ERROR = new Set(['auth/scope-retry-limit', 'auth/resource-mismatch']);
const BROWSER_LINE = /Please open this URL in your browser: (\S+)\s*$/;

const T0 = Date.now();
const scenario = process.env.MCP_CONFORMANCE_SCENARIO || '';
const deadlineMs = Number(process.env.CONFORMANCE_CLIENT_DEADLINE_MS || 25000);
const deadlineAt = T0 + deadlineMs;
const verbose = process.env.CONFORMANCE_VERBOSE === '1';

function log(msg) {
  const t = ((Date.now() - T0) / 1000).toFixed(3);
  process.stderr.write(`[client +${t}s] ${msg}\n`);
}
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const remaining = () => Math.max(0, deadlineAt - Date.now());

let proxy = null; // ChildProcess
let proxyExit = null; // { code, signal } once it exited
let stoppingProxy = false;
const proxyStderr = [];
let stateDir = null;
let finished = false;
const browserLog = []; // one entry per login the proxy asked for

// ---------------------------------------------------------------- proxy process

function proxyBin() {
  const bin = process.env.TOOLHIVE_BIN || 'target/debug/toolhive';
  return path.isAbsolute(bin) ? bin : path.resolve(REPO, bin);
}

function proxyArgs(serverUrl) {
  const args = ['run', serverUrl, '--remote-auth-skip-browser', '--name', 'conf'];
  const ctxRaw = process.env.MCP_CONFORMANCE_CONTEXT;
  if (ctxRaw) {
    let ctx;
    try {
      ctx = JSON.parse(ctxRaw);
    } catch (e) {
      throw new Error(`MCP_CONFORMANCE_CONTEXT is not JSON: ${e.message}`);
    }
    if (ctx.client_id) args.push('--remote-auth-client-id', String(ctx.client_id));
    if (ctx.client_secret) args.push('--remote-auth-client-secret', String(ctx.client_secret));
  }
  const cimdMode = process.env.CONFORMANCE_CIMD || 'always';
  const wantsCimd =
    cimdMode === 'always' ||
    (cimdMode === 'scenario' && /cimd|offline-access/.test(scenario));
  if (wantsCimd) {
    args.push(
      '--remote-auth-client-metadata-url',
      process.env.CONFORMANCE_CIMD_URL || DEFAULT_CIMD_URL
    );
  }
  const extra = (process.env.CONFORMANCE_PROXY_ARGS || '').trim();
  if (extra) args.push(...extra.split(/\s+/));
  return args;
}

function startProxy(serverUrl) {
  stateDir = fs.mkdtempSync(
    path.join(os.tmpdir(), `toolhive-conf-${scenario.replace(/[^A-Za-z0-9_-]+/g, '_') || 'x'}-`)
  );
  const bin = proxyBin();
  const args = proxyArgs(serverUrl);
  log(`state dir ${stateDir}`);
  const shown = args.map((a, i) => (args[i - 1] === '--remote-auth-client-secret' ? '***' : a));
  log(`starting: ${bin} ${shown.join(' ')}`);
  proxy = spawn(bin, args, {
    env: { ...process.env, TOOLHIVE_STATE_DIR: stateDir },
    stdio: ['ignore', 'pipe', 'pipe'],
    detached: true // own process group: stop() kills the proxy and anything it started
  });
  let resolveUrl, rejectUrl;
  const urlPromise = new Promise((res, rej) => {
    resolveUrl = res;
    rejectUrl = rej;
  });
  proxy.on('error', (e) => rejectUrl(new Error(`cannot start ${bin}: ${e.message}`)));
  proxy.on('exit', (code, signal) => {
    proxyExit = { code, signal };
    if (!stoppingProxy) log(`proxy exited by itself (code ${code}, signal ${signal})`);
    rejectUrl(new Error(`proxy exited (code ${code}, signal ${signal}) before printing its URL`));
  });
  let stdoutLines = 0;
  readline.createInterface({ input: proxy.stdout }).on('line', (line) => {
    stdoutLines++;
    if (stdoutLines === 1) {
      log(`proxy stdout: ${line}`);
      resolveUrl(line.trim());
    } else {
      log(`proxy stdout (unexpected extra line ${stdoutLines}, the contract says ONE): ${line}`);
    }
  });
  readline.createInterface({ input: proxy.stderr }).on('line', (raw) => {
    const line = raw.replace(/\x1b\[[0-9;]*m/g, ''); // no colours in logs or in the URL
    proxyStderr.push(line);
    if (verbose) process.stderr.write(`[proxy] ${line}\n`);
    const m = BROWSER_LINE.exec(line);
    if (m) openInBrowser(m[1]);
  });
  return urlPromise;
}

async function stopProxy() {
  if (!proxy || proxyExit) return;
  const pid = proxy.pid;
  stoppingProxy = true;
  const exited = new Promise((r) => proxy.once('exit', r));
  try {
    process.kill(-pid, 'SIGTERM');
  } catch {
    /* already gone */
  }
  const t = setTimeout(() => {
    try {
      process.kill(-pid, 'SIGKILL');
    } catch {
      /* already gone */
    }
  }, 3000);
  await Promise.race([exited, sleep(4000)]);
  clearTimeout(t);
}

// ---------------------------------------------------------------- the user's browser

let browserChain = Promise.resolve();

function openInBrowser(authUrl) {
  // Logins are handled one after another, like a user would.
  browserChain = browserChain.then(() => browse(authUrl)).catch(() => {});
}

async function httpGetNoFollow(url) {
  try {
    return await fetch(url, { redirect: 'manual', signal: AbortSignal.timeout(10000) });
  } catch (e) {
    // The proxy's callback listens on 127.0.0.1 only; a browser that resolved localhost to ::1
    // would try 127.0.0.1 next. Do the same.
    const u = new URL(url);
    if (u.hostname === 'localhost') {
      u.hostname = '127.0.0.1';
      log(`browser: ${e.cause?.code || e.message} for ${url}; retrying via 127.0.0.1`);
      return await fetch(u, { redirect: 'manual', signal: AbortSignal.timeout(10000) });
    }
    throw e;
  }
}

async function bodySnippet(res) {
  try {
    const t = await res.text();
    return t.length > 300 ? `${t.slice(0, 300)}...` : t;
  } catch {
    return '';
  }
}

async function browse(authUrl) {
  const entry = { authUrl, steps: [] };
  browserLog.push(entry);
  const n = browserLog.length;
  try {
    const u = new URL(authUrl);
    const q = Object.fromEntries(u.searchParams);
    log(`browser #${n}: GET ${u.origin}${u.pathname} params ${JSON.stringify(q)}`);
    const r1 = await httpGetNoFollow(authUrl);
    const loc = r1.headers.get('location');
    entry.steps.push(`${r1.status} ${loc || ''}`);
    if (r1.status < 300 || r1.status > 399 || !loc) {
      throw new Error(
        `authorization URL answered ${r1.status} without a redirect: ${await bodySnippet(r1)}`
      );
    }
    const callback = new URL(loc, authUrl);
    log(`browser #${n}: ${r1.status} -> GET ${callback.href}`);
    const r2 = await httpGetNoFollow(callback.href);
    const text = await bodySnippet(r2);
    entry.steps.push(`${r2.status}`);
    log(`browser #${n}: callback answered ${r2.status}: ${text.replace(/\s+/g, ' ').slice(0, 160)}`);
    if (r2.status >= 400) throw new Error(`callback answered ${r2.status}: ${text}`);
    entry.ok = true;
  } catch (e) {
    entry.error = e.message;
    log(`browser #${n}: FAILED: ${e.message}`);
  }
}

// ---------------------------------------------------------------- the MCP client

// fetch for the SDK transport: a 503 (the proxy waits for a login or refresh) is retried after
// its Retry-After (clamped to 0.2..3 s) until the deadline; other answers go to the SDK as is.
function retryingFetch() {
  let count503 = 0;
  return async (url, init) => {
    for (;;) {
      let res;
      try {
        res = await fetch(url, init);
      } catch (e) {
        if (e.name === 'AbortError' || remaining() < 500) throw e;
        log(`fetch ${init?.method || 'GET'} failed (${e.cause?.code || e.message}); retrying`);
        await sleep(250);
        continue;
      }
      if (res.status !== 503) return res;
      count503++;
      const ra = res.headers.get('retry-after');
      const body = await bodySnippet(res);
      let waitMs = 1000;
      if (ra === null) {
        log(`503 WITHOUT Retry-After (the contract says 503 + Retry-After): ${body}`);
      } else if (/^\d+$/.test(ra.trim())) {
        waitMs = Number(ra.trim()) * 1000;
      } else if (!Number.isNaN(Date.parse(ra))) {
        waitMs = Date.parse(ra) - Date.now();
      }
      waitMs = Math.min(3000, Math.max(200, waitMs));
      if (count503 <= 3 || count503 % 10 === 0) {
        log(`${init?.method || 'GET'} -> 503 (Retry-After: ${ra}) #${count503}; waiting ${waitMs} ms`);
      }
      if (remaining() < waitMs + 500) return res; // give up: the SDK reports the 503
      await sleep(waitMs);
    }
  };
}

function exampleValue(schema, depth = 0) {
  if (!schema || typeof schema !== 'object' || depth > 4) return 'test';
  if (schema.default !== undefined) return schema.default;
  if (Array.isArray(schema.enum) && schema.enum.length) return schema.enum[0];
  if (schema.const !== undefined) return schema.const;
  const type = Array.isArray(schema.type) ? schema.type[0] : schema.type;
  switch (type) {
    case 'string':
      return 'test';
    case 'number':
    case 'integer':
      return schema.minimum ?? 1;
    case 'boolean':
      return true;
    case 'array':
      return [];
    case 'null':
      return null;
    case 'object':
    default:
      return exampleArgs(schema, depth + 1);
  }
}

function exampleArgs(schema, depth = 0) {
  const out = {};
  const props = (schema && schema.properties) || {};
  for (const name of (schema && schema.required) || []) {
    out[name] = exampleValue(props[name], depth);
  }
  return out;
}

// Loaded while the proxy starts (importing the SDK takes seconds on a busy 2-CPU machine).
let sdkModules;

async function runMcp(localUrl) {
  const [{ Client }, { StreamableHTTPClientTransport }] = await sdkModules;
  const transport = new StreamableHTTPClientTransport(new URL(localUrl), {
    fetch: retryingFetch()
  });
  const client = new Client(
    { name: 'toolhive-conformance-wrapper', version: '1.0.0' },
    { capabilities: {} }
  );
  client.onerror = (e) => log(`SDK onerror (not fatal): ${e?.message || e}`);
  const opts = () => ({ timeout: Math.max(1000, remaining()) });

  log(`initialize ${localUrl}`);
  await client.connect(transport, opts());
  const info = client.getServerVersion();
  log(`initialized: server ${info?.name} ${info?.version}`);

  const { tools } = await client.listTools(undefined, opts());
  log(`tools/list: ${tools.map((t) => t.name).join(', ') || '(none)'}`);
  if (!tools.length) throw new Error('tools/list returned no tools');
  const tool = tools.find((t) => t.name === 'test-tool') || tools[0];
  const args = exampleArgs(tool.inputSchema);
  log(`tools/call ${tool.name} ${JSON.stringify(args)}`);
  const result = await client.callTool({ name: tool.name, arguments: args }, undefined, opts());
  const text = (result.content || [])
    .map((c) => (c.type === 'text' ? c.text : `[${c.type}]`))
    .join(' ');
  log(`tools/call result${result.isError ? ' (isError)' : ''}: ${text.slice(0, 200)}`);
  if (result.isError) throw new Error(`tools/call ${tool.name} returned isError: ${text}`);
  await client.close();
}

// ---------------------------------------------------------------- main

async function finish(outcome, detail) {
  if (finished) return;
  finished = true;
  clearTimeout(deadlineTimer);
  clearInterval(parentWatch);
  await stopProxy();
  const logins = browserLog.length;
  const failedLogins = browserLog.filter((b) => b.error).length;
  log(`logins asked by the proxy: ${logins}${failedLogins ? ` (${failedLogins} failed)` : ''}`);
  if (proxyExit) log(`proxy exit status: code ${proxyExit.code}, signal ${proxyExit.signal}`);
  const header =
    outcome === 'ok'
      ? '---- proxy stderr ----'
      : `---- proxy stderr (${outcome}: ${detail}) ----`;
  if (!verbose) {
    process.stderr.write(`${header}\n${proxyStderr.join('\n')}\n---- end of proxy stderr ----\n`);
  }
  if (stateDir && process.env.CONFORMANCE_KEEP_STATE !== '1') {
    fs.rmSync(stateDir, { recursive: true, force: true });
  }
  const line =
    outcome === 'ok'
      ? 'CONFORMANCE-CLIENT-RESULT: ok'
      : `CONFORMANCE-CLIENT-RESULT: ${outcome}: ${String(detail).replace(/\s+/g, ' ')}`;
  if (outcome !== 'ok') log(`${outcome.toUpperCase()}: ${detail}`);
  process.stdout.write(`${line}\n`);
  process.exit(outcome === 'ok' ? 0 : 1);
}

const deadlineTimer = setTimeout(
  () => finish('fail', `deadline of ${deadlineMs} ms reached (CONFORMANCE_CLIENT_DEADLINE_MS)`),
  deadlineMs
);
// The suite kills `sh -c "<cmd> <url>"` on its time-out; when the shell did not exec us we
// would be orphaned with the proxy still running. Notice and clean up.
const parentPid = process.ppid;
const parentWatch = setInterval(() => {
  if (process.ppid !== parentPid) finish('fail', 'parent process went away');
}, 500);
for (const sig of ['SIGTERM', 'SIGINT', 'SIGHUP']) {
  process.on(sig, () => finish('fail', `got ${sig}`));
}

async function main() {
  const serverUrl = process.argv[process.argv.length - 1];
  if (!serverUrl || !/^https?:\/\//.test(serverUrl)) {
    process.stderr.write('usage: client.sh <server-url>\n');
    process.exit(2);
  }
  log(`scenario ${scenario || '(none)'}; server ${serverUrl}; deadline ${deadlineMs} ms`);
  sdkModules = Promise.all([sdk('client/index.js'), sdk('client/streamableHttp.js')]);
  sdkModules.catch(() => {}); // reported when awaited
  try {
    const localUrl = await Promise.race([
      startProxy(serverUrl),
      sleep(Math.min(15000, remaining())).then(() => {
        throw new Error('proxy printed no URL on stdout within 15 s');
      })
    ]);
    if (!/^https?:\/\//.test(localUrl)) {
      throw new Error(`proxy's stdout line is not a URL: ${JSON.stringify(localUrl)}`);
    }
    await runMcp(localUrl);
    await finish('ok');
  } catch (e) {
    const msg = e?.stack && process.env.CONFORMANCE_VERBOSE === '1' ? e.stack : e?.message || String(e);
    const failedLogin = browserLog.find((b) => b.error);
    const detail = failedLogin ? `${msg} (browser: ${failedLogin.error})` : msg;
    await finish(EXPECT_CLIENT_ERROR.has(scenario) ? 'expected-error' : 'fail', detail);
  }
}

main();
