// examples/node: the CommonJS proxy (Ctrl-C stops it), the ESM SDK client, and the TypeScript
// example (type-checked by test.sh with `tsc --strict --noEmit`; transpiled and run here).
// Needs `npm ci` in examples/node (test.sh does it).

import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import { createRequire } from 'node:module';
import path from 'node:path';
import { after, before, test } from 'node:test';

import { HERE, describe, everything, runNode } from './support.mjs';

const EXAMPLES = path.resolve(HERE, '..', '..', '..', 'examples', 'node');
const OPTS = { timeout: 90_000 };

let streamable;
let sse;
before(async () => {
  assert.ok(fs.existsSync(path.join(EXAMPLES, 'node_modules', 'toolhive-embed')),
    `run 'npm ci' in ${EXAMPLES} first (bindings/node/test.sh does)`);
  [streamable, sse] = await Promise.all([everything('streamableHttp'), everything('sse')]);
});
after(async () => { await Promise.all([streamable?.stop(), sse?.stop()]); });

test('proxy.cjs prints the local URL, serves, and stops on Ctrl-C', OPTS, async () => {
  const child = spawn(process.execPath, ['proxy.cjs', streamable.url, 'example'], { cwd: EXAMPLES });
  let stdout = '';
  let stderr = '';
  child.stdout.setEncoding('utf8').on('data', (d) => { stdout += d; });
  child.stderr.setEncoding('utf8').on('data', (d) => { stderr += d; });
  const exited = new Promise((resolve) => child.on('close', (code, signal) => resolve({ code, signal })));
  const deadline = Date.now() + 20_000;
  while (!stdout.includes('\n') && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
  const url = stdout.split('\n')[0];
  assert.match(url, /^http:\/\/127\.0\.0\.1:\d+\/mcp$/, `stdout ${stdout} stderr ${stderr}`);
  assert.equal((await fetch(new URL('/health', url))).status, 200);
  child.kill('SIGINT');
  const timer = setTimeout(() => child.kill('SIGKILL'), 10_000);
  const { code, signal } = await exited;
  clearTimeout(timer);
  assert.equal(code, 0, `signal ${signal}\nstdout ${stdout}\nstderr ${stderr}`);
  assert.deepEqual(stdout.trim().split('\n'), [url, 'stopped example']);
  assert.match(stderr, /example: running -> stopping\nexample: stopping -> stopped/);
});

test('client.mjs: the MCP SDK client through proxies (streamable HTTP and SSE)', OPTS, async () => {
  const r = await runNode(path.join(EXAMPLES, 'client.mjs'), [streamable.url, sse.url]);
  assert.equal(r.code, 0, describe(r));
  assert.match(r.stdout, /remote-0: \d+ tools: .*\becho\b/, describe(r));
  assert.match(r.stdout, /remote-1: \d+ tools: .*\becho\b/, describe(r));
});

test('typed.ts: transpiled and run', OPTS, async () => {
  const ts = createRequire(path.join(EXAMPLES, 'package.json'))('typescript');
  const { outputText } = ts.transpileModule(fs.readFileSync(path.join(EXAMPLES, 'typed.ts'), 'utf8'), {
    compilerOptions: { module: ts.ModuleKind.CommonJS, target: ts.ScriptTarget.ES2022 },
  });
  fs.mkdirSync(path.join(EXAMPLES, 'dist'), { recursive: true });
  const out = path.join(EXAMPLES, 'dist', 'typed.js');
  fs.writeFileSync(out, outputText);
  const r = await runNode(out, [streamable.url]);
  assert.equal(r.code, 0, describe(r));
  assert.match(r.stdout, /^typed running http:\/\/127\.0\.0\.1:\d+\/mcp$/m, describe(r));
  assert.match(r.stdout, /^rejected: code=invalid_config field=port$/m, describe(r));
  assert.match(r.stdout, /^restarted on the same URL: true$/m, describe(r));
  assert.match(r.stdout, /^typed running pid=\d+ auth=unauthenticated since /m, describe(r));
  assert.match(r.stdout, /^stopped typed \(stopped\)$/m, describe(r));
  assert.match(r.stderr, /typed: starting -> running/, describe(r));
  assert.match(r.stderr, /typed: running -> stopping\ntyped: stopping -> stopped\ntyped: stopped -> starting/, describe(r));
});

test('manage.mjs: run in one process; list, logs, restart, stop, rm from others', OPTS, async () => {
  // The per-user state directory, in a temporary XDG_STATE_HOME.
  const home = fs.mkdtempSync(path.join(os.tmpdir(), 'toolhive-node-xdg-'));
  const env = { XDG_STATE_HOME: home };
  const manage = (...args) => runNode(path.join(EXAMPLES, 'manage.mjs'), args, { env, timeoutMs: 20_000 });
  try {
    const serving = spawn(process.execPath, [path.join(EXAMPLES, 'manage.mjs'), 'run', streamable.url, 'ex'], {
      env: { ...process.env, ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out = '';
    let err = '';
    serving.stdout.setEncoding('utf8').on('data', (d) => { out += d; });
    serving.stderr.setEncoding('utf8').on('data', (d) => { err += d; });
    const exited = new Promise((resolve) => serving.on('close', (code) => resolve(code)));
    const deadline = Date.now() + 20_000;
    while (!out.includes('\n') && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
    const [name, url] = out.trim().split(' ');
    assert.equal(name, 'ex', `stdout ${out} stderr ${err}`);

    let r = await manage('list');
    assert.equal(r.code, 0, describe(r));
    assert.equal(r.stdout.trim(), ['ex', 'running', url, streamable.url, 'unauthenticated', serving.pid].join('\t'), describe(r));
    r = await manage('logs', 'ex');
    assert.match(r.stdout, new RegExp(`info proxying .* at ${url}`), describe(r));
    r = await manage('restart', 'ex');
    assert.equal(r.stdout.trim(), `restarted ex ${url}`, describe(r));
    // Restarted inside the serving process, which keeps running it (past the grace period
    // after the old one stopped).
    await new Promise((resolve) => setTimeout(resolve, 1500));
    assert.equal(serving.exitCode, null, `stdout ${out} stderr ${err}`);
    assert.equal((await fetch(new URL('/health', url))).status, 200);
    r = await manage('stop', 'ex');
    assert.equal(r.stdout.trim(), 'stopped ex', describe(r));
    // Its only proxy stopped, the serving process ends by itself.
    assert.equal(await exited, 0, `stdout ${out} stderr ${err}`);
    r = await manage('list');
    assert.match(r.stdout, /^ex\tstopped\t/, describe(r));
    r = await manage('rm', 'ex');
    assert.equal(r.stdout.trim(), 'removed ex', describe(r));
    r = await manage('list');
    assert.equal(r.stdout, '', describe(r));
    r = await manage('stop', 'ex');
    assert.equal(r.code, 1, describe(r));
    assert.match(r.stderr, /stop failed \(not_found\)/, describe(r));
  } finally {
    fs.rmSync(home, { recursive: true, force: true });
  }
});
