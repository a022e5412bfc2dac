// Mining a topic nobody modelled, turned on from the Discovery page: its events, dead-lettered
// before, become the cases of a discovered flow from the next event on.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { cpSync, existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startServer, startBrowser, waitUntilLive, signIn, unique } from './harness.mjs';

let server, browser, flows;
before(async () => {
  // A flows directory of its own: the page saves the new flow there.
  flows = mkdtempSync(join(tmpdir(), 'flowlens-e2e-flows-'));
  cpSync(join(import.meta.dirname, '..', '..', 'flows'), flows, { recursive: true });
  server = await startServer({ flows });
  browser = await startBrowser();
});
after(async () => {
  await browser?.close();
  await server?.stop();
  rmSync(flows, { recursive: true, force: true });
});

test('an admin turns discovery on for a topic; its next events are mined', async () => {
  const page = await browser.newPage();
  await signIn(page, server.url);
  await page.goto(`${server.url}/discovery?flow=customer-onboarding`);
  await waitUntilLive(page);
  await page.fill('[data-turn-on] input[name="channel"]', 'refunds');
  await page.fill('[data-turn-on] input[name="key"]', '/refundId');
  await page.fill('[data-turn-on] input[name="id"]', 'refunds');
  await page.fill('[data-turn-on] input[name="name"]', 'Refunds (mined)');
  await page.click('[data-turn-on] button[type="submit"]');
  await page.waitForSelector('[data-discovering="refunds"]');
  assert.ok(existsSync(join(flows, 'refunds.toml')), 'saved in the flows directory');

  const refund = unique('r');
  const events = [
    { id: `${refund}-1`, type: 'RefundRequested', data: { refundId: refund }, time: '2026-11-02T09:00:00Z' },
    { id: `${refund}-2`, type: 'RefundPaid', data: { refundId: refund }, time: '2026-11-02T09:30:00Z' },
  ];
  const res = await fetch(`${server.url}/api/v1/events?channel=refunds`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', authorization: `Bearer ${await server.token()}` },
    body: JSON.stringify(events),
  });
  assert.equal((await res.json()).stored, 2);
  await page.click('[data-discovering="refunds"] a');
  await page.waitForURL(/flow=refunds/);
  await page.waitForFunction(() => /^1 cases/.test(document.querySelector('[data-summary]')?.textContent || ''));
  assert.ok(await page.$('.discovery-map [data-node="RefundPaid"]'));
  // Turning it on twice says why not.
  await page.fill('[data-turn-on] input[name="channel"]', 'refunds-2');
  await page.fill('[data-turn-on] input[name="id"]', 'refunds');
  await page.fill('[data-turn-on] input[name="name"]', 'Again');
  await page.click('[data-turn-on] button[type="submit"]');
  await page.waitForFunction(() => /there is a flow `refunds` already/.test(document.querySelector('[data-turn-on] .outcome.error')?.textContent || ''));
  // The refusal is the one thing the browser may log: its 409.
  assert.deepEqual(browser.problems.filter((p) => !p.includes('status of 409')), []);
});
