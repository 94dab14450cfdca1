// TypeScript (checked with `tsc --strict`): typed options, events, logs, errors, a secret
// store of the host's own and the OAuth login URL shown by the host.
//
//   npx tsc -p . && node dist/typed.js https://mcp.example.com/mcp
import {
  ProxyEvents,
  configure,
  info,
  restart,
  setLogger,
  start,
  stopAll,
  type AuthorizationRequiredEvent,
  type LogRecord,
  type Proxy,
  type ProxyEvent,
  type ProxyInfo,
  type SecretStore,
  type StartOptions,
  type ToolhiveError,
} from 'toolhive-embed';
import { list } from 'toolhive-embed';

/** A host's secret storage (an IDE's would be async); here a Map. */
function mapStore(): SecretStore {
  const secrets = new Map<string, string>();
  return {
    kind: 'example',
    get: async (key) => secrets.get(key) ?? null,
    set: (key, value) => void secrets.set(key, value),
    delete: (key) => void secrets.delete(key),
    list: () => [...secrets.keys()],
  };
}

async function main(remoteUrl: string): Promise<void> {
  setLogger((record: LogRecord) => {
    if (record.level === 'warn' || record.level === 'error') {
      console.error(`[${record.level}] ${record.proxy ?? '-'} ${record.message}`);
    }
  }, 'info');

  // Before the first proxy: secrets in the host's store; the host shows login URLs itself
  // (with the default `openBrowser: 'auto'`, the 'authorization_required' listener below
  // would be enough to keep the browser closed).
  configure({ secretStore: mapStore(), openBrowser: false });

  const events = new ProxyEvents();
  events.on('state_changed', (event) => {
    console.error(`${event.proxy}: ${event.from.state} -> ${event.to.state}`);
  });
  events.on('authorization_required', (event: AuthorizationRequiredEvent) => {
    console.error(`${event.proxy}: log in at ${event.url}`);
  });
  events.on('event', (event: ProxyEvent) => {
    switch (event.type) {
      case 'auth_state_changed':
        console.error(`${event.proxy}: auth ${event.state.state}`);
        break;
      default:
        break; // state_changed, authorization_required above; kinds added later
    }
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

  // Restart comes back on the same port.
  const restarted: ProxyInfo = await restart('typed');
  console.log(`restarted on the same URL: ${restarted.localUrl === proxy.url}`);

  const infos: ProxyInfo[] = list();
  for (const i of infos) {
    console.log(`${i.name} ${i.state} pid=${i.pid ?? '-'} auth=${i.auth?.state ?? 'static'} since ${i.startedAt.toISOString()}`);
  }
  for (const line of proxy.logs()) console.log(`log ${line.level} ${line.message}`);

  await stopAll();
  events.removeAllListeners();
  setLogger(null);
  console.log(`stopped ${proxy.name} (${info('typed').state})`);
}

main(process.argv[2] ?? 'https://mcp.example.com/mcp').catch((err: unknown) => {
  console.error(err);
  process.exitCode = 1;
});
