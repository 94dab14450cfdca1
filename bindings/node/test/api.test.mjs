// The API surface: start/list/get/stopAll, Proxy, options mapped onto the ProxyConfig schema,
// errors with a code and the field in the user's words.

import assert from 'node:assert/strict';
import net from 'node:net';
import { after, before, test } from 'node:test';

import { get, list, start, stopAll, version, Proxy } from 'toolhive-embed';

import { everything } from './support.mjs';

let srv;
before(async () => { srv = await everything(); });
after(async () => { await stopAll(); await srv.stop(); });

/** Reject with code/field/message as given (message: RegExp). */
async function rejects(promise, { code = 'invalid_config', field, message }) {
  await assert.rejects(promise, (err) => {
    assert.ok(err instanceof Error, `not an Error: ${err}`);
    assert.equal(err.code, code, err.message);
    assert.equal(err.field, field, err.message);
    if (field) assert.ok(err.message.startsWith(`${field}: `), err.message);
    if (message) assert.match(err.message, message);
    return true;
  });
}

test('exports', () => {
  assert.equal(typeof start, 'function');
  assert.equal(typeof list, 'function');
  assert.equal(typeof get, 'function');
  assert.equal(typeof stopAll, 'function');
  assert.match(version, /^\d+\.\d+\.\d+/);
});

test('start: a proxy with getters, list, get, logs, toJSON, stop', async () => {
  const p = await start(srv.url, { name: 'api-basic', stateless: false });
  assert.ok(p instanceof Proxy);
  assert.match(p.url, /^http:\/\/127\.0\.0\.1:\d+\/mcp$/);
  assert.equal(p.name, 'api-basic');
  assert.equal(p.remoteUrl, srv.url);
  assert.equal(p.transport, 'streamable-http');
  assert.equal(p.state, 'running');
  assert.equal(p.reason, null);

  const info = list().find((i) => i.name === 'api-basic');
  assert.deepEqual(
    { ...info, startedAt: undefined },
    { name: 'api-basic', remoteUrl: srv.url, localUrl: p.url, transport: 'streamable-http', state: 'running', startedAt: undefined, pid: process.pid, stale: false, auth: { state: 'unauthenticated' } },
  );
  assert.deepEqual(p.authState, { state: 'unauthenticated' }); // no credentials: OAuth if asked
  assert.ok(info.startedAt instanceof Date && Math.abs(Date.now() - info.startedAt) < 60_000);
  assert.equal(JSON.parse(JSON.stringify(p)).localUrl, p.url);

  const again = get('api-basic');
  assert.equal(again.url, p.url);
  assert.equal(get('no-such-proxy'), null);

  const logs = p.logs();
  assert.ok(logs.length >= 1);
  assert.ok(logs[0].at instanceof Date);
  assert.ok(['debug', 'info', 'warn', 'error'].includes(logs[0].level));
  assert.ok(logs.some((l) => l.message.includes(p.url)), JSON.stringify(logs));

  // The local endpoint answers.
  const health = await fetch(new URL('/health', p.url));
  assert.equal(health.status, 200);

  await p.stop();
  assert.equal(p.state, 'stopped');
  assert.equal(get('api-basic').state, 'stopped');
  await p.stop(); // idempotent
  assert.ok(list().some((i) => i.name === 'api-basic' && i.state === 'stopped'));
  await assert.rejects(fetch(p.url, { method: 'POST' }));
});

test('options: camelCase keys map onto the schema; undefined is ignored; sse transport', async () => {
  const p = await start(srv.url, {
    name: 'api-options',
    port: undefined,
    maxRequestBodyBytes: 1024,
    stopGraceMs: 100,
    healthCheck: { intervalMs: 60_000, failureThreshold: 2, timeoutMs: 1000 },
  });
  try {
    // maxRequestBodyBytes took effect: a bigger body gets 413.
    const r = await fetch(p.url, {
      method: 'POST',
      headers: { 'content-type': 'application/json', accept: 'application/json, text/event-stream' },
      body: JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'ping', params: { pad: 'x'.repeat(4096) } }),
    });
    assert.equal(r.status, 413);
  } finally {
    await p.stop();
  }
  const sse = await start(srv.url.replace(/\/mcp$/, '/sse'), { name: 'api-sse', transport: 'sse' });
  assert.equal(sse.transport, 'sse');
  assert.match(sse.url, /\/sse$/);
  await sse.stop();
});

test('bad options reject with code invalid_config and the field as written in JS', async () => {
  const url = srv.url;
  await rejects(start(url, { healthCheck: { intervalMs: 0 } }), { field: 'healthCheck.intervalMs', message: /greater than 0/ });
  await rejects(start(url, { port: 'eighty' }), { field: 'port', message: /invalid type/ });
  await rejects(start(url, { port: 70000 }), { field: 'port' });
  await rejects(start(url, { transport: 'carrier-pigeon' }), { field: 'transport', message: /carrier-pigeon/ });
  await rejects(start(url, { stopGraceMs: -1 }), { field: 'stopGraceMs' });
  await rejects(start(url, { connectTimeoutMs: 0 }), { field: 'connectTimeoutMs' });
  await rejects(start(url, { name: 'no spaces' }), { field: 'name', message: /no spaces/ });
  await rejects(start(url, { host: 'my_host' }), { field: 'host', message: /`my_host`/ });
  await rejects(start(url, { stateless: true, transport: 'sse' }), { field: 'stateless' });
  // Unknown option: named as written, and the known ones listed in camelCase.
  await rejects(start(url, { prot: 8080 }), { field: 'prot', message: /unknown field `prot`.*`remoteUrl`.*`allowHttp`/ });
  await assert.rejects(start(url, { prot: 1 }), (e) => !/remote_url|allow_http| at line /.test(e.message));
  // The remote URL.
  await rejects(start(''), { field: 'remoteUrl', message: /empty/ });
  await rejects(start('ftp://example.com/mcp'), { field: 'remoteUrl', message: /ftp/ });
  await rejects(start('http://example.com/mcp'), { field: 'remoteUrl', message: /allowHttp/ });
  await rejects(start(42), { field: 'remoteUrl', message: /invalid type/ });
  await rejects(start(url, { remoteUrl: url }), { field: 'remoteUrl', message: /twice/ });
  // Options that are not an object, or not JSON.
  await rejects(start(url, ['name']), { message: /options must be an object/ });
  await rejects(start(url, 'name'), { message: /options must be an object/ });
  await rejects(start(url, { port: 10n }), { message: /BigInt/ });
  const cyclic = {}; cyclic.self = cyclic;
  await rejects(start(url, cyclic), { message: /JSON/ });
  // Nothing was started by any of these.
  assert.equal(list().filter((i) => i.state === 'running').length, 0, JSON.stringify(list()));
});

test('name_in_use and address_in_use', async () => {
  const p = await start(srv.url, { name: 'api-dup' });
  try {
    await rejects(start(srv.url, { name: 'api-dup' }), { code: 'name_in_use', field: 'name', message: /already running/ });
    const port = Number(new URL(p.url).port);
    await rejects(start(srv.url, { name: 'api-port', port }), { code: 'address_in_use', field: 'port', message: new RegExp(String(port)) });
  } finally {
    await p.stop();
  }
  // A stopped proxy's name can be used again.
  const again = await start(srv.url, { name: 'api-dup' });
  assert.equal(again.state, 'running');
  await again.stop();
});

test('stopAll stops everything and releases the ports', async () => {
  const ps = await Promise.all([1, 2, 3].map((i) => start(srv.url, { name: `api-all-${i}` })));
  await stopAll();
  for (const p of ps) {
    assert.equal(p.state, 'stopped');
    const port = Number(new URL(p.url).port);
    await new Promise((resolve, reject) => {
      const s = net.connect({ host: '127.0.0.1', port });
      s.once('connect', () => { s.destroy(); reject(new Error(`port ${port} still accepts`)); });
      s.once('error', () => resolve());
    });
  }
});
