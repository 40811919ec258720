// poolscope's resource is built without @opentelemetry/resources (see resourceAttributes()): it
// must come out as that package builds it from the same environment.
import assert from 'node:assert/strict';
import { it } from 'node:test';
import { defaultResource, detectResources, envDetector } from '@opentelemetry/resources';
import { resourceAttributes } from '../dist/export/resource.js';

/** What OpenTelemetry's default resource merged with its environment detector holds for `value`. */
function openTelemetrys(value: string): Record<string, unknown> {
  const saved = process.env.OTEL_RESOURCE_ATTRIBUTES;
  process.env.OTEL_RESOURCE_ATTRIBUTES = value;
  try {
    return { ...defaultResource().merge(detectResources({ detectors: [envDetector] })).attributes };
  } finally {
    if (saved === undefined) delete process.env.OTEL_RESOURCE_ATTRIBUTES;
    else process.env.OTEL_RESOURCE_ATTRIBUTES = saved;
  }
}

it('holds what OpenTelemetry reads from OTEL_RESOURCE_ATTRIBUTES, good or bad, beside telemetry.sdk.*', async () => {
  const inputs = [
    '', 'team=pools', ' a = 1 , b=two%20words,, ', 'k%3Dey=v%2Cal%C3%BCe', 'service.name=from-env,x=y',
    'broken', 'a=1,b', 'a=%E0%A4%A', `long=${'v'.repeat(256)}`, '=empty-key',
  ];
  const warnings: string[] = [];
  const onWarning = (warning: Error & { code?: string }) => warnings.push(warning.message);
  process.on('warning', onWarning);
  try {
    for (const value of inputs) {
      const ours: Record<string, unknown> = { ...resourceAttributes('svc', { OTEL_RESOURCE_ATTRIBUTES: value }) };
      const theirs = openTelemetrys(value);
      // service.name follows poolscope's own order, checked below.
      delete ours['service.name'];
      delete theirs['service.name'];
      assert.deepEqual(ours, theirs, `OTEL_RESOURCE_ATTRIBUTES=${value}`);
    }
    // process.emitWarning() tells its listeners on the next tick.
    await new Promise((resolve) => setImmediate(resolve));
  } finally {
    process.off('warning', onWarning);
  }
  assert.ok(warnings.some((message) => message.includes('OTEL_RESOURCE_ATTRIBUTES')), 'a bad value is said');
});

it('takes service.name from the option, else OTEL_RESOURCE_ATTRIBUTES, else the app package, else unknown_service', () => {
  assert.equal(resourceAttributes('option', { OTEL_RESOURCE_ATTRIBUTES: 'service.name=env' })['service.name'], 'option');
  assert.equal(resourceAttributes(undefined, { OTEL_RESOURCE_ATTRIBUTES: 'service.name=env' })['service.name'], 'env');
  // The test runner's entry script is in this package.
  assert.equal(resourceAttributes(undefined, {})['service.name'], 'poolscope');
  const argv1 = process.argv[1];
  process.argv[1] = '/';
  try {
    assert.equal(resourceAttributes(undefined, {})['service.name'], `unknown_service:${process.argv0}`);
  } finally {
    process.argv[1] = argv1!;
  }
});
