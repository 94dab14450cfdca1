// End to end: the official MCP TypeScript SDK client -> a proxy started from Node -> the real
// @modelcontextprotocol/server-everything, over streamable HTTP and legacy SSE.

import assert from 'node:assert/strict';
import net from 'node:net';
import { after, before, test } from 'node:test';

import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { SSEClientTransport } from '@modelcontextprotocol/sdk/client/sse.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { list, start, stopAll } from 'toolhive-embed';

// The checks the e2e suite runs against the `toolhive` binary, reused as they are.
import { checkProgressStreams, checkPrompts, checkResources, checkServerInfo, checkTools } from '../../../tests/e2e/node/common.mjs';
import { everything } from './support.mjs';

const OPTS = { timeout: 90_000 };
let streamable;
let sse;
before(async () => { [streamable, sse] = await Promise.all([everything('streamableHttp'), everything('sse')]); });
after(async () => { await stopAll(); await Promise.all([streamable.stop(), sse.stop()]); });

async function withClient(transport, fn) {
  const client = new Client({ name: 'toolhive-embed-node-test', version: '0.0.0' });
  await client.connect(transport);
  try {
    await fn(client, transport);
  } finally {
    if (transport.terminateSession) await transport.terminateSession().catch(() => {});
    await client.close();
  }
}

test('streamable HTTP: initialize, tools, resources, prompts, progress', OPTS, async () => {
  const proxy = await start(streamable.url, { name: 'e2e-streamable' });
  await withClient(new StreamableHTTPClientTransport(new URL(proxy.url)), async (client, transport) => {
    assert.ok(transport.sessionId, 'no Mcp-Session-Id reached the client');
    checkServerInfo(client);
    await checkTools(client);
    await checkResources(client);
    await checkPrompts(client);
    await checkProgressStreams(client);
  });
  await proxy.stop();
});

test('legacy SSE: initialize, tools, progress', OPTS, async () => {
  const proxy = await start(sse.url, { name: 'e2e-sse', transport: 'sse' });
  // The SDK refuses an endpoint event of another origin: connecting proves the rewrite.
  await withClient(new SSEClientTransport(new URL(proxy.url)), async (client) => {
    checkServerInfo(client);
    await checkTools(client);
    await checkProgressStreams(client);
  });
  await proxy.stop();
});

test('50 proxies started and stopped concurrently, each serving a client', OPTS, async () => {
  const N = 50;
  const proxies = await Promise.all(
    Array.from({ length: N }, (_, i) => start(streamable.url, { name: `many-${i}` })),
  );
  assert.equal(new Set(proxies.map((p) => p.url)).size, N);
  assert.equal(list().filter((i) => i.name.startsWith('many-') && i.state === 'running').length, N);
  // Every one of them proxies a real MCP exchange.
  await Promise.all(proxies.map(async (p, i) => {
    await withClient(new StreamableHTTPClientTransport(new URL(p.url)), async (client) => {
      const r = await client.callTool({ name: 'echo', arguments: { message: `hello ${i}` } });
      assert.equal(r.content[0].text, `Echo: hello ${i}`);
    });
  }));
  await Promise.all(proxies.map((p) => p.stop()));
  assert.ok(proxies.every((p) => p.state === 'stopped'));
  // Every port is released.
  await Promise.all(proxies.map((p) => new Promise((resolve, reject) => {
    const s = net.connect({ host: '127.0.0.1', port: Number(new URL(p.url).port) });
    s.once('connect', () => { s.destroy(); reject(new Error(`${p.url} still accepts`)); });
    s.once('error', () => resolve());
  })));
});
