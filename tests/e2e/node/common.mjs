// Checks shared by the streamable-HTTP and legacy-SSE TypeScript SDK tests.

import assert from 'node:assert/strict';

export const LONG_TOOL = 'trigger-long-running-operation';
export const EXPECTED_TOOLS = ['echo', 'get-sum', LONG_TOOL];

export function text(result) {
  assert.ok(!result.isError, JSON.stringify(result));
  const parts = result.content.filter((c) => c.type === 'text').map((c) => c.text);
  assert.ok(parts.length, JSON.stringify(result));
  return parts.join('\n');
}

export function checkServerInfo(client) {
  const info = client.getServerVersion();
  assert.equal(info?.name, 'mcp-servers/everything');
  const caps = client.getServerCapabilities();
  assert.ok(caps?.tools && caps?.resources && caps?.prompts, JSON.stringify(caps));
}

export async function checkTools(client) {
  const { tools } = await client.listTools();
  const names = new Set(tools.map((t) => t.name));
  for (const n of EXPECTED_TOOLS) assert.ok(names.has(n), `tools/list lacks ${n}: ${[...names]}`);
  assert.equal(text(await client.callTool({ name: 'echo', arguments: { message: 'héllo via TS SDK' } })), 'Echo: héllo via TS SDK');
  assert.equal(text(await client.callTool({ name: 'get-sum', arguments: { a: 19, b: 23 } })), 'The sum of 19 and 23 is 42.');
}

/** Progress notifications must arrive one by one while the tool runs, not in a burst at the end. */
export async function checkProgressStreams(client, duration = 2.4, steps = 4) {
  const stamps = [];
  const t0 = performance.now();
  const result = await client.callTool(
    { name: LONG_TOOL, arguments: { duration, steps } },
    undefined,
    { timeout: 30000, onprogress: (p) => stamps.push([performance.now(), p.progress, p.total]) },
  );
  const tEnd = performance.now();
  assert.match(text(result), /Long running operation completed/);
  // The TS SDK runs notification handlers in a microtask but resolves the response at once, so
  // when the last progress notification and the result arrive in one read, the last one is
  // dropped client-side (seen with server-everything directly). Accept 1..steps-1 as a prefix.
  const got = stamps.map((s) => s[1]);
  assert.ok(got.length >= steps - 1, `progress values ${got}`);
  assert.deepEqual(got, Array.from({ length: got.length }, (_, i) => i + 1));
  assert.ok(stamps.every((s) => s[2] === steps));
  const stepMs = (duration * 1000) / steps;
  const rel = stamps.map((s) => Math.round(s[0] - t0));
  assert.ok(stamps[0][0] - t0 < stepMs + 1500, `first progress notification too late: ${rel}`);
  assert.ok(tEnd - stamps[0][0] >= 0.5 * (duration * 1000 - stepMs),
    `progress was not streamed: arrivals ${rel} ms, result at ${Math.round(tEnd - t0)} ms`);
  // Spread out over the run, not one burst (loose bound: CI machines are busy).
  const span = stamps[stamps.length - 1][0] - stamps[0][0];
  assert.ok(span >= 0.5 * stepMs * (stamps.length - 1), `progress arrived in a burst: ${rel}`);
}

export async function checkResources(client) {
  const { resources } = await client.listResources();
  const statics = resources.map((r) => r.uri).filter((u) => u.startsWith('demo://resource/static/document/'));
  assert.ok(statics.length, `no static documents in ${resources.map((r) => r.uri)}`);
  const uri = statics.find((u) => u.endsWith('instructions.md')) ?? statics[0];
  const read = await client.readResource({ uri });
  assert.equal(read.contents[0].uri, uri);
  assert.ok(read.contents[0].text?.length > 0);
  const { resourceTemplates } = await client.listResourceTemplates();
  assert.ok(resourceTemplates.some((t) => t.uriTemplate.includes('demo://resource/dynamic/text/')));
  const dyn = await client.readResource({ uri: 'demo://resource/dynamic/text/3' });
  assert.match(dyn.contents[0].text, /^Resource 3:/);
}

export async function checkPrompts(client) {
  const { prompts } = await client.listPrompts();
  const names = new Set(prompts.map((p) => p.name));
  assert.ok(names.has('simple-prompt') && names.has('args-prompt'), [...names].join(','));
  const simple = await client.getPrompt({ name: 'simple-prompt' });
  assert.equal(simple.messages[0].content.text, 'This is a simple prompt without arguments.');
  const args = await client.getPrompt({ name: 'args-prompt', arguments: { city: 'Kyoto' } });
  assert.equal(args.messages[0].content.text, "What's weather in Kyoto?");
}
