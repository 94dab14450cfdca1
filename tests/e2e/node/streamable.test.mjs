// TypeScript SDK client (StreamableHTTPClientTransport) through `toolhive run` to server-everything.

import assert from 'node:assert/strict';
import { test } from 'node:test';

import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { ListRootsRequestSchema, LoggingMessageNotificationSchema } from '@modelcontextprotocol/sdk/types.js';

import { checkProgressStreams, checkPrompts, checkResources, checkServerInfo, checkTools, text } from './common.mjs';
import { DIRECT, MCP_HEADERS, PROXY_ONLY, harness, sleep } from './helpers.mjs';

const OPTS = { timeout: 90_000 };

async function connect(url, clientOptions = {}) {
  const client = new Client({ name: 'toolhive-e2e-ts', version: '0.0.0' }, clientOptions);
  const transport = new StreamableHTTPClientTransport(new URL(url));
  await client.connect(transport);
  return { client, transport };
}

test('streamable: initialize, tools, resources, prompts', OPTS, async (t) => {
  const h = harness(t);
  const srv = await h.everything('streamableHttp');
  const proxy = await h.proxy(srv.url);
  const { client, transport } = await connect(proxy.url);
  try {
    assert.ok(transport.sessionId, 'no Mcp-Session-Id reached the client');
    checkServerInfo(client);
    await checkTools(client);
    await checkResources(client);
    await checkPrompts(client);
    await client.ping();
  } finally {
    await transport.terminateSession().catch(() => {});
    await client.close();
  }
});

test('streamable: progress notifications are streamed while the tool runs', OPTS, async (t) => {
  const h = harness(t);
  const srv = await h.everything('streamableHttp');
  const proxy = await h.proxy(srv.url);
  const { client, transport } = await connect(proxy.url);
  try {
    await checkProgressStreams(client);
  } finally {
    await transport.terminateSession().catch(() => {});
    await client.close();
  }
});

test('streamable: server-to-client request on the GET stream (roots/list) right after initialize', OPTS, async (t) => {
  // server-everything asks a client with the roots capability for roots/list ~350 ms after
  // notifications/initialized, on the standalone GET stream; the answer goes back by POST.
  const h = harness(t);
  const srv = await h.everything('streamableHttp');
  const proxy = await h.proxy(srv.url);
  const client = new Client({ name: 'toolhive-e2e-ts', version: '0.0.0' }, { capabilities: { roots: { listChanged: true } } });
  let rootsAsked = 0;
  client.setRequestHandler(ListRootsRequestSchema, async () => {
    rootsAsked += 1;
    return { roots: [{ uri: 'file:///tmp/e2e-root', name: 'e2e' }] };
  });
  const logged = new Promise((resolve) => {
    client.setNotificationHandler(LoggingMessageNotificationSchema, (n) => {
      if (String(n.params.data).includes('Roots updated: 1 root(s)')) resolve(n);
    });
  });
  const transport = new StreamableHTTPClientTransport(new URL(proxy.url));
  await client.connect(transport);
  try {
    const timeout = sleep(10_000).then(() => { throw new Error(`no roots round trip (asked ${rootsAsked} times)`); });
    await Promise.race([logged, timeout]);
    assert.equal(rootsAsked, 1);
  } finally {
    await transport.terminateSession().catch(() => {});
    await client.close();
  }
});

test('streamable: terminateSession sends DELETE and the session is gone', OPTS, async (t) => {
  const h = harness(t);
  const srv = await h.everything('streamableHttp');
  const proxy = await h.proxy(srv.url);
  const { client, transport } = await connect(proxy.url);
  const sid = transport.sessionId;
  assert.ok(sid);
  assert.equal(text(await client.callTool({ name: 'echo', arguments: { message: 'x' } })), 'Echo: x');
  await transport.terminateSession(); // throws unless 2xx or 405
  assert.equal(transport.sessionId, undefined);
  await client.close();

  const body = JSON.stringify({ jsonrpc: '2.0', id: 5, method: 'tools/list' });
  const headers = { ...MCP_HEADERS, 'Mcp-Session-Id': sid, 'MCP-Protocol-Version': '2025-06-18' };
  const r = await fetch(proxy.url, { method: 'POST', headers, body });
  await r.body?.cancel();
  assert.ok([400, 404].includes(r.status), `ended session still answers through ${proxy.url}: HTTP ${r.status}`);
  if (!DIRECT) {
    const u = await fetch(srv.url, { method: 'POST', headers, body });
    await u.body?.cancel();
    assert.equal(u.status, 400, 'upstream still knows the session');
  }
});

test('streamable: upstream crash gives an error, restart is transparent for the same session', { ...OPTS, skip: PROXY_ONLY }, async (t) => {
  const h = harness(t);
  const srv = await h.everything('streamableHttp');
  const proxy = await h.proxy(srv.url);
  const { client, transport } = await connect(proxy.url);
  const errors = [];
  transport.onerror = (e) => errors.push(e); // GET stream reconnection noise while upstream is down
  try {
    const sid = transport.sessionId;
    assert.equal(text(await client.callTool({ name: 'echo', arguments: { message: 'before' } })), 'Echo: before');

    await srv.kill();
    await assert.rejects(
      client.callTool({ name: 'echo', arguments: { message: 'down' } }, undefined, { timeout: 15000 }),
      (e) => /502/.test(String(e?.message ?? e)) || e?.code === 502,
    );

    await srv.start();
    assert.equal(text(await client.callTool({ name: 'echo', arguments: { message: 'after' } })), 'Echo: after');
    await checkProgressStreams(client, 1.6, 4);
    assert.equal(transport.sessionId, sid, 'the client session id must not change');
  } finally {
    await transport.terminateSession().catch(() => {});
    await client.close();
  }
});

test('streamable: --stateless answers GET/HEAD/DELETE 405 itself', { ...OPTS, skip: PROXY_ONLY }, async (t) => {
  const h = harness(t);
  const srv = await h.everything('streamableHttp');
  const proxy = await h.proxy(srv.url, ['--stateless']);
  for (const method of ['GET', 'HEAD', 'DELETE']) {
    const r = await fetch(proxy.url, { method, headers: { Accept: 'text/event-stream', 'Mcp-Session-Id': 'x' } });
    await r.body?.cancel();
    assert.equal(r.status, 405, method);
    const allow = new Set((r.headers.get('allow') ?? '').split(',').map((s) => s.trim().toUpperCase()).filter(Boolean));
    assert.deepEqual([...allow].sort(), ['OPTIONS', 'POST'], `${method}: Allow ${r.headers.get('allow')}`);
  }
});
