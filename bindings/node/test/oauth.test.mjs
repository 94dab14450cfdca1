// OAuth for Node hosts (issue 7): the `authorization_required` event with the login URL, 503 +
// Retry-After while nobody logged in, auth state in events, `proxy.authState` and `list()`,
// tokens kept in a JS secret store and removed with the proxy; and who opens the browser
// (configure({ openBrowser }), listeners, oauth.skipBrowser) with a fake `xdg-open`.

import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before, test } from 'node:test';

import { ProxyEvents, configure, info, remove, start, stopAll } from 'toolhive-embed';

import { jsStore, oauthRig, rpc, until } from './rigs.mjs';
import { FIXTURES, describe, runNode } from './support.mjs';

const OPTS = { timeout: 60_000 };

let rig;
let tmp;
before(async () => {
  rig = await oauthRig();
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'toolhive-node-oauth-'));
});
after(async () => {
  await stopAll();
  await rig.close();
  fs.rmSync(tmp, { recursive: true, force: true });
});

test('authorization_required reaches the listener; 503 + Retry-After until the login; tokens in the JS store', OPTS, async () => {
  const store = jsStore();
  configure({ secretStore: store, openBrowser: false });
  const events = new ProxyEvents();
  const required = [];
  const states = [];
  events.on('authorization_required', (e) => required.push(e));
  events.on('auth_state_changed', (e) => states.push(e));

  const proxy = await start(rig.url, { name: 'o-login' });
  const event = await until(() => required[0], 10_000, 'authorization_required');
  assert.equal(event.proxy, 'o-login');
  assert.equal(event.type, 'authorization_required');
  const url = new URL(event.url);
  assert.equal(url.origin + url.pathname, `${rig.asOrigin}/authorize`);
  assert.equal(url.searchParams.get('code_challenge_method'), 'S256');
  assert.equal(url.searchParams.get('client_id'), 'client-1');

  // Nobody logged in yet: MCP clients are told to come back, not 401.
  const waiting = await rpc(proxy.url);
  assert.equal(waiting.status, 503, await waiting.text());
  assert.ok(Number(waiting.headers.get('retry-after')) >= 1, `Retry-After: ${waiting.headers.get('retry-after')}`);
  assert.deepEqual(proxy.authState, { state: 'authorizing' });
  assert.equal(info('o-login').auth.state, 'authorizing');
  assert.ok(states.some((e) => e.proxy === 'o-login' && e.state.state === 'authorizing'), JSON.stringify(states));

  // The host shows the URL; here the "user" approves at once (the AS redirects to the callback).
  const callback = await fetch(event.url);
  assert.equal(callback.status, 200, await callback.text());
  await until(() => proxy.authState?.state === 'authenticated', 10_000, 'authenticated');
  assert.ok(proxy.authState.expiresAt instanceof Date && proxy.authState.expiresAt > new Date());
  const authenticated = await until(() => states.find((e) => e.state.state === 'authenticated'), 5000, 'the event');
  assert.ok(authenticated.state.expiresAt instanceof Date);
  assert.equal(info('o-login').auth.state, 'authenticated');

  const served = await rpc(proxy.url);
  assert.equal(served.status, 200);
  assert.equal((await served.json()).result.token, 'at-1');

  // Tokens and the client registration live in the host's store under the proxy's keys...
  const keys = () => [...store.map.keys()].filter((k) => k.startsWith('proxy/o-login/')).sort();
  assert.deepEqual(keys(), ['proxy/o-login/oauth_client', 'proxy/o-login/oauth_token']);
  assert.ok(store.map.get('proxy/o-login/oauth_token').includes('at-1'));
  // ...and go with it.
  await remove('o-login');
  assert.deepEqual(keys(), []);
  events.removeAllListeners();
});

test('who opens the browser: openBrowser auto/true/false, listeners, oauth.skipBrowser', { ...OPTS, skip: process.platform !== 'linux' && 'a fake xdg-open needs Linux' }, async () => {
  // A fake `xdg-open` first on PATH records the URL it is given.
  const bin = path.join(tmp, 'bin');
  fs.mkdirSync(bin);
  fs.writeFileSync(path.join(bin, 'xdg-open'), '#!/bin/sh\nprintf "%s\\n" "$1" > "$MARKER"\n', { mode: 0o755 });
  const run = async (mode, listen) => {
    const marker = path.join(tmp, `opened-${mode}-${listen}`);
    const r = await runNode(path.join(FIXTURES, 'oauth-browser.mjs'), [mode, listen], {
      timeoutMs: 30_000,
      env: { PATH: `${bin}${path.delimiter}${process.env.PATH}`, MARKER: marker },
    });
    assert.equal(r.code, 0, describe(r));
    const { url, opened } = JSON.parse(r.stdout.trim().split('\n').at(-1));
    return { url, opened, r };
  };
  const cases = [
    // [openBrowser, listeners, browser opened?]
    ['auto', 'none', true], // nobody handles it (a catch-all onEvent does not count)
    ['auto', 'listen', false], // the host shows the URL
    ['auto', 'skip', false], // the proxy's config says no browser
    ['true', 'listen', true], // always, listeners or not
    ['false', 'none', false], // never
  ];
  const results = await Promise.all(cases.map(([mode, listen]) => run(mode, listen)));
  cases.forEach(([mode, listen, opens], i) => {
    const { url, opened, r } = results[i];
    assert.equal(opened, opens ? url : null, `openBrowser=${mode} ${listen}\n${describe(r)}`);
  });
});
