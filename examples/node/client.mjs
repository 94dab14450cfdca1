// ESM: put proxies in front of remote MCP servers and talk to them with the official MCP
// TypeScript SDK client through the local URLs.
//
//   node client.mjs https://mcp.example.com/mcp [https://other.example.com/sse ...]
//
// URLs ending in /sse use the legacy HTTP+SSE transport.
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { SSEClientTransport } from '@modelcontextprotocol/sdk/client/sse.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { list, start, stopAll } from 'toolhive-embed';

const remotes = process.argv.slice(2);
if (remotes.length === 0) {
  console.error('usage: node client.mjs <remote MCP URL>...');
  process.exit(2);
}

try {
  const proxies = await Promise.all(remotes.map((url, i) =>
    start(url, { name: `remote-${i}`, transport: url.endsWith('/sse') ? 'sse' : 'streamable-http' })));
  console.table(list().map(({ name, localUrl, remoteUrl, state }) => ({ name, localUrl, remoteUrl, state })));

  for (const proxy of proxies) {
    const client = new Client({ name: 'toolhive-embed-example', version: '0.0.0' });
    const url = new URL(proxy.url);
    await client.connect(proxy.transport === 'sse' ? new SSEClientTransport(url) : new StreamableHTTPClientTransport(url));
    const { tools } = await client.listTools();
    console.log(`${proxy.name}: ${tools.length} tools: ${tools.map((t) => t.name).join(', ')}`);
    await client.close();
  }
} finally {
  await stopAll(); // with every proxy stopped, the process exits by itself
}
