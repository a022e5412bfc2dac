// BPMN out, read back by bpmn.io's own parser (bpmn-moddle): every shipped flow exports as BPMN 2.0
// that parses without a warning, and its diagram has a shape or edge for every element.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { readdirSync, readFileSync, writeFileSync, copyFileSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { BpmnModdle } from 'bpmn-moddle';
import { startServer, startBrowser, signIn, waitUntilLive, unique } from './harness.mjs';

const repo = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
const bin = process.env.FLOWLENS_BIN || join(repo, 'target', 'debug', 'flowlens');

async function check(xml, what) {
  const { rootElement, warnings } = await new BpmnModdle().fromXML(xml);
  assert.deepEqual(warnings.map((w) => w.message), [], `${what}: bpmn-moddle warned`);
  const process = rootElement.rootElements.find((e) => e.$type === 'bpmn:Process');
  const elements = process.flowElements;
  assert.ok(elements.some((e) => e.$type === 'bpmn:StartEvent'), `${what}: a start event`);
  assert.ok(elements.some((e) => e.$type === 'bpmn:EndEvent'), `${what}: an end event`);
  for (const flow of elements.filter((e) => e.$type === 'bpmn:SequenceFlow')) {
    assert.ok(flow.sourceRef && flow.targetRef, `${what}: ${flow.id} connects two elements`);
  }
  const drawn = new Set(rootElement.diagrams[0].plane.planeElement.map((d) => d.bpmnElement?.id));
  const missing = elements.filter((e) => !drawn.has(e.id)).map((e) => e.id);
  assert.deepEqual(missing, [], `${what}: elements without a shape or edge`);
  return elements;
}

test('every shipped flow exports as BPMN that bpmn.io reads without warnings, every element drawn', async () => {
  const files = readdirSync(join(repo, 'flows')).filter((f) => f.endsWith('.bpmn') || (f.endsWith('.toml') && !f.endsWith('.bpmn.toml')));
  assert.ok(files.length >= 2);
  for (const file of files) {
    const xml = execFileSync(bin, ['export-bpmn', join(repo, 'flows', file)], { encoding: 'utf8' });
    const elements = await check(xml, file);
    const tasks = elements.filter((e) => e.$type === 'bpmn:ServiceTask');
    assert.ok(tasks.length >= 3, `${file}: its tasks`);
  }
  // The onboarding's checks carry their 10-minute SLA as boundary timers (the address correction
  // its hour); the address check's failure leaves it by an error event.
  const xml = execFileSync(bin, ['export-bpmn', join(repo, 'flows', 'customer-onboarding.toml')], { encoding: 'utf8' });
  const boundary = (await check(xml, 'onboarding')).filter((e) => e.$type === 'bpmn:BoundaryEvent');
  const timers = boundary.filter((e) => e.eventDefinitions[0].$type === 'bpmn:TimerEventDefinition');
  assert.deepEqual(timers.map((t) => t.eventDefinitions[0].timeDuration.body), ['PT10M', 'PT1H', 'PT10M', 'PT10M']);
  const errors = boundary.filter((e) => e.eventDefinitions[0].$type === 'bpmn:ErrorEventDefinition');
  assert.deepEqual(errors.map((e) => [e.attachedToRef.id, e.outgoing[0].targetRef.id]), [['address', 'correction']]);
});

test('the API serves the same BPMN as a download', async () => {
  const server = await startServer();
  try {
    const res = await fetch(`${server.url}/api/v1/flows/retail-order/bpmn`, { headers: { authorization: `Bearer ${await server.token()}` } });
    assert.equal(res.status, 200);
    assert.match(res.headers.get('content-disposition'), /attachment; filename="retail-order.bpmn"/);
    await check(await res.text(), 'retail-order over HTTP');
  } finally {
    await server.stop();
  }
});

test('a BPMN-born flow is drawn at its own coordinates, on the overview and on its instances', async () => {
  // A copy of the shipped retail model with the shipping step moved 150 px down and 40 px right
  // in its diagram interchange: Flowlens's own layout would never put it there.
  const dir = mkdtempSync(join(tmpdir(), 'flowlens-bpmn-'));
  for (const f of ['customer-onboarding.toml', 'retail-order.bpmn.toml']) copyFileSync(join(repo, 'flows', f), join(dir, f));
  const moved = readFileSync(join(repo, 'flows', 'retail-order.bpmn'), 'utf8').replace(
    /(<bpmndi:BPMNShape id="ship_di" bpmnElement="ship">\s*<dc:Bounds x=")([\d.]+)(" y=")([\d.]+)/,
    (_, a, x, b, y) => `${a}${Number(x) + 40}${b}${Number(y) + 150}`,
  );
  writeFileSync(join(dir, 'retail-order.bpmn'), moved);
  const { rootElement } = await new BpmnModdle().fromXML(moved);
  const bounds = Object.fromEntries(rootElement.diagrams[0].plane.planeElement.filter((e) => e.bounds).map((e) => [e.bpmnElement.id, e.bounds]));
  const want = { dx: bounds.ship.x - bounds.payment.x, dy: bounds.ship.y - bounds.payment.y };
  assert.ok(want.dy >= 150, 'the shipping step is well below the payment');

  const server = await startServer({ flows: dir });
  const browser = await startBrowser();
  try {
    const page = await browser.newPage();
    await signIn(page, server.url);
    const drawnOffset = async () => {
      const at = async (id) => ({
        x: Number(await page.getAttribute(`[data-node="${id}"] rect`, 'x')),
        y: Number(await page.getAttribute(`[data-node="${id}"] rect`, 'y')),
      });
      const [pay, ship] = [await at('payment'), await at('ship')];
      return { dx: ship.x - pay.x, dy: ship.y - pay.y };
    };
    await page.goto(`${server.url}/?flow=retail-order`);
    await waitUntilLive(page);
    const overview = await drawnOffset();
    assert.ok(Math.abs(overview.dx - want.dx) < 0.5 && Math.abs(overview.dy - want.dy) < 0.5, `overview: ${JSON.stringify(overview)} vs ${JSON.stringify(want)}`);

    const orderId = unique('order');
    const res = await server.post([
      { type: 'OrderPlaced', data: { orderId } },
      { type: 'PaymentRequested', data: { orderId } },
      { type: 'PaymentReceived', data: { orderId } },
      { type: 'FetchGoodsRequested', data: { orderId } },
    ]);
    await page.goto(`${server.url}/instances/${res.instances[0].id}`);
    await waitUntilLive(page);
    assert.equal(await page.getAttribute('[data-node="fetch"]', 'data-status'), 'active');
    const instance = await drawnOffset();
    assert.ok(Math.abs(instance.dx - want.dx) < 0.5 && Math.abs(instance.dy - want.dy) < 0.5, `instance: ${JSON.stringify(instance)}`);
    assert.deepEqual(browser.problems, []);
  } finally {
    await browser.close();
    await server.stop();
  }
});
