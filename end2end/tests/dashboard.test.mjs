// The dashboard screens: overview with heatmap, instance list with filters, keyset paging and bulk
// retry, roles (a viewer sees no buttons and the API refuses), and embeds in iframes.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync } from 'node:fs';
import { createServer } from 'node:http';
import { join } from 'node:path';
import { startServer, startBrowser, waitUntilLive, screenshots, unique, signIn } from './harness.mjs';

let demo, browser;
before(async () => {
  // The demo signs the browser in (loopback) and its services answer retries.
  demo = await startServer({ demo: true });
  browser = await startBrowser();
  mkdirSync(screenshots, { recursive: true });
});
after(async () => {
  await browser?.close();
  await demo?.stop();
});

/// `n` onboardings whose address check went past its 10-minute SLA: stuck.
async function stuck(server, n, prefix) {
  const eleven = new Date(Date.now() - 11 * 60 * 1000).toISOString();
  const keys = [];
  const events = [];
  for (let i = 0; i < n; i++) {
    const key = unique(prefix);
    keys.push(key);
    events.push(
      { type: 'RegistrationRequested', key, time: eleven },
      { type: 'AddressCheckRequested', key, time: eleven, data: { customerId: key } },
      { type: 'CreditCheckRequested', key },
      { type: 'CreditChecked', key },
      { type: 'CriminalRecordCheckRequested', key },
    );
  }
  const res = await server.post(events);
  return { keys, ids: res.instances.map((i) => i.id) };
}

test('the overview counts instances, charts throughput and switches heatmaps; the status strip tells the store', async () => {
  await stuck(demo, 3, 'ov');
  const page = await browser.newPage();
  await page.goto(`${demo.url}/`);
  await waitUntilLive(page);
  assert.match(await page.textContent('.who'), /signed in automatically/, 'the demo says it signed us in');
  const running = Number(await page.textContent('[data-count="running"] .n'));
  const stuckCount = Number(await page.textContent('[data-count="stuck"] .n'));
  assert.ok(running >= 3 && stuckCount >= 3, `running ${running}, stuck ${stuckCount}`);
  // Waiting now: the address check holds the stuck instances.
  assert.ok(Number(await page.getAttribute('.heatmap [data-node="address"]', 'data-heat')) >= 3);
  assert.equal(await page.locator('.heatmap svg.diagram [data-node]').count() >= 8, true);
  // A step without a figure is drawn plain white, not black.
  assert.equal(await page.$eval('.heatmap [data-node="approved"] circle', (c) => getComputedStyle(c).fill), 'rgb(255, 255, 255)');
  assert.ok(Number(await page.getAttribute('[data-total-events]', 'data-total-events')) >= 15);
  await page.click('a[data-heat-mode="breaches"]');
  await page.waitForSelector('.heatmap[data-heat="breaches"]');
  assert.ok(Number(await page.getAttribute('.heatmap [data-node="address"]', 'data-heat')) >= 3, 'overdue visits count as breaches');
  await page.click('a[data-heat-mode="waiting"]');
  await page.waitForSelector('.heatmap[data-heat="waiting"]');
  // The flow as BPMN, downloadable from the overview.
  const bpmn = await page.getAttribute('[data-download="bpmn"]', 'href');
  assert.equal(bpmn, '/api/v1/flows/customer-onboarding/bpmn');
  const xml = await page.evaluate(async (href) => (await fetch(href)).text(), bpmn);
  assert.match(xml, /<bpmn:definitions[\s\S]*<bpmndi:BPMNDiagram/);
  // The status strip on every page.
  await page.waitForSelector('[data-status-store="SQLite"]');
  assert.notEqual(await page.getAttribute('[data-last-event]', 'data-last-event'), '');
  // New traffic moves the counts without a reload.
  await page.evaluate(() => { window.__sameDocument = true; });
  await stuck(demo, 2, 'ov-more');
  await page.waitForFunction((before) => Number(document.querySelector('[data-count="running"] .n').textContent) >= before + 2, running, { timeout: 8000 });
  assert.equal(await page.evaluate(() => window.__sameDocument), true);
  await page.screenshot({ path: join(screenshots, 'overview.png'), fullPage: true });
  assert.deepEqual(browser.problems, []);
});

test('the list filters, pages by keyset, and bulk-retries all that match with progress and a result each', async () => {
  const { keys } = await stuck(demo, 12, 'bulk');
  const page = await browser.newPage();
  await page.goto(`${demo.url}/instances?sla=overdue&sort=newest&limit=5`);
  await waitUntilLive(page);
  const firstPage = await page.locator('tr[data-key]').evaluateAll((rows) => rows.map((r) => r.dataset.key));
  assert.equal(firstPage.length, 5);
  await page.click('a[data-next]');
  await page.waitForURL(/after=/);
  await page.waitForFunction((first) => {
    const keys = [...document.querySelectorAll('tr[data-key]')].map((r) => r.dataset.key);
    return keys.length === 5 && !keys.some((k) => first.includes(k));
  }, firstPage);
  // The filter form: only instances waiting at the address check, by exact key.
  await page.goto(`${demo.url}/instances`);
  await waitUntilLive(page);
  await page.fill('input[name="key"]', keys[0]);
  await page.selectOption('select[name="sla"]', 'overdue');
  await page.click('form.filters button[type="submit"]');
  await page.waitForURL(/key=/);
  await page.waitForFunction(() => document.querySelectorAll('tr[data-key]').length === 1);

  // Select all that match "stuck", retry them, confirm, watch progress and per-instance results.
  await page.goto(`${demo.url}/instances?sla=overdue`);
  await waitUntilLive(page);
  await page.click('[data-select-all]');
  await page.waitForFunction(() => Number(document.querySelector('[data-selected]').dataset.selected) >= 12);
  const chosen = Number(await page.getAttribute('[data-selected]', 'data-selected'));
  await page.click('[data-bulk-retry]');
  await page.click('.bulk [data-confirm="yes"]');
  await page.waitForSelector('[data-bulk="done"]', { timeout: 30000 });
  assert.equal(await page.locator('.bulk-results li').count(), chosen);
  assert.equal(await page.locator('.bulk-results li.ok').count(), chosen, await page.textContent('.bulk-results'));
  assert.match(await page.textContent('[data-bulk="done"]'), new RegExp(`retry: ${chosen} of ${chosen} succeeded`));
  await page.screenshot({ path: join(screenshots, 'instances.png'), fullPage: true });
  // The demo services answer the retries: the instances leave the stuck list.
  const [first] = (await demo.api('GET', `/api/v1/instances?key=${keys[0]}`));
  const detail = await waitFor(async () => {
    const d = await demo.api('GET', `/api/v1/instances/${first.id}`);
    return d.actions.some((a) => a.result === 'took_effect') ? d : null;
  });
  assert.equal(detail.actions[0].actor, 'demo');
  assert.deepEqual(browser.problems, []);
});

async function waitFor(probe, ms = 15000) {
  const end = Date.now() + ms;
  while (Date.now() < end) {
    const v = await probe();
    if (v) return v;
    await new Promise((r) => setTimeout(r, 200));
  }
  throw new Error('timed out');
}

test('a viewer sees no retry or cancel button, and the API answers 403', async () => {
  const server = await startServer();
  const viewerBrowser = await startBrowser();
  try {
    await server.api('POST', '/api/v1/users', { name: 'vera', role: 'viewer', password: 'vera-password-123' });
    const { ids } = await stuck(server, 1, 'viewer');
    const page = await viewerBrowser.newPage();
    // Anonymous: sent to sign in.
    await page.goto(`${server.url}/instances/${ids[0]}`);
    await page.waitForURL(/\/login\?next=/);
    await signIn(page, server.url, 'vera', 'vera-password-123');
    await page.goto(`${server.url}/instances/${ids[0]}`);
    await waitUntilLive(page);
    assert.match(await page.textContent('.who'), /vera · viewer/);
    assert.equal(await page.locator('[data-node="address"][data-status="active"]').count(), 1);
    assert.equal(await page.locator('button[data-retry], button[data-cancel], .operations').count(), 0);
    const answer = await page.evaluate(async (id) => {
      const me = await (await fetch('/api/whoami', { method: 'POST' })).json();
      const res = await fetch(`/api/v1/instances/${id}/retry`, {
        method: 'POST', headers: { 'content-type': 'application/json', 'x-csrf-token': me.csrf }, body: '{"node":"address"}',
      });
      return { status: res.status, body: await res.text() };
    }, ids[0]);
    assert.equal(answer.status, 403, answer.body);
    assert.match(answer.body, /operator/);
    // The one refusal in the console is the 403 this test asked for.
    assert.deepEqual(viewerBrowser.problems.filter((p) => !/status of 403/.test(p)), []);
  } finally {
    await viewerBrowser.close();
    await server.stop();
  }
});

/// A page on another origin that frames `src`.
function parentSite(src) {
  return new Promise((resolve) => {
    const site = createServer((_, res) => {
      res.writeHead(200, { 'content-type': 'text/html' });
      res.end(`<!doctype html><title>wiki</title><h1>Team wiki</h1><iframe id="embed" src="${src}" width="1000" height="700"></iframe>`);
    });
    site.listen(0, '127.0.0.1', () => resolve({ url: `http://127.0.0.1:${site.address().port}`, close: () => site.close() }));
  });
}

test('an admin creates an embed link; it renders in an iframe on an allowed origin and is refused on another', async () => {
  // Reserve the allowed wiki's port first: the server must know it at start.
  const allowed = await parentSite('about:blank');
  allowed.close();
  const allowedPort = new URL(allowed.url).port;
  const server = await startServer({ demo: true, origins: [`http://127.0.0.1:${allowedPort}`] });
  const page = await browser.newPage();
  try {
    await page.goto(`${server.url}/admin`);
    await page.waitForSelector('body[data-hydrated="true"]');
    await page.fill('input[name="name"]', 'team wiki');
    await page.fill('input[name="scope"]', 'flow:customer-onboarding');
    await page.click('button:has-text("Create link")');
    const embedUrl = await (await page.waitForSelector('[data-embed-url]')).getAttribute('data-embed-url');
    assert.match(embedUrl, /\/embed\/flows\/customer-onboarding\?token=fle_/);
    await page.waitForSelector('tr[data-token]');

    // The allowed wiki, on the reserved port.
    const wiki = await new Promise((resolve) => {
      const site = createServer((_, res) => {
        res.writeHead(200, { 'content-type': 'text/html' });
        res.end(`<!doctype html><h1>Team wiki</h1><iframe id="embed" src="${embedUrl}" width="1000" height="700"></iframe>`);
      });
      site.listen(Number(allowedPort), '127.0.0.1', () => resolve(site));
    });
    const other = await parentSite(embedUrl);
    try {
      await page.goto(`http://127.0.0.1:${allowedPort}/`);
      const frame = await (await page.waitForSelector('#embed')).contentFrame();
      await frame.waitForSelector('.heatmap [data-node="address"]', { timeout: 20000 });
      await frame.waitForSelector('body[data-hydrated="true"]', { timeout: 20000 });
      assert.equal(await frame.locator('button, form.filters, header.top').count(), 0, 'read-only, minimal chrome');
      await page.screenshot({ path: join(screenshots, 'embed.png') });

      await page.goto(other.url);
      const refused = await (await page.waitForSelector('#embed')).contentFrame();
      // Wait until the frame has finished loading whatever it was allowed to show.
      await refused.waitForLoadState('load');
      assert.equal(await refused.locator('.heatmap').count(), 0, 'another origin may not frame it');
    } finally {
      wiki.close();
      other.close();
    }
    // Revoked, the link stops working.
    await page.goto(`${server.url}/admin`);
    await page.waitForSelector('body[data-hydrated="true"]');
    await page.click('button[data-revoke]');
    await page.waitForFunction(() => !document.querySelector('button[data-revoke]'));
    const res = await fetch(embedUrl);
    assert.equal(res.status, 401);
  } finally {
    await server.stop();
  }
  const problems = browser.problems.filter((p) => !/frame-ancestors|Refused to (display|frame)|status of 401/.test(p));
  assert.deepEqual(problems, []);
});
