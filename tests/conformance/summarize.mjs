#!/usr/bin/env node
// Reads the results the conformance suite wrote with `-o DIR` (one directory per scenario:
// checks.json, stdout.txt, stderr.txt) and prints one line per scenario plus every FAILURE and
// WARNING. Exit 1 when any scenario has a FAILURE or WARNING check, or when the client (client.sh)
// did not finish with `CONFORMANCE-CLIENT-RESULT: ok` (`expected-error` is accepted only in the
// scenarios where the suite allows a client error). In --suite mode the suite itself ignores the
// client's exit code and time-outs, hence the marker.
//
//   node summarize.mjs <results-dir> [--expect-scenarios name,name,...] [--no-marker]

import fs from 'node:fs';
import path from 'node:path';

const ALLOW_CLIENT_ERROR = new Set(['auth/scope-retry-limit', 'auth/resource-mismatch']);

const argv = process.argv.slice(2);
const root = argv[0];
const expectIdx = argv.indexOf('--expect-scenarios');
const expected = expectIdx >= 0 ? argv[expectIdx + 1].split(',').filter(Boolean) : [];
const checkMarker = !argv.includes('--no-marker');

function findResultDirs(dir) {
  const out = [];
  for (const e of fs.readdirSync(dir, { withFileTypes: true })) {
    const p = path.join(dir, e.name);
    if (e.isDirectory()) out.push(...findResultDirs(p));
    else if (e.name === 'checks.json') out.push(dir);
  }
  return out;
}

const dirs = fs.existsSync(root) ? findResultDirs(root) : [];
const results = [];
for (const dir of dirs) {
  // <root>/<suite>/auth/<name>-<ISO timestamp with - for : and .>
  const rel = path.relative(root, dir).split(path.sep);
  const last = rel[rel.length - 1].replace(/-\d{4}-\d{2}-\d{2}T[\d-]+Z$/, '');
  const name = `${rel[rel.length - 2]}/${last}`;
  const checks = JSON.parse(fs.readFileSync(path.join(dir, 'checks.json'), 'utf8'));
  const stdout = fs.existsSync(path.join(dir, 'stdout.txt'))
    ? fs.readFileSync(path.join(dir, 'stdout.txt'), 'utf8')
    : '';
  const marker = (stdout.match(/^CONFORMANCE-CLIENT-RESULT: (.*)$/m) || [])[1] ?? null;
  results.push({ name, dir, checks, marker });
}
results.sort((a, b) => a.name.localeCompare(b.name));

let bad = 0;
const count = (r, s) => r.checks.filter((c) => c.status === s).length;
for (const r of results) {
  const f = count(r, 'FAILURE');
  const w = count(r, 'WARNING');
  const s = count(r, 'SUCCESS');
  let clientOk = true;
  let clientNote = '';
  if (checkMarker) {
    if (r.marker === 'ok') clientNote = 'client ok';
    else if (r.marker && r.marker.startsWith('expected-error') && ALLOW_CLIENT_ERROR.has(r.name))
      clientNote = 'client error (allowed here)';
    else {
      clientOk = false;
      clientNote = r.marker ? `client ${r.marker}` : 'client gave no result (killed or timed out?)';
    }
  }
  const ok = f === 0 && w === 0 && clientOk;
  if (!ok) bad++;
  console.log(
    `${ok ? 'PASS' : 'FAIL'} ${r.name}: ${s} success, ${f} failure, ${w} warning${checkMarker ? `; ${clientNote}` : ''}`
  );
  for (const c of r.checks.filter((c) => c.status === 'FAILURE' || c.status === 'WARNING')) {
    console.log(`     ${c.status} [${c.id}] ${c.errorMessage || c.description}`);
  }
  if (!ok) console.log(`     logs: ${path.join(r.dir, 'stderr.txt')}`);
}
for (const name of expected) {
  if (!results.some((r) => r.name === name)) {
    bad++;
    console.log(`FAIL ${name}: no results`);
  }
}
const total = Math.max(results.length, expected.length);
console.log(`\n${total - bad}/${total} scenarios passed`);
process.exit(bad || results.length === 0 ? 1 : 0);
