// Events (onEvent, ProxyEvents) and Rust logs (setLogger), delivered on the JS thread.

import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';

import { ProxyEvents, onEvent, setLogLevel, setLogger, start, stopAll } from 'toolhive-embed';

import { everything, sleep } from './support.mjs';

let srv;
before(async () => { srv = await everything(); });
after(async () => { setLogger(null); await stopAll(); await srv.stop(); });

const transitions = (events, name) => events
  .filter((e) => e.proxy === name && e.type === 'state_changed')
  .map((e) => `${e.from.state}>${e.to.state}`);

async function until(cond, ms = 5000) {
  const deadline = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > deadline) throw new Error('timed out waiting');
    await sleep(10);
  }
}

test('onEvent: every state change, in order, on the JS thread, until close()', async () => {
  const seen = [];
  const sub = onEvent((e) => seen.push(e));
  const p = await start(srv.url, { name: 'ev-basic' });
  await p.stop();
  await until(() => transitions(seen, 'ev-basic').length === 4);
  assert.deepEqual(transitions(seen, 'ev-basic'), ['stopped>starting', 'starting>running', 'running>stopping', 'stopping>stopped']);
  const e = seen.find((x) => x.proxy === 'ev-basic' && x.type === 'state_changed');
  assert.deepEqual(Object.keys(e).sort(), ['from', 'proxy', 'to', 'type']);
  assert.equal(sub.closed, false);
  sub.close();
  sub.close();
  assert.equal(sub.closed, true);
  const before = seen.length;
  const q = await start(srv.url, { name: 'ev-after-close' });
  await q.stop();
  await sleep(100);
  assert.equal(seen.length, before);
});

test('ProxyEvents: on / once / off / removeAllListeners / listenerCount / eventNames', async () => {
  const em = new ProxyEvents();
  const all = [];
  const changes = [];
  const firsts = [];
  const onAll = (e) => all.push(e);
  const onChange = (e) => changes.push(e);
  em.on('event', onAll);
  em.addListener('state_changed', onChange);
  em.once('state_changed', (e) => firsts.push(e));
  em.on('authorization_required', () => assert.fail('no such event yet'));
  assert.equal(em.listenerCount('state_changed'), 2);
  assert.equal(em.listenerCount('event'), 1);
  assert.deepEqual(em.eventNames(), ['event', 'state_changed', 'authorization_required']);

  const p = await start(srv.url, { name: 'ev-emitter' });
  await until(() => transitions(changes, 'ev-emitter').length >= 2);
  assert.equal(firsts.length, 1);
  assert.equal(em.listenerCount('state_changed'), 1);
  assert.equal(em.off('state_changed', onChange), true);
  assert.equal(em.off('state_changed', onChange), false);
  em.removeAllListeners('authorization_required');
  assert.deepEqual(em.eventNames(), ['event']);
  await p.stop();
  await until(() => transitions(all, 'ev-emitter').length === 4);
  assert.equal(transitions(changes, 'ev-emitter').length, 2);
  em.removeAllListeners();
  assert.deepEqual(em.eventNames(), []);
});

test('listeners may call back into the module and add/remove listeners while dispatching', async () => {
  const em = new ProxyEvents();
  const states = [];
  const self = (e) => {
    if (e.proxy !== 'ev-reentrant') return;
    states.push(e.to.state);
    em.off('state_changed', self);
    em.on('state_changed', self); // re-added: sees the next event, not this one again
  };
  em.on('state_changed', self);
  const p = await start(srv.url, { name: 'ev-reentrant' });
  await p.stop();
  await until(() => states.length === 4);
  assert.deepEqual(states, ['starting', 'running', 'stopping', 'stopped']);
  em.removeAllListeners();
});

test('setLogger: Rust records reach JS with the proxy name, filtered by level', async () => {
  const records = [];
  setLogger((r) => records.push(r), 'info');
  const p = await start(srv.url, { name: 'log-info' });
  await p.stop();
  await until(() => records.some((r) => r.proxy === 'log-info' && r.message === 'stopped'));
  const r = records.find((x) => x.proxy === 'log-info');
  assert.ok(['info', 'warn', 'error'].includes(r.level), JSON.stringify(r));
  assert.equal(typeof r.target, 'string');
  assert.ok(records.every((x) => x.level !== 'debug'));

  // Debug shows more; error shows none of the normal lifecycle.
  records.length = 0;
  setLogLevel('debug');
  const q = await start(srv.url, { name: 'log-debug' });
  await fetch(new URL('/health', q.url));
  await q.stop();
  await until(() => records.some((x) => x.proxy === 'log-debug' && x.message === 'stopped'));
  assert.ok(records.some((x) => x.level === 'debug'), 'no debug records at level debug');

  records.length = 0;
  setLogger((x) => records.push(x), 'error');
  const s = await start(srv.url, { name: 'log-error' });
  await s.stop();
  await sleep(200);
  assert.deepEqual(records.filter((x) => x.proxy === 'log-error'), []);

  // null stops delivery.
  setLogger(null);
  const u = await start(srv.url, { name: 'log-none' });
  await u.stop();
  await sleep(100);
  assert.deepEqual(records.filter((x) => x.proxy === 'log-none'), []);
  assert.throws(() => setLogLevel('loud'));
});
