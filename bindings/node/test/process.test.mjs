// Process lifecycle, in child processes: a process whose proxies are all stopped exits by
// itself; running proxies keep it alive (unless unref'd); a process that exits or crashes
// with busy proxies neither crashes nor hangs; workers; throwing listeners.

import assert from 'node:assert/strict';
import path from 'node:path';
import { after, before, test } from 'node:test';

import { FIXTURES, describe, everything, runNode } from './support.mjs';

const OPTS = { timeout: 60_000 };
const fixture = (name) => path.join(FIXTURES, name);
const CRASH = /panicked|Segmentation|SIGSEGV|SIGABRT|core dumped|FATAL|Assertion/i;

let srv;
before(async () => { srv = await everything(); });
after(() => srv.stop());

test('CommonJS: all proxies stopped -> the process exits by itself, promptly', OPTS, async () => {
  const r = await runNode(fixture('exits-when-stopped.cjs'), [srv.url]);
  assert.equal(r.code, 0, describe(r));
  const done = Number(/done (\d+)/.exec(r.stdout)?.[1]);
  assert.ok(done, describe(r));
  assert.ok(Date.now() - done < 10_000);
  // Every event (3 proxies x 4 transitions) was delivered before the exit.
  assert.match(r.stdout, /exit events=12\b/, describe(r));
  assert.doesNotMatch(r.stderr, CRASH, describe(r));
});

test('running proxies keep the process alive', OPTS, async () => {
  // Once the fixture says 'ready' it has nothing left to do but its proxies run: it must
  // still be alive 1.5 s later (then it is killed).
  let armed = false;
  let aliveAfterReady = null;
  const r = await runNode(fixture('running.mjs'), [srv.url, 'stays'], {
    timeoutMs: 30_000,
    onStdout: (out, child) => {
      if (armed || !out.includes('ready')) return;
      armed = true;
      setTimeout(() => { aliveAfterReady = child.exitCode === null && child.signalCode === null; child.kill('SIGKILL'); }, 1500);
    },
  });
  assert.equal(aliveAfterReady, true, `exited although proxies were running: ${describe(r)}`);
});

test('unref(): idle running proxies let the process exit', OPTS, async () => {
  const r = await runNode(fixture('unref.mjs'), [srv.url], { timeoutMs: 10_000 });
  assert.equal(r.code, 0, describe(r));
  assert.match(r.stdout, /ready running running/);
});

test('process.exit() with busy proxies: exit code 0, no crash, no hang (x3)', OPTS, async () => {
  for (let i = 0; i < 3; i++) {
    const r = await runNode(fixture('running.mjs'), [srv.url, 'exit'], { timeoutMs: 15_000 });
    assert.equal(r.code, 0, describe(r));
    assert.equal(r.signal, null, describe(r));
    assert.doesNotMatch(r.stderr, CRASH, describe(r));
  }
});

test('an uncaught exception with busy proxies: exit code 1, no hang', OPTS, async () => {
  const r = await runNode(fixture('running.mjs'), [srv.url, 'throw'], { timeoutMs: 15_000 });
  assert.equal(r.code, 1, describe(r));
  assert.match(r.stderr, /boom from the fixture/);
  assert.doesNotMatch(r.stderr, CRASH, describe(r));
});

test('a throwing listener is an uncaught exception; handled, the others still run', OPTS, async () => {
  const handled = await runNode(fixture('listener-throws.mjs'), [srv.url, 'handled']);
  assert.equal(handled.code, 0, describe(handled));
  const out = JSON.parse(handled.stdout.trim().split('\n').pop());
  assert.deepEqual(out.errors, ['listener boom throws']);
  assert.equal(out.others, 4);
  const unhandled = await runNode(fixture('listener-throws.mjs'), [srv.url, 'unhandled']);
  assert.equal(unhandled.code, 1, describe(unhandled));
  assert.match(unhandled.stderr, /listener boom throws/);
});

test('worker threads: a worker has its own proxies, stopped when it ends', OPTS, async () => {
  const r = await runNode(fixture('worker.mjs'), [srv.url], { timeoutMs: 20_000 });
  assert.equal(r.code, 0, describe(r));
  const out = JSON.parse(r.stdout.trim().split('\n').pop());
  assert.deepEqual(out, { workerHealth: 200, workerExit: 0, closed: true, names: ['main-proxy'], mainHealth: 200 });
  assert.doesNotMatch(r.stderr, CRASH, describe(r));
});
