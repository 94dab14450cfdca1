// TypeScript (checked with `tsc --strict`): typed options, events, logs and errors.
//
//   npx tsc -p . && node dist/typed.js https://mcp.example.com/mcp
import {
  ProxyEvents,
  setLogger,
  start,
  stopAll,
  type LogRecord,
  type Proxy,
  type ProxyEvent,
  type ProxyInfo,
  type StartOptions,
  type ToolhiveError,
} from 'toolhive-embed';
import { list } from 'toolhive-embed';

async function main(remoteUrl: string): Promise<void> {
  setLogger((record: LogRecord) => {
    if (record.level === 'warn' || record.level === 'error') {
      console.error(`[${record.level}] ${record.proxy ?? '-'} ${record.message}`);
    }
  }, 'info');

  const events = new ProxyEvents();
  events.on('state_changed', (event: ProxyEvent) => {
    console.error(`${event.proxy}: ${event.from?.state} -> ${event.to?.state}`);
  });

  const options: StartOptions = { name: 'typed', stateless: false, healthCheck: { intervalMs: 30_000 } };
  const proxy: Proxy = await start(remoteUrl, options);
  console.log(`${proxy.name} ${proxy.state} ${proxy.url}`);

  // Invalid options reject with a code (core's error kind) and the field as written here.
  try {
    await start(remoteUrl, { port: 'eighty' });
  } catch (err) {
    const e = err as ToolhiveError;
    if (e.code === 'invalid_config') console.log(`rejected: code=${e.code} field=${e.field}`);
  }

  const infos: ProxyInfo[] = list();
  for (const info of infos) console.log(`${info.name} ${info.state} since ${info.startedAt.toISOString()}`);
  for (const line of proxy.logs()) console.log(`log ${line.level} ${line.message}`);

  await stopAll();
  events.removeAllListeners();
  setLogger(null);
  console.log(`stopped ${proxy.name} (${proxy.state})`);
}

main(process.argv[2] ?? 'https://mcp.example.com/mcp').catch((err: unknown) => {
  console.error(err);
  process.exitCode = 1;
});
