// Screenshots of a running Flowlens for the README:  node end2end/screenshot.mjs http://127.0.0.1:3000 docs
import { join } from 'node:path';
import { startBrowser, waitUntilLive } from './tests/harness.mjs';

const [url = 'http://127.0.0.1:3000', out = 'docs'] = process.argv.slice(2);
const browser = await startBrowser();
try {
  const page = await browser.newPage();
  // The local demo signs the browser in by itself (loopback only).
  await page.goto(url);
  await waitUntilLive(page);
  await page.screenshot({ path: join(out, 'overview.png') });
  await page.goto(`${url}/instances`);
  await waitUntilLive(page);
  await page.screenshot({ path: join(out, 'instances.png') });
  // The busiest running instance makes the most telling picture.
  const rows = await page.evaluate(async () => (await fetch('/api/v1/instances?status=running&limit=50')).json());
  const pick = rows.sort((a, b) => b.events - a.events || a.waiting_at.length - b.waiting_at.length)[0];
  if (pick) {
    await page.goto(`${url}/instances/${pick.id}`);
    await waitUntilLive(page);
    await page.screenshot({ path: join(out, 'instance.png') });
  }
  console.log(browser.problems.length ? browser.problems.join('\n') : `saved to ${out}/`);
} finally {
  await browser.close();
}
