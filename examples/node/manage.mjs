// Managing proxies across processes through the per-user state directory (the one the
// `toolhive` CLI uses): one process runs a proxy, others list, follow, stop, restart or
// remove it, and a host restores what was running after a crash.
//
//   node manage.mjs run https://mcp.example.com/mcp notion   # serves until stopped
//   node manage.mjs list
//   node manage.mjs logs notion [-f]
//   node manage.mjs restart notion       # restarted by the process serving it
//   node manage.mjs stop notion          # that process then exits by itself
//   node manage.mjs rm notion            # saved config, log and secrets gone
//   node manage.mjs restore              # start what was running when its process died
import {
  configure, defaultStateDir, followLogs, list, logs, remove, restart, restore, start,
  stateErrors, stop,
} from 'toolhive-embed';

const [command, ...args] = process.argv.slice(2);
const stateDir = defaultStateDir();
if (!stateDir) {
  console.error('no home directory: no per-user state directory');
  process.exit(2);
}
configure({ stateDir });

const usage = () => {
  console.error('usage: node manage.mjs run URL [NAME] | list | logs NAME [-f] | stop NAME | restart NAME | rm NAME | restore');
  process.exit(2);
};

try {
  switch (command) {
    case 'run': {
      if (!args[0]) usage();
      const proxy = await start(args[0], { name: args[1] });
      console.log(`${proxy.name} ${proxy.url}`);
      // Serves until stopped (here, or from another process); then the process exits.
      break;
    }
    case 'list':
      for (const p of list()) {
        const state = p.stale ? `${p.state} (stale: process ${p.pid} is gone)` : p.state;
        console.log([p.name, state, p.localUrl, p.remoteUrl, p.auth?.state ?? '-', p.pid ?? '-'].join('\t'));
      }
      for (const e of stateErrors()) console.error(`unreadable state file ${e.path}: ${e.message}`);
      break;
    case 'logs':
      if (!args[0]) usage();
      for (const line of logs(args[0])) console.log(`${line.at.toISOString()} ${line.level} ${line.message}`);
      if (args[1] === '-f') {
        followLogs(args[0], (line) => console.log(`${line.at.toISOString()} ${line.level} ${line.message}`));
        // Following never keeps the process alive by itself: wait for Ctrl-C.
        const wait = setInterval(() => {}, 1 << 30);
        process.once('SIGINT', () => clearInterval(wait));
      }
      break;
    case 'stop':
      if (!args[0]) usage();
      await stop(args[0]);
      console.log(`stopped ${args[0]}`);
      break;
    case 'restart': {
      if (!args[0]) usage();
      const p = await restart(args[0]);
      console.log(`restarted ${p.name} ${p.localUrl}`);
      break;
    }
    case 'rm':
      if (!args[0]) usage();
      await remove(args[0]);
      console.log(`removed ${args[0]}`);
      break;
    case 'restore':
      for (const r of await restore()) {
        console.log(r.proxy ? `restored ${r.name} ${r.proxy.url}` : `could not restore ${r.name}: ${r.error.message}`);
      }
      break;
    default:
      usage();
  }
} catch (err) {
  console.error(`${command} failed (${err.code}): ${err.message}`);
  process.exit(1);
}
