// History and discovery: events from 2019 (as a replayed log brings them) show in the overview
// with an absolute range, and the discovery page draws the mined process with a slider that
// hides the rare paths.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { startServer, startBrowser, waitUntilLive, signIn, unique } from './harness.mjs';

let server, browser;
before(async () => {
  server = await startServer();
  browser = await startBrowser();
  // 20 onboardings in June 2019 the usual way, 2 with an address correction (a rare loop).
  const events = [];
  const day = Date.parse('2019-06-10T08:00:00Z');
  for (let i = 0; i < 22; i++) {
    const key = unique('h');
    let t = day + i * 3_600_000;
    const at = () => new Date((t += 60_000)).toISOString();
    events.push({ type: 'RegistrationRequested', key, time: at() });
    for (const r of ['AddressCheckRequested', 'CreditCheckRequested', 'CriminalRecordCheckRequested']) events.push({ type: r, key, time: at() });
    if (i >= 20) {
      events.push({ type: 'AddressCheckFailed', key, time: at() }, { type: 'AddressCorrectionRequested', key, time: at() },
        { type: 'AddressCorrected', key, time: at() }, { type: 'AddressCheckRequested', key, time: at() });
    }
    for (const a of ['AddressChecked', 'CreditChecked', 'CriminalRecordChecked', 'CustomerCreated']) events.push({ type: a, key, time: at() });
  }
  const res = await server.post(events);
  assert.equal(res.stored, events.length);
});
after(async () => {
  await browser?.close();
  await server?.stop();
});

test('history shows where it happened: the overview with an absolute range', async () => {
  const page = await browser.newPage();
  await signIn(page, server.url);
  await page.goto(`${server.url}/?flow=customer-onboarding`);
  await waitUntilLive(page);
  assert.equal(await page.textContent('[data-count="completed"] .n'), '0', 'nothing in the last hour');
  await page.fill('form[data-range-form] input[name="from"]', '2019-06-01');
  await page.fill('form[data-range-form] input[name="to"]', '2019-06-30');
  await Promise.all([page.waitForURL(/from=2019-06-01/), page.click('form[data-range-form] button[type="submit"]')]);
  await page.waitForFunction(() => document.querySelector('[data-count="completed"] .n')?.textContent === '22');
  assert.ok(Number(await page.getAttribute('[data-total-events]', 'data-total-events')) >= 22 * 8, 'the throughput chart holds the events of June 2019');
  assert.ok(await page.$('form.window.current'), 'the chosen window is marked');
  // A range that holds none of it shows none of it.
  await page.goto(`${server.url}/?flow=customer-onboarding&range=2019-07-01..2019-07-31`);
  await waitUntilLive(page);
  assert.equal(await page.textContent('[data-count="completed"] .n'), '0');
  assert.deepEqual(browser.problems, []);
});

test('the discovery page draws the mined process; the slider hides the rare paths', async () => {
  const page = await browser.newPage();
  await signIn(page, server.url);
  await page.goto(`${server.url}/discovery?flow=customer-onboarding`);
  await waitUntilLive(page);
  assert.match(await page.textContent('[data-summary]'), /22 cases, 2 variants/);
  const nodes = () => page.locator('.discovery-map [data-node]').count();
  assert.equal(await nodes(), 11 + 2, 'every activity, a start and an end');
  assert.equal(await page.getAttribute('.discovery-map [data-node="RegistrationRequested"]', 'data-heat'), '22');
  assert.ok(await page.$('.discovery-map .edge.back'), 'the correction loop returns below');
  await page.$eval('[data-hide-slider]', (s) => { s.value = '50'; s.dispatchEvent(new Event('change', { bubbles: true })); });
  await page.waitForURL(/hide=50/);
  await page.waitForFunction(() => document.querySelectorAll('.discovery-map [data-node]').length === 10);
  assert.equal(await page.$('.discovery-map [data-node="AddressCorrected"]'), null, 'the rare correction is hidden');
  assert.match(await page.textContent('[data-shown]'), /^8 of 11 activities/);
  await page.click('a[data-heat-mode="time"]');
  await page.waitForURL(/heat=time/);
  await page.waitForFunction(() => /waits/.test(document.querySelector('.discovery-map [data-node="CustomerCreated"] .figure')?.textContent || ''));
  assert.equal(await page.locator('tr.variant').count(), 2);
  // Only the cases started on 10 June (the first 16; the rest started after midnight UTC).
  await page.fill('form[data-range-form] input[name="from"]', '2019-06-10');
  await page.fill('form[data-range-form] input[name="to"]', '2019-06-10');
  await Promise.all([page.waitForURL(/from=2019-06-10/), page.click('form[data-range-form] button[type="submit"]')]);
  await page.waitForFunction(() => /^16 cases/.test(document.querySelector('[data-summary]')?.textContent || ''));
  assert.ok(await page.$('form.window.current'));
  await Promise.all([page.waitForURL((u) => !u.search.includes('from=')), page.click('a[data-range="all"]')]);
  await page.waitForFunction(() => /^22 cases/.test(document.querySelector('[data-summary]')?.textContent || ''));
  // Save as flow: what is shown (the rare loop hidden) as a flow file that loads.
  assert.equal(await page.getAttribute('a[data-save="toml"]', 'href'), '/api/v1/flows/customer-onboarding/mined.toml?hide=50');
  const [saved] = await Promise.all([page.waitForEvent('download'), page.click('a[data-save="toml"]')]);
  assert.equal(saved.suggestedFilename(), 'customer-onboarding.toml');
  const toml = readFileSync(await saved.path(), 'utf8');
  assert.match(toml, /^version = 2$/m);
  assert.ok(!toml.includes('AddressCorrected') && toml.includes('success = "CustomerCreated"'), toml);
  // The events as XES for other tools: every case, every event.
  const [xes] = await Promise.all([page.waitForEvent('download'), page.click('a[data-download="xes"]')]);
  const log = readFileSync(await xes.path(), 'utf8');
  assert.equal((log.match(/<trace>/g) || []).length, 22);
  assert.equal((log.match(/<event>/g) || []).length, 22 * 8 + 2 * 4);
  assert.deepEqual(browser.problems, []);
});

test('the instance list downloads as CSV: every row that matches the filter', async () => {
  const page = await browser.newPage();
  await signIn(page, server.url);
  await page.goto(`${server.url}/instances?status=completed&limit=5`);
  await waitUntilLive(page);
  assert.match(await page.getAttribute('a[data-download="csv"]', 'href'), /^\/api\/v1\/instances\.csv\?status=completed$/);
  const [download] = await Promise.all([page.waitForEvent('download'), page.click('a[data-download="csv"]')]);
  assert.equal(download.suggestedFilename(), 'instances.csv');
  const text = readFileSync(await download.path(), 'utf8');
  const lines = text.trim().split(/\r?\n/);
  assert.equal(lines[0], 'id,flow,version,key,status,waiting_at,started_at,updated_at,events,due_at,reworked');
  assert.equal(lines.length, 1 + 22, 'all 22, not the page of 5');
  assert.ok(lines.slice(1).every((l) => l.split(',')[4] === 'completed' && l.split(',')[6].startsWith('2019-06-')), lines[1]);
  assert.deepEqual(browser.problems, []);
});
