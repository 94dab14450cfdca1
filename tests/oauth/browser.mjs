#!/usr/bin/env node
// Plays the user's browser for an OAuth authorization URL: performs the HTTP requests a browser
// would (follows redirects, keeps cookies, fills and submits the login form and the consent
// form), and ends by requesting the client's callback URL (the authorization request's
// redirect_uri, e.g. http://localhost:<port>/callback?code=...&state=...).
//
// Usage: node browser.mjs <authorization-url> [options]
//   --login NAME          login to type in (default "alice"; the rig's AS takes any login)
//   --password PASS       password to type in (default "secret")
//   --deny                cancel instead of logging in / consenting (follows the abort link), so
//                         the callback gets error=access_denied
//   --no-callback         stop before requesting the callback; print its URL (so a test can
//                         tamper with it)
//   --timeout SECONDS     overall limit (default 30)
//   --any-host            allow hosts other than loopback (default: refuse, this rig is local)
// Prints ONE JSON line on stdout and exits 0 when the callback was reached (or, with
// --no-callback, found):
//   {"ok":true,"callback_url":...,"callback_status":200,"callback_body":"...","steps":[...]}
// otherwise exits 1 with {"ok":false,"error":"...","steps":[...]}.
// Works with any AS whose pages are plain HTML forms, including one that redirects at once.
import { parseArgs } from 'node:util';

const { values: opts, positionals } = parseArgs({
  allowPositionals: true,
  options: {
    login: { type: 'string', default: 'alice' },
    password: { type: 'string', default: 'secret' },
    deny: { type: 'boolean', default: false },
    'no-callback': { type: 'boolean', default: false },
    timeout: { type: 'string', default: '30' },
    'any-host': { type: 'boolean', default: false },
  },
});

const steps = [];
function finish(result, code) {
  process.stdout.write(`${JSON.stringify({ ...result, steps })}\n`);
  process.exit(code);
}
const fail = (error) => finish({ ok: false, error }, 1);

if (positionals.length !== 1) fail('usage: node browser.mjs <authorization-url> [--login NAME] [--password PASS] [--deny] [--no-callback]');

let authUrl;
try { authUrl = new URL(positionals[0]); } catch { fail(`not a URL: ${positionals[0]}`); }
const redirectUriParam = authUrl.searchParams.get('redirect_uri');
const redirectUri = redirectUriParam ? new URL(redirectUriParam) : null;
const deadline = Date.now() + Number(opts.timeout) * 1000;
setTimeout(() => fail(`timed out after ${opts.timeout}s`), Number(opts.timeout) * 1000).unref();

const LOOPBACK = new Set(['127.0.0.1', 'localhost', '[::1]', '::1']);

// --- a small cookie jar (host-only cookies, path-matched, expiry honoured) --------------------
const jar = new Map(); // `${host}|${path}|${name}` -> { host, path, name, value, expires }
function storeCookies(url, headers) {
  const list = typeof headers.getSetCookie === 'function' ? headers.getSetCookie() : [];
  for (const line of list) {
    const [pair, ...attrs] = line.split(';');
    const eq = pair.indexOf('=');
    if (eq < 1) continue;
    const name = pair.slice(0, eq).trim();
    const value = pair.slice(eq + 1).trim();
    let path = url.pathname.replace(/\/[^/]*$/, '') || '/';
    let expires = Infinity;
    for (const attr of attrs) {
      const [k, ...v] = attr.split('=');
      const key = k.trim().toLowerCase();
      const val = v.join('=').trim();
      if (key === 'path' && val.startsWith('/')) path = val;
      else if (key === 'max-age') expires = Date.now() + Number(val) * 1000;
      else if (key === 'expires' && expires === Infinity) { const t = Date.parse(val); if (!Number.isNaN(t)) expires = t; }
    }
    const id = `${url.hostname}|${path}|${name}`;
    if (expires <= Date.now()) jar.delete(id);
    else jar.set(id, { host: url.hostname, path, name, value, expires });
  }
}
function cookieHeader(url) {
  const now = Date.now();
  const out = [];
  for (const [id, c] of jar) {
    if (c.expires <= now) { jar.delete(id); continue; }
    if (c.host !== url.hostname) continue;
    const p = url.pathname;
    if (p === c.path || p.startsWith(c.path.endsWith('/') ? c.path : `${c.path}/`)) out.push(`${c.name}=${c.value}`);
  }
  return out.join('; ');
}

// --- HTML helpers ----------------------------------------------------------------------------
const decodeEntities = (s) => s
  .replace(/&#x([0-9a-f]+);/gi, (_, h) => String.fromCodePoint(parseInt(h, 16)))
  .replace(/&#(\d+);/g, (_, n) => String.fromCodePoint(Number(n)))
  .replace(/&quot;/g, '"').replace(/&#39;|&apos;/g, "'").replace(/&lt;/g, '<').replace(/&gt;/g, '>')
  .replace(/&amp;/g, '&');
function attrs(tag) {
  const out = {};
  const re = /([a-zA-Z_:][-a-zA-Z0-9_:.]*)(?:\s*=\s*(?:"([^"]*)"|'([^']*)'|([^\s"'=<>`]+)))?/g;
  const inner = tag.replace(/^<\s*[a-zA-Z]+/, '').replace(/\/?>$/, '');
  let m;
  while ((m = re.exec(inner))) out[m[1].toLowerCase()] = decodeEntities(m[2] ?? m[3] ?? m[4] ?? '');
  return out;
}
function firstForm(html) {
  const m = /<form\b[^>]*>([\s\S]*?)<\/form>/i.exec(html);
  if (!m) return null;
  const form = attrs(/<form\b[^>]*>/i.exec(m[0])[0]);
  const fields = [];
  for (const tag of m[1].match(/<(input|button)\b[^>]*>/gi) ?? []) {
    const a = attrs(tag);
    fields.push({ tag: tag.slice(1, 6).toLowerCase().startsWith('butto') ? 'button' : 'input', ...a });
  }
  return { action: form.action ?? '', method: (form.method ?? 'get').toLowerCase(), fields };
}
const pageText = (html) => decodeEntities(html.replace(/<script[\s\S]*?<\/script>|<style[\s\S]*?<\/style>/gi, ' ')
  .replace(/<[^>]+>/g, ' ')).replace(/\s+/g, ' ').trim();

// --- the walk --------------------------------------------------------------------------------
const isCallback = (url) => redirectUri && url.origin === redirectUri.origin && url.pathname === redirectUri.pathname;

async function request(url, { method = 'GET', body = null, contentType = null } = {}) {
  if (!opts['any-host'] && !LOOPBACK.has(url.hostname)) fail(`refusing to visit non-loopback host ${url.hostname} (${url.href})`);
  const headers = { 'user-agent': 'toolhive-oauth-rig-browser/1', accept: 'text/html,application/xhtml+xml,*/*' };
  const cookie = cookieHeader(url);
  if (cookie) headers.cookie = cookie;
  if (contentType) headers['content-type'] = contentType;
  const res = await fetch(url, {
    method,
    body,
    headers,
    redirect: 'manual',
    signal: AbortSignal.timeout(Math.max(1, deadline - Date.now())),
  });
  storeCookies(url, res.headers);
  const text = await res.text();
  steps.push({ method, url: redactUrl(url), status: res.status });
  return { res, text };
}
// Codes and states are single-use and short-lived, but keep them out of logs anyway.
function redactUrl(url) {
  const u = new URL(url);
  for (const k of ['code', 'code_verifier', 'state']) if (u.searchParams.has(k)) u.searchParams.set(k, '...');
  return u.href;
}

async function main() {
  let url = authUrl;
  let method = 'GET';
  let body = null;
  let contentType = null;
  let formsSubmitted = 0;
  for (let hop = 0; hop < 30; hop += 1) {
    if (isCallback(url)) {
      if (opts['no-callback']) return finish({ ok: true, callback_url: url.href, callback_status: null, callback_body: null }, 0);
      const { res, text } = await request(url, { method, body, contentType });
      return finish({
        ok: true,
        callback_url: url.href,
        callback_status: res.status,
        callback_body: text.slice(0, 2000),
        callback_error: url.searchParams.get('error'),
      }, 0);
    }
    const { res, text } = await request(url, { method, body, contentType });
    method = 'GET'; body = null; contentType = null;
    if (res.status >= 300 && res.status < 400 && res.headers.get('location')) {
      const next = new URL(res.headers.get('location'), url);
      if ((res.status === 307 || res.status === 308) && steps.at(-1).method === 'POST') {
        fail(`unexpected ${res.status} after a POST to ${redactUrl(url)}`);
      }
      url = next;
      continue;
    }
    const ctype = res.headers.get('content-type') ?? '';
    const form = ctype.includes('html') ? firstForm(text) : null;
    if (res.status !== 200 || !form) {
      return fail(`stuck at ${redactUrl(url)}: HTTP ${res.status} ${ctype} ${pageText(text).slice(0, 600)}`);
    }
    if (opts.deny) {
      const abort = /<a\b[^>]*href\s*=\s*["']([^"']*\/abort[^"']*)["']/i.exec(text);
      if (!abort) return fail(`--deny: no abort link on ${redactUrl(url)}`);
      url = new URL(decodeEntities(abort[1]), url);
      continue;
    }
    // Fill the form: hidden fields as they are, the login and password boxes with ours.
    const params = new URLSearchParams();
    for (const f of form.fields) {
      if (!f.name) continue;
      const type = (f.type ?? (f.tag === 'button' ? 'submit' : 'text')).toLowerCase();
      if (type === 'password') params.append(f.name, opts.password);
      else if (type === 'hidden') params.append(f.name, f.value ?? '');
      else if (['text', 'email'].includes(type)) params.append(f.name, /pass/i.test(f.name) ? opts.password : opts.login);
      else if (type === 'checkbox' || type === 'radio') { if ('checked' in f) params.append(f.name, f.value ?? 'on'); }
      else if (type === 'submit' && f.value !== undefined && !params.has(f.name)) params.append(f.name, f.value);
    }
    formsSubmitted += 1;
    steps.at(-1).form = [...params.keys()].join(',');
    const action = new URL(form.action || url.href, url);
    if (form.method === 'post') {
      url = action; method = 'POST'; body = params.toString(); contentType = 'application/x-www-form-urlencoded';
    } else {
      for (const [k, v] of params) action.searchParams.append(k, v);
      url = action;
    }
    if (formsSubmitted > 8) return fail('too many forms; the AS keeps asking');
  }
  return fail('too many redirects');
}

main().catch((e) => fail(`${e?.name ?? 'Error'}: ${e?.message ?? e}${e?.cause ? ` (${e.cause.message ?? e.cause})` : ''}`));
