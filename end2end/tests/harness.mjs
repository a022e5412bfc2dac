// Starts a real Flowlens server (port 0, fresh SQLite file) and a headless Debian Chromium.
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium } from 'playwright-core';

const repo = join(dirname(fileURLToPath(import.meta.url)), '..', '..');

export const ADMIN_PASSWORD = 'e2e-admin-password';

// `demo`: the demo services run, and (on loopback) sign everyone in as the demo admin.
// `origins`: who may frame embeds.
export async function startServer({ demo = false, origins = [], flows = join(repo, 'flows') } = {}) {
  const bin = process.env.FLOWLENS_BIN || join(repo, 'target', 'debug', 'flowlens');
  const dir = mkdtempSync(join(tmpdir(), 'flowlens-e2e-'));
  const child = spawn(bin, [
    'serve', '--port', '0',
    '--database-url', `sqlite://${join(dir, 'flowlens.db')}`,
    '--flows', flows,
    '--site-root', process.env.FLOWLENS_SITE_ROOT || join(repo, 'target', 'site'),
    // The demo services answer retries; their own traffic is held back to one registration an hour.
    ...(demo ? ['--demo', '--demo-interval', '3600'] : []),
    '--admin-password', ADMIN_PASSWORD,
    '--admin-credential-file', join(dir, 'admin.txt'),
    ...(origins.length ? ['--embed-origins', origins.join(',')] : []),
  ], { stdio: ['ignore', 'pipe', 'pipe'] });
  let log = '';
  child.stderr.on('data', (d) => { log += d; });
  const url = await new Promise((resolve, reject) => {
    let out = '';
    const timer = setTimeout(() => reject(new Error(`server did not start in 20 s:\n${out}${log}`)), 20000);
    child.stdout.on('data', (d) => {
      out += d;
      const m = out.match(/listening on (http:\/\/[0-9.:]+)/);
      if (m) { clearTimeout(timer); resolve(m[1]); }
    });
    child.on('exit', (code) => reject(new Error(`server exited with ${code}:\n${out}${log}`)));
  });
  // An admin bearer token, made the way a person would: sign in, read the page's CSRF token,
  // create the token through the API.
  let token;
  async function adminToken() {
    if (token) return token;
    const cookie = await signInOverHttp(url, 'admin', ADMIN_PASSWORD);
    const me = await (await fetch(`${url}/api/whoami`, { method: 'POST', headers: { cookie } })).json();
    const res = await fetch(`${url}/api/v1/tokens`, {
      method: 'POST',
      headers: { cookie, 'x-csrf-token': me.csrf, 'content-type': 'application/json' },
      body: JSON.stringify({ name: 'e2e', role: 'admin' }),
    });
    if (res.status !== 201) throw new Error(`cannot create a token: ${res.status} ${await res.text()}`);
    token = (await res.json()).token;
    return token;
  }
  async function api(method, path, body) {
    const res = await fetch(`${url}${path}`, {
      method,
      headers: { 'content-type': 'application/json', authorization: `Bearer ${await adminToken()}` },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    const text = await res.text();
    if (!res.ok) throw new Error(`${method} ${path}: ${res.status} ${text}`);
    return text ? JSON.parse(text) : null;
  }
  return {
    url,
    log: () => log,
    api,
    token: adminToken,
    async stop() {
      child.kill('SIGKILL');
      rmSync(dir, { recursive: true, force: true });
    },
    async post(events) {
      const res = await fetch(`${url}/api/v1/events`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', authorization: `Bearer ${await adminToken()}` },
        body: JSON.stringify(events),
      });
      const body = await res.json();
      if (!res.ok) throw new Error(`POST /api/v1/events: ${res.status} ${JSON.stringify(body)}`);
      return body;
    },
  };
}

async function signInOverHttp(url, name, password) {
  const res = await fetch(`${url}/auth/login`, {
    method: 'POST', redirect: 'manual',
    headers: { 'content-type': 'application/x-www-form-urlencoded' },
    body: new URLSearchParams({ name, password, next: '/' }),
  });
  const cookie = (res.headers.get('set-cookie') || '').split(';')[0];
  if (!cookie.startsWith('flowlens_session=')) throw new Error(`sign-in as ${name} failed: ${res.status}`);
  return cookie;
}

/// Signs in through the sign-in page, as a person would.
export async function signIn(page, url, name = 'admin', password = ADMIN_PASSWORD) {
  await page.goto(`${url}/login`);
  await page.fill('input[name="name"]', name);
  await page.fill('input[name="password"]', password);
  await Promise.all([page.waitForNavigation(), page.click('form[action="/auth/login"] button[type="submit"]')]);
}

// `options` go to the browser context as they are, e.g. `{ timezoneId: 'America/New_York' }`.
export async function startBrowser(options = {}) {
  const profile = mkdtempSync(join(tmpdir(), 'flowlens-chromium-'));
  const context = await chromium.launchPersistentContext(profile, {
    ...options,
    executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
    headless: true,
    viewport: { width: 1280, height: 860 },
    args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking',
      '--disable-component-update', '--disable-sync'],
  });
  const problems = [];
  context.on('page', (page) => watch(page, problems));
  context.pages().forEach((page) => watch(page, problems));
  return {
    context,
    problems,
    async newPage() { return context.pages()[0] || context.newPage(); },
    async close() {
      await context.close();
      rmSync(profile, { recursive: true, force: true });
    },
  };
}

// Errors in the browser fail the test that caused them, with the browser's own words.
function watch(page, problems) {
  page.on('pageerror', (e) => problems.push(`page error: ${e.message}`));
  page.on('console', (m) => { if (m.type() === 'error') problems.push(`console error: ${m.text()}`); });
}

/// The page is hydrated (the app's code runs) and its push connection is open.
export async function waitUntilLive(page) {
  await page.waitForSelector('body[data-hydrated="true"]', { timeout: 20000 });
  await page.waitForSelector('[data-live="open"]', { timeout: 10000 });
}

export const screenshots = join(repo, 'end2end', 'screenshots');

/// A key no earlier test or run used, so tests share nothing.
export const unique = (prefix) => `${prefix}-${Date.now().toString(36)}-${Math.random().toString(36).slice(2, 7)}`;
