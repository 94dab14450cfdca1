// TypeScript SDK client (legacy SSEClientTransport) through `toolhive run --transport sse`.

import assert from 'node:assert/strict';
import { test } from 'node:test';

import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { SSEClientTransport } from '@modelcontextprotocol/sdk/client/sse.js';

import { checkProgressStreams, checkPrompts, checkResources, checkServerInfo, checkTools } from './common.mjs';
import { PROXY_ONLY, harness } from './helpers.mjs';

const OPTS = { timeout: 90_000 };

async function setup(t) {
  const h = harness(t);
  const srv = await h.everything('sse');
  const proxy = await h.proxy(srv.url, ['--transport', 'sse']);
  assert.match(proxy.url, /\/sse$/);
  const client = new Client({ name: 'toolhive-e2e-ts-sse', version: '0.0.0' });
  // The SDK refuses an `endpoint` event whose origin differs from the SSE URL's origin, so a
  // connection through the proxy proves that the endpoint points at the proxy.
  const transport = new SSEClientTransport(new URL(proxy.url));
  await client.connect(transport);
  return { srv, proxy, client, transport };
}

test('sse: initialize, tools, resources, prompts', OPTS, async (t) => {
  const { client } = await setup(t);
  try {
    checkServerInfo(client);
    await checkTools(client);
    await checkResources(client);
    await checkPrompts(client);
  } finally {
    await client.close();
  }
});

test('sse: progress notifications are streamed while the tool runs', OPTS, async (t) => {
  const { client } = await setup(t);
  try {
    await checkProgressStreams(client);
  } finally {
    await client.close();
  }
});

test('sse: endpoint event is rewritten to the proxy origin', OPTS, async (t) => {
  const h = harness(t);
  const srv = await h.everything('sse');
  const proxy = await h.proxy(srv.url, ['--transport', 'sse']);
  const ac = new AbortController();
  const r = await fetch(proxy.url, { headers: { Accept: 'text/event-stream' }, signal: ac.signal });
  assert.equal(r.status, 200);
  assert.match(r.headers.get('content-type') ?? '', /^text\/event-stream/);
  const reader = r.body.getReader();
  const dec = new TextDecoder();
  let buf = '';
  const deadline = Date.now() + 10_000;
  while (!/\r?\n\r?\n/.test(buf) && Date.now() < deadline) {
    const { value, done } = await reader.read();
    if (done) break;
    buf += dec.decode(value, { stream: true });
  }
  ac.abort();
  const block = buf.split(/\r?\n\r?\n/)[0];
  assert.match(block, /^event: ?endpoint$/m, block);
  const data = block.split(/\r?\n/).filter((l) => l.startsWith('data:')).map((l) => l.replace(/^data: ?/, '')).join('\n');
  const endpoint = new URL(data, proxy.url);
  assert.equal(endpoint.origin, new URL(proxy.url).origin, `endpoint ${data}`);
  assert.ok(endpoint.searchParams.get('sessionId'), `endpoint ${data}`);
});

test('sse: foreign Origin is refused', { ...OPTS, skip: PROXY_ONLY }, async (t) => {
  const h = harness(t);
  const srv = await h.everything('sse');
  const proxy = await h.proxy(srv.url, ['--transport', 'sse']);
  const r = await fetch(proxy.url, { headers: { Accept: 'text/event-stream', Origin: 'http://evil.example.com' } });
  await r.body?.cancel();
  assert.equal(r.status, 403);
});
