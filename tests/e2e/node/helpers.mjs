// Process management for the node:test end-to-end suite (TypeScript SDK client side).
//
// Env: TOOLHIVE_BIN (default <repo>/target/debug/toolhive), TOOLHIVE_E2E_DIRECT=1 (no proxy:
// talk straight to server-everything; proxy-only tests are skipped).

import { spawn } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const here = path.dirname(fileURLToPath(import.meta.url));
export const E2E_DIR = path.resolve(here, '..');
export const REPO_ROOT = path.resolve(E2E_DIR, '..', '..');
export const EVERYTHING_JS = path.join(
  E2E_DIR, 'node_modules', '@modelcontextprotocol', 'server-everything', 'dist', 'index.js');

export const DIRECT = process.env.TOOLHIVE_E2E_DIRECT === '1';
export const PROXY_ONLY = DIRECT ? 'proxy-only behaviour; TOOLHIVE_E2E_DIRECT=1' : false;

const SERVER_START_MS = Number(process.env.TOOLHIVE_E2E_SERVER_TIMEOUT ?? 20) * 1000;
const PROXY_START_MS = Number(process.env.TOOLHIVE_E2E_PROXY_TIMEOUT ?? 30) * 1000;
const PROXY_STOP_MS = Number(process.env.TOOLHIVE_E2E_PROXY_STOP_TIMEOUT ?? 5) * 1000;

export function toolhiveBin() {
  const v = process.env.TOOLHIVE_BIN;
  if (v) return path.isAbsolute(v) ? v : path.join(REPO_ROOT, v);
  return path.join(REPO_ROOT, 'target', 'debug', 'toolhive');
}

// A log directory per test process.
const LOG_DIR = fs.mkdtempSync(path.join(os.tmpdir(), 'toolhive-e2e-node-'));

// Every child is its own process-group leader; kill what is left when this process exits.
const live = new Set();
function killGroup(child, sig = 'SIGKILL') {
  try { process.kill(-child.pid, sig); } catch { /* gone */ }
}
process.on('exit', () => { for (const c of live) killGroup(c); });
for (const sig of ['SIGINT', 'SIGTERM']) {
  process.on(sig, () => { for (const c of live) killGroup(c); process.exit(130); });
}

// run.sh sets TOOLHIVE_E2E_PIDFILE and kills whatever is listed there once a suite is over
// (covers a test process that was killed outright, where no exit handler runs).
function recordPid(child) {
  const f = process.env.TOOLHIVE_E2E_PIDFILE;
  if (f && child.pid) fs.appendFileSync(f, `${child.pid}\n`);
}

export const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

export function freePort() {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.unref();
    srv.on('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address();
      srv.close(() => resolve(port));
    });
  });
}

function portAccepts(port) {
  return new Promise((resolve) => {
    const s = net.connect({ host: '127.0.0.1', port });
    const done = (ok) => { s.destroy(); resolve(ok); };
    s.setTimeout(300, () => done(false));
    s.once('connect', () => done(true));
    s.once('error', () => done(false));
  });
}

function tail(file, n = 4000) {
  try { const b = fs.readFileSync(file); return b.subarray(Math.max(0, b.length - n)).toString(); }
  catch { return '<no log>'; }
}

function waitExit(child, ms) {
  if (child.exitCode !== null || child.signalCode !== null) {
    return Promise.resolve({ code: child.exitCode, signal: child.signalCode });
  }
  return new Promise((resolve) => {
    const t = setTimeout(() => resolve(null), ms);
    child.once('exit', (code, signal) => { clearTimeout(t); resolve({ code, signal }); });
  });
}

/** server-everything in `streamableHttp` or `sse` mode on a port of ours. */
export class EverythingServer {
  constructor(mode, port) {
    this.mode = mode;
    this.port = port;
    this.child = null;
    this.generation = 0;
  }
  get url() { return `http://127.0.0.1:${this.port}${this.mode === 'sse' ? '/sse' : '/mcp'}`; }
  get base() { return `http://127.0.0.1:${this.port}`; }

  async start() {
    this.generation += 1;
    this.log = path.join(LOG_DIR, `everything-${this.mode}-${this.port}-${this.generation}.log`);
    const fd = fs.openSync(this.log, 'w');
    this.child = spawn(process.execPath, [EVERYTHING_JS, this.mode], {
      env: { ...process.env, PORT: String(this.port) },
      stdio: ['ignore', fd, fd],
      detached: true,
    });
    fs.closeSync(fd);
    live.add(this.child);
    recordPid(this.child);
    const deadline = Date.now() + SERVER_START_MS;
    while (Date.now() < deadline) {
      if (this.child.exitCode !== null) {
        throw new Error(`server-everything exited with ${this.child.exitCode}:\n${tail(this.log)}`);
      }
      if (await portAccepts(this.port)) return this;
      await sleep(50);
    }
    await this.kill();
    throw new Error(`server-everything did not accept on ${this.port}:\n${tail(this.log)}`);
  }

  /** Crash: SIGKILL the group, wait for exit and for the port to close. */
  async kill() {
    const c = this.child;
    if (!c) return;
    this.child = null;
    killGroup(c, 'SIGKILL');
    await waitExit(c, 5000);
    live.delete(c);
    const deadline = Date.now() + 5000;
    while (Date.now() < deadline && (await portAccepts(this.port))) await sleep(50);
  }

  async restart() { await this.kill(); return this.start(); }
  async stop() { return this.kill(); }
}

export async function startEverything(mode = 'streamableHttp') {
  return new EverythingServer(mode, await freePort()).start();
}

const URL_RE = /^http:\/\/(127\.0\.0\.1|localhost|\[::1\]):(\d+)(\/\S*)$/;

/** `toolhive run <upstream> ...`, or the upstream itself in direct mode. */
export async function startProxy(upstreamUrl, args = [], { proxyPort = 'auto' } = {}) {
  if (DIRECT) {
    return { direct: true, url: upstreamUrl, base: new URL(upstreamUrl).origin, stop: async () => ({ code: 0, signal: null, extraStdout: '' }) };
  }
  const bin = toolhiveBin();
  if (!fs.existsSync(bin)) {
    throw new Error(`toolhive binary not found at ${bin} (set TOOLHIVE_BIN or TOOLHIVE_E2E_DIRECT=1)`);
  }
  const port = proxyPort === 'auto' ? await freePort() : proxyPort;
  const name = `e2e-node-${port ?? (await freePort())}`;
  const home = path.join(LOG_DIR, `home-${name}`);
  fs.mkdirSync(path.join(home, '.run'), { recursive: true, mode: 0o700 });
  const argv = ['run', upstreamUrl, '--name', name, '--host', '127.0.0.1'];
  if (port != null) argv.push('--proxy-port', String(port));
  argv.push(...args);
  const stderrLog = path.join(LOG_DIR, `toolhive-${name}.stderr`);
  const fd = fs.openSync(stderrLog, 'w');
  const child = spawn(bin, argv, {
    env: {
      ...process.env,
      HOME: home,
      XDG_CONFIG_HOME: path.join(home, '.config'),
      XDG_DATA_HOME: path.join(home, '.local', 'share'),
      XDG_STATE_HOME: path.join(home, '.local', 'state'),
      XDG_CACHE_HOME: path.join(home, '.cache'),
      XDG_RUNTIME_DIR: path.join(home, '.run'),
      RUST_LOG: process.env.TOOLHIVE_E2E_RUST_LOG ?? 'info',
      RUST_BACKTRACE: '1',
    },
    stdio: ['ignore', 'pipe', fd],
    detached: true,
  });
  fs.closeSync(fd);
  live.add(child);
  recordPid(child);
  const cmd = `${bin} ${argv.join(' ')}`;

  let stdout = '';
  child.stdout.setEncoding('utf8');
  child.stdout.on('data', (d) => { stdout += d; });

  const deadline = Date.now() + PROXY_START_MS;
  while (!stdout.includes('\n')) {
    if (child.exitCode !== null || child.signalCode !== null) {
      live.delete(child);
      throw new Error(`\`${cmd}\` exited (${child.exitCode ?? child.signalCode}) before printing its URL; stdout ${JSON.stringify(stdout)}\nstderr:\n${tail(stderrLog)}`);
    }
    if (Date.now() > deadline) {
      killGroup(child);
      live.delete(child);
      throw new Error(`\`${cmd}\` printed no URL line within ${PROXY_START_MS} ms; stdout ${JSON.stringify(stdout)}\nstderr:\n${tail(stderrLog)}`);
    }
    await sleep(20);
  }
  const line = stdout.slice(0, stdout.indexOf('\n')).trim();
  const m = URL_RE.exec(line);
  const wantPath = new URL(upstreamUrl).pathname;
  if (!m || m[3] !== wantPath || (port != null && Number(m[2]) !== port)) {
    killGroup(child);
    live.delete(child);
    throw new Error(`\`${cmd}\` printed ${JSON.stringify(line)}; expected http://127.0.0.1:${port ?? '<port>'}${wantPath}`);
  }

  return {
    direct: false,
    url: line,
    base: new URL(line).origin,
    port: Number(m[2]),
    child,
    stderrLog,
    /** SIGTERM (or sig) to the proxy; resolves {code, signal, extraStdout}; code null = timed out. */
    async stop(sig = 'SIGTERM') {
      if (child.exitCode !== null || child.signalCode !== null) {
        live.delete(child);
        return { code: child.exitCode, signal: child.signalCode, extraStdout: stdout.slice(stdout.indexOf('\n') + 1), stderr: tail(stderrLog), exitedEarly: true };
      }
      child.kill(sig);
      const res = await waitExit(child, PROXY_STOP_MS);
      killGroup(child);
      live.delete(child);
      if (!res) await waitExit(child, 5000);
      return { code: res ? res.code : null, signal: res ? res.signal : null, extraStdout: stdout.slice(stdout.indexOf('\n') + 1), stderr: tail(stderrLog) };
    },
  };
}

/**
 * Per-test setup: returns {everything(mode), proxy(url, args, opts)} and registers teardown on
 * the node:test context `t`: proxies get SIGTERM and must exit 0 quickly with nothing more on
 * stdout; servers are killed.
 */
export function harness(t) {
  const servers = [];
  const proxies = [];
  t.after(async () => {
    const problems = [];
    for (const p of proxies) {
      const r = await p.stop('SIGTERM');
      if (p.direct) continue;
      if (r.exitedEarly) problems.push(`proxy exited by itself during the test (${r.code ?? r.signal})\n${r.stderr}`);
      else if (r.code === null && r.signal === null) problems.push(`proxy did not exit within ${PROXY_STOP_MS} ms of SIGTERM\n${r.stderr}`);
      else if (r.code !== 0) problems.push(`proxy exit ${r.code ?? r.signal} after SIGTERM\n${r.stderr}`);
      if (r.extraStdout.trim()) problems.push(`proxy printed more than one stdout line: ${JSON.stringify(r.extraStdout.slice(0, 500))}`);
    }
    for (const s of servers) await s.stop();
    if (problems.length) throw new Error(problems.join('\n\n'));
  });
  return {
    async everything(mode = 'streamableHttp') {
      const s = new EverythingServer(mode, await freePort());
      servers.push(s);
      return s.start();
    },
    async proxy(upstreamUrl, args = [], opts = {}) {
      const p = await startProxy(upstreamUrl, args, opts);
      proxies.push(p);
      return p;
    },
  };
}

export const MCP_HEADERS = { Accept: 'application/json, text/event-stream', 'Content-Type': 'application/json' };
