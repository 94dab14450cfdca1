// Shared test helpers: the e2e suite's server-everything launcher (reused, not copied), and a
// runner for child Node processes.

import { spawn } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

import { EverythingServer, freePort, sleep } from '../../../tests/e2e/node/helpers.mjs';

export { EverythingServer, freePort, sleep };

export const HERE = path.dirname(fileURLToPath(import.meta.url));
export const FIXTURES = path.join(HERE, 'fixtures');

/** server-everything in `mode` on a free port (its `stop()` kills it; so does our exit). */
export async function everything(mode = 'streamableHttp') {
  return new EverythingServer(mode, await freePort()).start();
}

/**
 * Run `node <fixture> ...args`; resolves { code, signal, stdout, stderr, ms, timedOut }.
 * A child still running after `timeoutMs` is killed (SIGKILL) and reported as timed out.
 */
export function runNode(file, args = [], { timeoutMs = 20_000, env = {}, onStdout } = {}) {
  return new Promise((resolve) => {
    const t0 = performance.now();
    const child = spawn(process.execPath, [file, ...args], {
      cwd: HERE,
      env: { ...process.env, ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8');
    child.stderr.setEncoding('utf8');
    child.stdout.on('data', (d) => { stdout += d; onStdout?.(stdout, child); });
    child.stderr.on('data', (d) => { stderr += d; });
    let timedOut = false;
    const timer = setTimeout(() => { timedOut = true; child.kill('SIGKILL'); }, timeoutMs);
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      resolve({ code, signal, stdout, stderr, ms: performance.now() - t0, timedOut });
    });
  });
}

/** Assert helper text for a child result. */
export function describe(r) {
  return `code=${r.code} signal=${r.signal} timedOut=${r.timedOut} ms=${Math.round(r.ms)}\n` +
    `--- stdout\n${r.stdout}\n--- stderr\n${r.stderr}`;
}
