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
