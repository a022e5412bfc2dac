// The overview's first load in headless Chromium, for the bench (server/benches/flowlens.rs): a
// fresh browser profile each time, so nothing is cached, timed from navigation until the app has
// hydrated; and the bytes that came over the wire for it. Prints one JSON line.
//   FLOWLENS_BIN=target/release/flowlens node end2end/first-load.mjs   (FLOWLENS_FIRST_LOADS runs, default 5)
import { startServer, startBrowser } from './tests/harness.mjs';

const runs = Number(process.env.FLOWLENS_FIRST_LOADS || 5);
// The demo signs a local visitor in by itself: the overview opens without the sign-in page.
const server = await startServer({ demo: true });
const times = [];
let bytes = 0;
try {
  for (let i = 0; i < runs; i++) {
    const browser = await startBrowser();
    try {
      const page = await browser.newPage();
      const started = Date.now();
      await page.goto(`${server.url}/`);
      await page.waitForSelector('body[data-hydrated="true"]', { timeout: 30000 });
      times.push(Date.now() - started);
      // The document and every resource it fetched so far, as they came over the wire.
      bytes = await page.evaluate(() => performance.getEntries()
        .filter((e) => typeof e.transferSize === 'number')
        .reduce((sum, e) => sum + e.transferSize, 0));
      if (browser.problems.length) throw new Error(browser.problems.join('\n'));
    } finally {
      await browser.close();
    }
  }
} finally {
  await server.stop();
}
times.sort((a, b) => a - b);
console.log(JSON.stringify({ runs, p50_ms: times[Math.floor((runs - 1) / 2)], max_ms: times[runs - 1], bytes }));
