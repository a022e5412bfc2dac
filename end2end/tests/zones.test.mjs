// Times in the reader's zone: a browser in New York reads event times in its own zone (with
// daylight saving), switches to UTC and keeps that choice; the list says how long ago an
// instance changed, with the exact time on hover.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startServer, startBrowser, waitUntilLive, signIn, unique } from './harness.mjs';

let server, browser, id;
before(async () => {
  server = await startServer();
  browser = await startBrowser({ timezoneId: 'America/New_York' });
  const key = unique('z');
  // One in summer (UTC−4 in New York), one in winter (UTC−5).
  await server.post([
    { type: 'RegistrationRequested', key, time: '2019-06-10T08:01:00Z' },
    { type: 'AddressCheckRequested', key, time: '2019-12-10T08:02:00Z' },
  ]);
  id = (await server.api('GET', `/api/v1/instances?key=${key}`))[0].id;
});
after(async () => {
  await browser?.close();
  await server?.stop();
});

const shown = (page, prefix) => page.textContent(`.timeline time[datetime^="${prefix}"]`);

test("event times read in the browser's zone, or in UTC when chosen, and the choice stays", async () => {
  const page = await browser.newPage();
  await signIn(page, server.url);
  await page.goto(`${server.url}/instances/${id}`);
  await waitUntilLive(page);
  await page.waitForFunction(() => document.querySelector('.timeline time[data-zone]')?.dataset.zone === 'local');
  assert.equal((await shown(page, '2019-06-10T08:01')).trim(), '2019-06-10 04:01:00', 'summer: UTC−4');
  assert.equal((await shown(page, '2019-12-10T08:02')).trim(), '2019-12-10 03:02:00', 'winter: UTC−5');
  const title = await page.getAttribute('.timeline time[datetime^="2019-06-10T08:01"]', 'title');
  assert.equal(title, '2019-06-10 08:01:00 UTC · 2019-06-10 04:01:00 UTC−04:00');
  assert.match(await page.textContent('[data-zone-pick="local"]'), /^Local \(UTC−0[45]:00\)$/);

  await page.click('[data-zone-pick="utc"]');
  await page.waitForFunction(() => document.querySelector('.timeline time[data-zone]')?.dataset.zone === 'utc');
  assert.equal((await shown(page, '2019-06-10T08:01')).trim(), '2019-06-10 08:01:00');
  await page.reload();
  await waitUntilLive(page);
  assert.equal((await shown(page, '2019-12-10T08:02')).trim(), '2019-12-10 08:02:00', 'UTC stays chosen');
  assert.ok(await page.$('[data-zone-pick="utc"].current'));
  await page.click('[data-zone-pick="local"]');
  await page.waitForFunction(() => document.querySelector('.timeline time[data-zone]')?.dataset.zone === 'local');
  assert.deepEqual(browser.problems, []);
});

test('the list says how long ago each instance changed, exactly on hover', async () => {
  const page = await browser.newPage();
  await signIn(page, server.url);
  await page.goto(`${server.url}/instances`);
  await waitUntilLive(page);
  const ago = page.locator('tbody time[data-ago]').first();
  assert.match(await ago.textContent(), /^(just now|\d+ s ago)$/, 'posted a moment ago');
  assert.match(await ago.getAttribute('title'), /^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d UTC · .* UTC−0[45]:00$/);
  assert.deepEqual(browser.problems, []);
});
