// `npm install <path to bindings/node>` from another project works, as a link (the directory)
// and as a copy (the `npm pack` tarball); both CommonJS and ESM consumers run.

import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before, test } from 'node:test';
import { promisify } from 'node:util';

import { FIXTURES, HERE, describe, everything, runNode } from './support.mjs';

const exec = promisify(execFile);
const PACKAGE_DIR = path.resolve(HERE, '..');
const NPM_FLAGS = ['--no-audit', '--no-fund', '--loglevel=error'];
const OPTS = { timeout: 180_000 };

let srv;
let tmp;
before(async () => {
  srv = await everything();
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'toolhive-embed-install-'));
});
after(async () => {
  await srv.stop();
  fs.rmSync(tmp, { recursive: true, force: true });
});

/** A fresh npm project with `spec` installed and the consumer scripts copied in. */
async function project(name, spec) {
  const dir = path.join(tmp, name);
  fs.mkdirSync(dir);
  fs.writeFileSync(path.join(dir, 'package.json'), JSON.stringify({ name, version: '0.0.0', private: true }));
  await exec('npm', ['install', spec, ...NPM_FLAGS], { cwd: dir });
  for (const f of ['consumer.cjs', 'consumer.mjs']) fs.copyFileSync(path.join(FIXTURES, f), path.join(dir, f));
  const pkg = JSON.parse(fs.readFileSync(path.join(dir, 'package.json'), 'utf8'));
  assert.ok(pkg.dependencies?.['toolhive-embed'], JSON.stringify(pkg));
  return dir;
}

async function consumersRun(dir) {
  const cjs = await runNode(path.join(dir, 'consumer.cjs'), [srv.url]);
  assert.equal(cjs.code, 0, describe(cjs));
  assert.match(cjs.stdout, /^cjs \d+\.\d+\.\d+ 200 stopped$/m, describe(cjs));
  const esm = await runNode(path.join(dir, 'consumer.mjs'), [srv.url]);
  assert.equal(esm.code, 0, describe(esm));
  assert.match(esm.stdout, /^esm 200 stopped$/m, describe(esm));
}

test('npm install <directory>: linked, works from CommonJS and ESM', OPTS, async () => {
  const dir = await project('from-dir', PACKAGE_DIR);
  assert.ok(fs.lstatSync(path.join(dir, 'node_modules', 'toolhive-embed')).isSymbolicLink());
  await consumersRun(dir);
});

/**
 * A copy of the package directory (without node_modules) whose debug build has its debug info
 * stripped, so that packing and installing it takes seconds instead of half a minute. What
 * goes into the tarball is still decided by package.json's `files`.
 */
async function slimCopy() {
  const dir = path.join(tmp, 'package-copy');
  fs.cpSync(PACKAGE_DIR, dir, { recursive: true, filter: (src) => path.basename(src) !== 'node_modules' });
  for (const f of fs.readdirSync(dir).filter((n) => n.endsWith('.node'))) {
    await exec('strip', ['--strip-debug', path.join(dir, f)]).catch(() => { /* no binutils: pack it whole */ });
  }
  return dir;
}

test('npm install <npm pack tarball>: copied, works from CommonJS and ESM', OPTS, async () => {
  const { stdout } = await exec('npm', ['pack', await slimCopy(), '--pack-destination', tmp, ...NPM_FLAGS], { maxBuffer: 1 << 24 });
  const tgz = path.join(tmp, stdout.trim().split('\n').pop());
  const dir = await project('from-tarball', tgz);
  const installed = path.join(dir, 'node_modules', 'toolhive-embed');
  assert.ok(!fs.lstatSync(installed).isSymbolicLink());
  assert.deepEqual(
    fs.readdirSync(installed).sort(),
    ['README.md', 'index.d.ts', 'index.js', 'package.json', 'toolhive-embed.linux-x64-gnu.node'],
  );
  await consumersRun(dir);
});
