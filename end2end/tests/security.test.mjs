// The strict script policy in a real browser: every screen hydrates under a CSP whose script-src
// has this response's nonce and no 'unsafe-inline', and a script injected into the page does not run.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startServer, startBrowser, waitUntilLive, unique } from './harness.mjs';

let server, browser;
before(async () => {
  server = await startServer({ demo: true });
  browser = await startBrowser();
});
after(async () => {
  await browser?.close();
  await server?.stop();
});

test('every screen hydrates under a nonce-only script policy, and an injected inline script does not run', async () => {
  const key = unique('csp');
  const { instances } = await server.post([
    { type: 'RegistrationRequested', key, data: { note: '<script>window.__fromPayload = 1</script>' } },
    { type: 'AddressCheckRequested', key },
  ]);
  const id = instances[0].id;
  const embed = await server.api('POST', '/api/v1/tokens', { name: 'csp', embed: 'flow:customer-onboarding' });
  const screens = ['/', '/instances', `/instances/${id}`, '/dead-letters', '/admin', embed.embed_path];
  const live = ['/', '/instances', `/instances/${id}`];
  const page = await browser.newPage();
  for (const path of screens) {
    const violations = [];
    const response = await page.goto(`${server.url}${path}`);
    const csp = response.headers()['content-security-policy'];
    const scripts = csp.split(';').map((d) => d.trim()).find((d) => d.startsWith('script-src'));
    assert.match(scripts, /'nonce-[A-Za-z0-9_-]+'/, `${path}: ${csp}`);
    assert.doesNotMatch(scripts, /unsafe-inline/, `${path}: ${csp}`);
    await page.waitForSelector('body[data-hydrated="true"]', { timeout: 20000 });
    // Screens that follow changes have their push connection open, under the same policy.
    if (live.includes(path)) await waitUntilLive(page);
    // An attacker's inline script, put into the page after it loaded: the policy stops it.
    const ran = await page.evaluate(async () => {
      window.__injected = 0;
      const seen = new Promise((resolve) => document.addEventListener('securitypolicyviolation', (e) => resolve(e.violatedDirective), { once: true }));
      const s = document.createElement('script');
      s.textContent = 'window.__injected = 1';
      document.body.appendChild(s);
      const directive = await Promise.race([seen, new Promise((r) => setTimeout(() => r('none'), 2000))]);
      return { injected: window.__injected, payload: window.__fromPayload, directive };
    });
    violations.push(ran.directive);
    assert.equal(ran.injected, 0, `${path}: an injected inline script ran`);
    assert.equal(ran.payload, undefined, `${path}: a payload's script ran`);
    assert.match(ran.directive, /script-src/, `${path}: the browser reported the refused script`);
  }
  // The app's own scripts ran everywhere (hydrated); the only refusals were the injected ones.
  const problems = browser.problems.filter((p) => !/Content Security Policy|Refused to execute inline script/.test(p));
  assert.deepEqual(problems, []);
});
