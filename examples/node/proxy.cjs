// CommonJS: a proxy in front of one remote MCP server until Ctrl-C.
//
//   node proxy.cjs https://mcp.example.com/mcp [name]
//
// Prints the local MCP URL (give it to any MCP client), state changes on stderr, and
// "stopped <name>" after Ctrl-C. Once the proxy is stopped nothing holds the event loop, so
// the process ends by itself.
const { onEvent, start } = require('toolhive-embed');

async function main() {
  const [remoteUrl, name] = process.argv.slice(2);
  if (!remoteUrl) {
    console.error('usage: node proxy.cjs <remote MCP URL> [name]');
    process.exit(2);
  }
  onEvent((e) => {
    if (e.type === 'state_changed') console.error(`${e.proxy}: ${e.from.state} -> ${e.to.state}`);
  });
  let proxy;
  try {
    proxy = await start(remoteUrl, { name });
  } catch (err) {
    console.error(`cannot start (${err.code}): ${err.message}`);
    process.exit(1);
  }
  console.log(proxy.url);
  process.once('SIGINT', async () => {
    await proxy.stop();
    console.log(`stopped ${proxy.name}`);
  });
}

main();
