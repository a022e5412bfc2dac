// The walking skeleton, end to end: server-rendered pages hydrate in Chromium and follow pushed
// changes without a reload.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { startServer, startBrowser, waitUntilLive, screenshots, unique, signIn } from './harness.mjs';

let server, browser;
before(async () => {
  server = await startServer();
  browser = await startBrowser();
  // Without the demo nobody is signed in automatically: sign in as the first admin.
  await signIn(await browser.newPage(), server.url);
  mkdirSync(screenshots, { recursive: true });
});
after(async () => {
  await browser?.close();
  await server?.stop();
});

test('the instance page redraws its diagram when the next event arrives, without a reload', async () => {
  const key = unique('e2e');
  const started = await server.post([
    { type: 'RegistrationRequested', key, data: { customerId: key, name: 'Ada' } },
    { type: 'AddressCheckRequested', key },
    { type: 'CreditCheckRequested', key },
    { type: 'CriminalRecordCheckRequested', key },
  ]);
  const id = started.instances[0].id;
  const page = await browser.newPage();
  await page.goto(`${server.url}/instances/${id}`);
  await waitUntilLive(page);
  assert.equal(await page.getAttribute('[data-node="address"]', 'data-status'), 'active');
  assert.equal(await page.getAttribute('[data-node="registration"]', 'data-status'), 'done');
  assert.equal(await page.locator('ol.timeline li').count(), 4);

  // A marker on the window survives only if the page is not reloaded.
  await page.evaluate(() => { window.__sameDocument = true; });
  await server.post({ type: 'AddressChecked', key, data: { result: 'ok' } });
  await page.waitForSelector('[data-node="address"][data-status="done"]', { timeout: 5000 });
  assert.equal(await page.locator('ol.timeline li').count(), 5);
  assert.equal(await page.textContent('ol.timeline li:last-child .event-type'), 'AddressChecked');
  assert.equal(await page.evaluate(() => window.__sameDocument), true, 'the page was not reloaded');
  await page.screenshot({ path: join(screenshots, 'instance.png'), fullPage: true });
  assert.deepEqual(browser.problems, []);
});

test('the instance list shows a new instance as soon as it starts', async () => {
  const page = await browser.newPage();
  await page.goto(`${server.url}/instances`);
  await waitUntilLive(page);
  const key = unique('list');
  assert.equal(await page.locator(`tr[data-key="${key}"]`).count(), 0);
  await server.post({ type: 'RegistrationRequested', key });
  const row = page.locator(`tr[data-key="${key}"]`);
  await row.waitFor({ timeout: 5000 });
  assert.equal(await row.locator('[data-status]').textContent(), 'running');
  await server.post({ type: 'RegistrationRejected', key });
  await page.waitForSelector(`tr[data-key="${key}"] [data-status="failed"]`, { timeout: 5000 });
  // Following the link is client-side navigation to the instance page.
  await row.locator('a').click();
  await page.waitForSelector('[data-node="rejected"][data-status="done"]');
  await page.screenshot({ path: join(screenshots, 'list-then-instance.png') });
  assert.deepEqual(browser.problems, []);
});

test('payloads render as text, never as markup', async () => {
  const key = unique('xss');
  const res = await server.post({
    type: 'RegistrationRequested', key, data: { note: '<script>window.__owned = 1</script><b>bold</b>' },
  });
  const page = await browser.newPage();
  await page.goto(`${server.url}/instances/${res.instances[0].id}`);
  await waitUntilLive(page);
  const payload = await page.textContent('pre.payload');
  assert.match(payload, /<script>window.__owned = 1<\/script><b>bold<\/b>/);
  assert.equal(await page.locator('pre.payload b').count(), 0);
  assert.equal(await page.evaluate(() => window.__owned), undefined);
});

test('a check past its SLA is shown overdue in the list and red on the diagram', async () => {
  const key = unique('stuck');
  const eleven = new Date(Date.now() - 11 * 60 * 1000).toISOString();
  const res = await server.post([
    { type: 'RegistrationRequested', key, time: eleven },
    { type: 'AddressCheckRequested', key, time: eleven },
    { type: 'CreditCheckRequested', key },
    { type: 'CriminalRecordCheckRequested', key },
  ]);
  const page = await browser.newPage();
  await page.goto(`${server.url}/instances?status=running`);
  await waitUntilLive(page);
  const sla = page.locator(`tr[data-key="${key}"] .sla`);
  assert.equal(await sla.getAttribute('data-overdue'), 'true');
  assert.match(await sla.textContent(), /^overdue 1m \d\ds$/);
  await page.goto(`${server.url}/instances/${res.instances[0].id}`);
  await waitUntilLive(page);
  assert.match(await page.getAttribute('[data-node="address"]', 'class'), /\boverdue\b/);
  assert.doesNotMatch(await page.getAttribute('[data-node="credit"]', 'class'), /\boverdue\b/);
  assert.match(await page.textContent('[data-node="credit"] .timer'), /^due in 9m \d\ds$/);
  await page.screenshot({ path: join(screenshots, 'stuck.png') });
  assert.deepEqual(browser.problems, []);
});

test('dead letters are listed with their reason, raw bytes escaped', async () => {
  await server.post({ type: 'InvoiceSent', key: 'x', data: { note: '<img src=x onerror="window.__owned=1">' } });
  const page = await browser.newPage();
  await page.goto(server.url);
  await waitUntilLive(page);
  await page.click('a[href="/dead-letters"]');
  await page.waitForSelector('.dead-letters td.reason');
  assert.match(await page.textContent('.dead-letters td.reason'), /no flow handles events of type `InvoiceSent`/);
  assert.match(await page.textContent('.dead-letters pre.payload'), /<img src=x onerror=/);
  assert.equal(await page.locator('.dead-letters img').count(), 0);
  assert.equal(await page.evaluate(() => window.__owned), undefined);
  assert.deepEqual(browser.problems, []);
});
