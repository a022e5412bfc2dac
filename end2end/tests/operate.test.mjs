// Operating instances from the instance page: retry a stuck step and see it complete; cancel.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { startServer, startBrowser, waitUntilLive, screenshots, unique } from './harness.mjs';

let server, browser;
before(async () => {
  server = await startServer({ demo: true });
  browser = await startBrowser();
  mkdirSync(screenshots, { recursive: true });
});
after(async () => {
  await browser?.close();
  await server?.stop();
});

async function stuckOnboarding() {
  const key = unique('op');
  const eleven = new Date(Date.now() - 11 * 60 * 1000).toISOString();
  const res = await server.post([
    { type: 'RegistrationRequested', key, time: eleven },
    { type: 'AddressCheckRequested', key, time: eleven, data: { customerId: key, street: 'Main St 1' } },
    { type: 'CreditCheckRequested', key, time: eleven },
    { type: 'CreditChecked', key },
    { type: 'CriminalRecordCheckRequested', key },
    { type: 'CriminalRecordChecked', key },
  ]);
  return res.instances[0].id;
}

test('an operator retries a stuck check, confirms, and watches it complete', async () => {
  const id = await stuckOnboarding();
  const page = await browser.newPage();
  await page.goto(`${server.url}/instances/${id}`);
  await waitUntilLive(page);
  assert.match(await page.getAttribute('[data-node="address"]', 'class'), /\boverdue\b/);

  await page.click('button[data-retry="address"]');
  assert.match(await page.textContent('.confirm'), /Publish the retry command of “Address check” again\?/);
  await page.click('[data-confirm="yes"]');
  await page.waitForSelector('.outcome.ok', { timeout: 5000 });
  assert.match(await page.textContent('.outcome'), /CheckAddress sent to onboarding-commands/);
  // The demo's address service answers the command; the change is pushed.
  await page.waitForSelector('[data-node="address"][data-status="done"]', { timeout: 10000 });
  await page.waitForSelector('tr[data-action="retry"][data-result="took_effect"]', { timeout: 10000 });
  assert.equal(await page.locator('button[data-retry="address"]').count(), 0, 'nothing left to retry there');
  await page.screenshot({ path: join(screenshots, 'retried.png'), fullPage: true });
  assert.deepEqual(browser.problems, []);
});

test('an operator cancels an instance and sees the compensation go out', async () => {
  const id = await stuckOnboarding();
  const page = await browser.newPage();
  await page.goto(`${server.url}/instances/${id}`);
  await waitUntilLive(page);
  await page.click('button[data-cancel]');
  await page.click('[data-confirm="yes"]');
  await page.waitForSelector('.instance-head [data-status="cancelled"]', { timeout: 10000 });
  assert.equal(await page.getAttribute('tr[data-action="cancel"]', 'data-result'), 'sent');
  // The credit check had completed: its compensation was published too.
  assert.match(await page.textContent('tr[data-action="compensation"]'), /WithdrawCreditInquiry/);
  assert.equal(await page.locator('button[data-cancel]').count(), 0, 'a cancelled instance cannot be cancelled again');
  assert.deepEqual(browser.problems, []);
});

test('an instance with rework shows its visit counts, its returning edge and every visit', async () => {
  const key = unique('rework');
  const t = (s) => new Date(Date.now() - 60_000 + s * 1000).toISOString();
  const res = await server.post([
    { type: 'RegistrationRequested', key, time: t(0) },
    { type: 'AddressCheckRequested', key, time: t(1) },
    { type: 'AddressCheckFailed', key, time: t(2) },
    { type: 'AddressCorrectionRequested', key, time: t(3) },
    { type: 'AddressCorrected', key, time: t(4) },
    { type: 'AddressCheckRequested', key, time: t(5) },
  ]);
  const id = res.instances[0].id;
  const page = await browser.newPage();
  await page.goto(`${server.url}/instances/${id}`);
  await waitUntilLive(page);
  // The address check runs a second time: it is active and wears "2×".
  assert.equal(await page.getAttribute('[data-node="address"]', 'data-visits'), '2');
  assert.equal(await page.getAttribute('[data-node="address"]', 'data-status'), 'active');
  assert.equal((await page.textContent('[data-node="address"] .visits')).trim(), '2×');
  assert.equal(await page.locator('[data-node="credit"] .visits').count(), 0, 'steps that ran once carry no count');
  // The edge back from the correction is drawn as a taken returning edge.
  const back = page.locator('polyline.edge.back[data-from="correction"][data-to="address"]');
  assert.equal(await back.count(), 1);
  assert.match(await back.getAttribute('class'), /\btaken\b/);
  // Every visit is listed with its outcome.
  const rows = page.locator('.visits-list tr[data-node="address"]');
  assert.equal(await rows.count(), 2);
  assert.match(await rows.nth(0).textContent(), /1 of 2.*failed/);
  assert.match(await rows.nth(1).textContent(), /2 of 2.*running/);
  // The answer arrives live: the second visit completes.
  await server.post([{ type: 'AddressChecked', key }]);
  await page.waitForSelector('[data-node="address"][data-status="done"]', { timeout: 10000 });
  await page.screenshot({ path: join(screenshots, 'rework.png'), fullPage: true });
  // The list filters it as rework.
  await page.goto(`${server.url}/instances?rework=true&key=${key}`);
  await page.waitForSelector(`text=${key}`, { timeout: 5000 });
  assert.deepEqual(browser.problems, []);
});
