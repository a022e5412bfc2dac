// Conformance on the overview: the share of instances that fit the flow, and the deviation heat
// showing at which step they deviate.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startServer, startBrowser, waitUntilLive, signIn, unique } from './harness.mjs';

let server, browser;
before(async () => {
  server = await startServer();
  browser = await startBrowser();
  const events = [];
  for (let i = 0; i < 4; i++) {
    const key = unique('c');
    events.push({ type: 'RegistrationRequested', key }, { type: 'CreditCheckRequested', key });
    // One in four gets its credit answer without the request having been seen for it: that
    // one has the request, the next one answers a check never asked for.
    if (i === 3) events.push({ type: 'AddressChecked', key });
  }
  await server.post(events);
});
after(async () => {
  await browser?.close();
  await server?.stop();
});

test('the overview shows the share that fits and heats the steps instances deviate at', async () => {
  const page = await browser.newPage();
  await signIn(page, server.url);
  await page.goto(`${server.url}/?flow=customer-onboarding&heat=deviations`);
  await waitUntilLive(page);
  assert.equal(await page.getAttribute('[data-fit-share]', 'data-fit-share'), '75');
  assert.equal(await page.textContent('[data-count="deviating"] .n'), '1');
  assert.ok(await page.$('a[data-heat-mode="deviations"].current'));
  assert.equal(await page.getAttribute('.heatmap [data-node="address"]', 'data-heat'), '0.25', 'one of four deviates at the address check');
  assert.equal(await page.getAttribute('.heatmap [data-node="credit"]', 'data-heat'), '', 'nobody deviates at the credit check');
  assert.match(await page.textContent('.heatmap [data-node="address"]'), /1 deviate \(25%\)/);
  assert.deepEqual(browser.problems, []);
});
