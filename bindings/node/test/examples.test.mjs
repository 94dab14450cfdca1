// examples/node: the CommonJS proxy (Ctrl-C stops it), the ESM SDK client, and the TypeScript
// example (type-checked by test.sh with `tsc --strict --noEmit`; transpiled and run here).
// Needs `npm ci` in examples/node (test.sh does it).

import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import fs from 'node:fs';
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
  assert.match(r.stdout, /^stopped typed \(stopped\)$/m, describe(r));
  assert.match(r.stderr, /typed: starting -> running/, describe(r));
});
