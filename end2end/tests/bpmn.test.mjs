// BPMN out, read back by bpmn.io's own parser (bpmn-moddle): every shipped flow exports as BPMN 2.0
// that parses without a warning, and its diagram has a shape or edge for every element.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { readdirSync } from 'node:fs';
import { join, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { BpmnModdle } from 'bpmn-moddle';
import { startServer } from './harness.mjs';

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
  const files = readdirSync(join(repo, 'flows')).filter((f) => f.endsWith('.toml'));
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
