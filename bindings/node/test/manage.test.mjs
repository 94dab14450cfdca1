// Managing proxies (issue 6): configure() with a state directory and a secret store
// implemented in JS, restart on the same port, remove (saved config and secrets gone),
// restore after a crash, corrupt state files reported, logs and followLogs, the secret
// operations, and a protected upstream reached with a token from the JS store.

import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before, test } from 'node:test';

import {
  configure, defaultStateDir, deleteSecret, followLogs, get, getSecret, info, list, listSecrets,
  logs, remove, restart, restore, setSecret, start, stateErrors, stop, stopAll,
} from 'toolhive-embed';

import { jsStore, protectedUpstream, rpc, until } from './rigs.mjs';
import { FIXTURES, describe, runNode } from './support.mjs';

const TOKEN = 'tok-5ecret-value';
const OPTS = { timeout: 60_000 };
const dirs = [];
const tmpDir = () => {
  const d = fs.mkdtempSync(path.join(os.tmpdir(), 'toolhive-node-'));
  dirs.push(d);
  return d;
};

let up;
before(async () => { up = await protectedUpstream(TOKEN); });
after(async () => {
  await stopAll();
  await up.close();
  for (const d of dirs) fs.rmSync(d, { recursive: true, force: true });
});

/** Reject/throw with `code` (and `field`, message RegExp). */
function failsWith(code, { field, message } = {}) {
  return (err) => {
    assert.ok(err instanceof Error, `not an Error: ${err}`);
    assert.equal(err.code, code, err.message);
    if (field !== undefined) assert.equal(err.field, field, err.message);
    if (message) assert.match(err.message, message);
    assert.ok(!err.message.includes(TOKEN), `token in the message: ${err.message}`);
    return true;
  };
}

test('configure: options checked, and refused while a proxy runs', async () => {
  assert.throws(() => configure({ stateDr: '/tmp/x' }), failsWith('invalid_config', { field: 'stateDr', message: /unknown option.*`stateDir`/ }));
  assert.throws(() => configure({ stateDir: 5 }), failsWith('invalid_config', { field: 'stateDir', message: /not a number/ }));
  assert.throws(() => configure({ secretStore: 'file' }), failsWith('invalid_config', { field: 'secretStore', message: /stateDir/ }));
  assert.throws(() => configure({ secretStore: 'vault' }), failsWith('invalid_config', { field: 'secretStore', message: /`vault`/ }));
  assert.throws(() => configure({ secretStore: { get() {}, set() {}, delete() {} } }), failsWith('invalid_config', { field: 'secretStore.list', message: /must be a function/ }));
  assert.throws(() => configure({ openBrowser: 'sometimes' }), failsWith('invalid_config', { field: 'openBrowser' }));
  const blocked = path.join(tmpDir(), 'file');
  fs.writeFileSync(blocked, '');
  assert.throws(() => configure({ stateDir: path.join(blocked, 'sub') }), failsWith('state', { field: 'stateDir', message: /cannot create the state directory/ }));
  assert.ok(defaultStateDir() === null || defaultStateDir().endsWith('toolhive-embed'));

  configure({ secretStore: 'memory' });
  const p = await start(up.url, { name: 'm-busy', bearerToken: { value: TOKEN } });
  assert.throws(() => configure({ stateDir: tmpDir() }), failsWith('state', { message: /before proxies start.*m-busy/ }));
  await p.stop();
  configure({}); // fine once it is stopped; the stopped proxy is forgotten
  assert.equal(get('m-busy'), null);
});

test('a JS secret store serves bearerToken: { secret } to a protected upstream', OPTS, async () => {
  const store = jsStore({ 'team-token': TOKEN });
  configure({ secretStore: store });
  const p = await start(up.url, { name: 'm-secret', bearerToken: { secret: 'team-token' } });
  assert.deepEqual(store.calls[0], ['get', 'team-token']);
  const r = await rpc(p.url);
  assert.equal(r.status, 200, await r.text());
  assert.equal(up.seen.at(-1), `Bearer ${TOKEN}`);
  // Never in what the binding shows.
  assert.ok(!JSON.stringify([list(), p.logs(), p.toJSON()]).includes(TOKEN));
  await p.stop();

  // Without a token the upstream refuses, and start says which option supplies one.
  await assert.rejects(start(up.url, { name: 'm-none' }), failsWith('auth_required', { field: 'bearerToken', message: /bearerToken/ }));
  // A name the store does not have.
  await assert.rejects(start(up.url, { name: 'm-missing', bearerToken: { secret: 'nope' } }),
    failsWith('secret', { message: /`nope`.*test-store/ }));
  // The store failing: a `secret` error naming the store, the operation and the key.
  store.fail.get = 'keychain locked';
  await assert.rejects(start(up.url, { name: 'm-broken', bearerToken: { secret: 'team-token' } }),
    failsWith('secret', { message: /test-store secret store: get `team-token` failed: keychain locked/ }));
  store.fail.get = undefined;

  // The secret operations go to the configured store.
  await setSecret('other/key', 'v1');
  assert.equal(store.map.get('other/key'), 'v1');
  assert.equal(await getSecret('other/key'), 'v1');
  assert.equal(await getSecret('absent'), null);
  assert.deepEqual(await listSecrets(), ['other/key', 'team-token']);
  await deleteSecret('other/key');
  assert.deepEqual(await listSecrets(), ['team-token']);
  await assert.rejects(setSecret('bad name', 'x'), failsWith('invalid_config', { field: 'name' }));
  await assert.rejects(setSecret('ok', ''), failsWith('invalid_config', { field: 'value' }));
  store.fail.set = 'read-only';
  await assert.rejects(setSecret('k', 'v'), failsWith('secret', { message: /set `k` failed: read-only/ }));
  // The store only ever saw keys in its calls' records; values went to `set` only.
  assert.ok(store.calls.every((c) => !c.includes(TOKEN)));
});

test('restart keeps the port; remove deletes the saved config and the secrets', OPTS, async () => {
  const dir = tmpDir();
  const store = jsStore();
  configure({ stateDir: dir, secretStore: store, openBrowser: false });
  const p = await start(up.url, { name: 'm-restart', bearerToken: { value: TOKEN } });
  // The token went to the store under the proxy's key; the saved config only refers to it.
  assert.equal(store.map.get('proxy/m-restart/bearer_token'), TOKEN);
  const saved = path.join(dir, 'proxies', 'm-restart.json');
  assert.ok(fs.existsSync(saved));
  assert.ok(!fs.readFileSync(saved, 'utf8').includes(TOKEN));
  const listed = info('m-restart');
  assert.equal(listed.pid, process.pid);
  assert.equal(listed.stale, false);
  assert.equal(listed.auth, undefined); // static credentials

  const restarted = await restart('m-restart');
  assert.equal(restarted.localUrl, p.url);
  assert.equal(restarted.state, 'running');
  assert.equal(p.state, 'stopped'); // the old handle
  const again = get('m-restart');
  assert.equal(again.url, p.url);
  assert.equal(again.state, 'running');
  const r = await rpc(again.url);
  assert.equal(r.status, 200, await r.text()); // the token came back from the store
  assert.ok(logs('m-restart').some((l) => l.message.includes(p.url)));

  await stop('m-restart');
  assert.equal(again.state, 'stopped');
  assert.equal(info('m-restart').state, 'stopped'); // the saved config is kept
  const stopped = await restart('m-restart');
  assert.equal(stopped.localUrl, p.url);

  await remove('m-restart');
  assert.ok(!fs.existsSync(saved));
  assert.ok(!fs.existsSync(path.join(dir, 'logs', 'm-restart.log')));
  assert.deepEqual([...store.map.keys()].filter((k) => k.startsWith('proxy/m-restart/')), []);
  assert.equal(get('m-restart'), null);
  assert.ok(!list().some((i) => i.name === 'm-restart'));
  assert.throws(() => info('m-restart'), failsWith('not_found', { message: /`m-restart`/ }));
  await assert.rejects(remove('m-restart'), failsWith('not_found'));
  await assert.rejects(restart('m-restart'), failsWith('not_found'));
  await assert.rejects(stop('no_such_proxy'), failsWith('not_found', { message: /`no_such_proxy`/ }));
});

test('followLogs delivers new lines until close(); logs(name)', OPTS, async () => {
  configure({ secretStore: 'memory' });
  const p = await start(up.url, { name: 'm-follow', bearerToken: { value: TOKEN } });
  const lines = [];
  const follower = followLogs('m-follow', (line) => lines.push(line));
  assert.equal(follower.closed, false);
  await p.stop(); // logs "stopped"
  await until(() => lines.some((l) => l.message === 'stopped'), 5000, 'the stopped line');
  const line = lines.find((l) => l.message === 'stopped');
  assert.equal(line.level, 'info');
  assert.ok(line.at instanceof Date);
  follower.close();
  follower.close();
  assert.equal(follower.closed, true);
  assert.ok(logs('m-follow').some((l) => l.message === 'stopped'));
  assert.throws(() => followLogs('nope', () => {}), failsWith('not_found'));
  assert.throws(() => logs('nope'), failsWith('not_found'));
});

test('restore after a crash; a corrupt state file is reported and the others still load', OPTS, async () => {
  const dir = tmpDir();
  // A process serves a proxy from the state directory and is killed.
  const child = spawn(process.execPath, [path.join(FIXTURES, 'crash-child.mjs'), dir, up.url, TOKEN], { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  let err = '';
  child.stdout.setEncoding('utf8').on('data', (d) => { out += d; });
  child.stderr.setEncoding('utf8').on('data', (d) => { err += d; });
  const exited = new Promise((r) => child.on('exit', r));
  await until(() => out.includes('\n'), 20_000, `the child's URL (stderr: ${err})`);
  const crashed = JSON.parse(out);
  child.kill('SIGKILL');
  await exited;

  configure({ stateDir: dir });
  const stale = info('m-crash');
  assert.equal(stale.state, 'running');
  assert.equal(stale.stale, true);
  assert.equal(stale.pid, crashed.pid);
  assert.equal(get('m-crash'), null);

  // Corrupt and future-version state files next to it.
  const broken = path.join(dir, 'proxies', 'broken.json');
  const future = path.join(dir, 'proxies', 'future.json');
  fs.writeFileSync(broken, '{"schema_version": 1, "config": ');
  const futureText = JSON.stringify({ schema_version: 99, config: {}, status: {} });
  fs.writeFileSync(future, futureText);

  const results = await restore();
  assert.deepEqual(results.map((r) => r.name), ['m-crash']);
  assert.equal(results[0].error, undefined);
  const proxy = results[0].proxy;
  assert.equal(proxy.url, crashed.url); // the same port
  assert.equal(proxy.state, 'running');
  const r = await rpc(proxy.url);
  assert.equal(r.status, 200, await r.text()); // its token, from the file store
  const now = info('m-crash');
  assert.equal(now.stale, false);
  assert.equal(now.pid, process.pid);

  const errors = stateErrors();
  assert.deepEqual(errors.map((e) => path.basename(e.path)).sort(), ['broken.json', 'future.json']);
  assert.ok(errors.every((e) => e.message.length > 0), JSON.stringify(errors));
  assert.match(errors.find((e) => e.path.endsWith('future.json')).message, /99|newer|version/);
  assert.deepEqual(list().map((i) => i.name), ['m-crash']); // the others still load
  assert.deepEqual(await restore(), []); // nothing left to restore; the bad files are skipped
  assert.equal(fs.readFileSync(future, 'utf8'), futureText); // never overwritten
  assert.throws(() => configure({ stateDir: dir }), failsWith('state', { message: /m-crash/ }));
  await proxy.stop();
});

test('a JS secret store and a log follower never keep the process alive', OPTS, async () => {
  const r = await runNode(path.join(FIXTURES, 'store-exits.mjs'), [], { timeoutMs: 20_000 });
  assert.equal(r.code, 0, describe(r));
  assert.match(r.stdout, /exit lines=\d/, describe(r));
});

test('one state directory per process: a worker cannot configure the main thread\'s', OPTS, async () => {
  const { Worker } = await import('node:worker_threads');
  const dir = tmpDir();
  configure({ stateDir: dir });
  configure({ stateDir: dir }); // the same thread again is fine
  const code = `
    const { parentPort, workerData } = require('node:worker_threads');
    const { configure } = require('toolhive-embed');
    const out = [];
    try { configure({ stateDir: workerData.dir }); out.push('configured'); } catch (e) { out.push(e.code + ' ' + e.field + ' ' + e.message); }
    configure({ stateDir: workerData.own });
    out.push('own ok');
    parentPort.postMessage(out);`;
  const own = tmpDir();
  const worker = new Worker(code, { eval: true, workerData: { dir, own } });
  const [out] = await Promise.all([new Promise((r) => worker.once('message', r)), new Promise((r) => worker.once('exit', r))]);
  assert.match(out[0], /^invalid_config stateDir stateDir: .* is used by another thread of this process/, out.join('\n'));
  assert.equal(out[1], 'own ok');
  // The worker's claim ended with it: the main thread may use that directory now.
  configure({ stateDir: own });
  configure({});
});
