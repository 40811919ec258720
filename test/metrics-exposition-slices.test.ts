// /metrics is written in slices so a scrape never holds the app's event loop for long; these
// check that the slices add up to exactly what OpenTelemetry's serializer writes in one call.
import assert from 'node:assert/strict';
import { it } from 'node:test';
import { millisToHrTime } from '@opentelemetry/core';
import { PrometheusSerializer } from '@opentelemetry/exporter-prometheus';
import { writeExposition } from '../dist/export/exposition.js';
import { PoolscopeMetricProducer } from '../dist/export/metric-producer.js';
import { readingsOf } from '../dist/peers/readings.js';
import { OriginRegistry } from '../dist/state/origin-registry.js';
import { ConsumerTable } from '../dist/state/peaks.js';

const serializers = {
  first: new PrometheusSerializer(undefined, false, undefined, false, false),
  rest: new PrometheusSerializer(undefined, false, undefined, true, false),
};

function producerOf(registry: OriginRegistry): PoolscopeMetricProducer {
  const consumer = new ConsumerTable().fromStart('test');
  return new PoolscopeMetricProducer(async () => readingsOf(registry, performance.now(), consumer()), millisToHrTime(Date.now()));
}

/** A registry whose every origin has requests, sockets open and closed, and histogram samples. */
function populated(origins: number, maxOrigins: number): OriginRegistry {
  const registry = new OriginRegistry(maxOrigins, 60_000);
  for (let i = 0; i < origins; i++) {
    const origin = registry.lookup(`${i % 2 === 0 ? 'http' : 'https'}://10.0.${i >> 8}.${i & 255}:${8000 + i}`)!;
    const connection = origin.openConnection(i % 3 === 0 ? '2' : '1.1', undefined, false, 0.001 * (i + 1), 1000);
    for (let request = 0; request < 3; request++) {
      origin.requestStarted();
      origin.requestSent(request > 0, request > 0 ? 0.002 : -1, 0.0001 * request, 1000 + request);
      origin.streamStarted(connection);
      origin.timeToFirstByte[request > 0 ? 1 : 0].record(0.003 * (request + 1));
      origin.streamEnded(connection, 1001 + request);
      origin.requestEnded();
    }
    origin.phasesMeasured([-1, 0.0004, i % 2 === 1 ? 0.002 : -1]);
    if (i % 4 === 0) origin.connectionFailed('ECONNREFUSED');
    if (i % 5 === 0) origin.closeConnection(connection, 5000);
  }
  return registry;
}

async function sliced(registry: OriginRegistry): Promise<{ text: string; turns: number }> {
  const { resourceMetrics } = await producerOf(registry).collect();
  let turns = 0;
  let counting = true;
  const count = (): void => {
    turns++;
    if (counting) setImmediate(count);
  };
  setImmediate(count);
  let text = '';
  await writeExposition(resourceMetrics, serializers, (chunk) => {
    text += chunk;
    return true;
  });
  counting = false;
  return { text, turns };
}

// A collection takes the peaks it reports: each side reads a registry of its own, built alike.

it('writes what the serializer writes in one call, letting the event loop run in between', async () => {
  const { resourceMetrics } = await producerOf(populated(60, 50)).collect();
  const whole = serializers.first.serialize(resourceMetrics);
  const { text, turns } = await sliced(populated(60, 50));
  assert.equal(text, whole);
  assert.ok(text.includes('server_address="_other"'), 'origins past maxOrigins are in');
  assert.ok(turns > 50, `the event loop turned between slices (${turns} times)`);
});

it('writes a small exposition in one piece, and an empty one as the serializer does', async () => {
  for (const build of [() => populated(1, 10), () => new OriginRegistry(10, 60_000)]) {
    const { resourceMetrics } = await producerOf(build()).collect();
    const whole = serializers.first.serialize(resourceMetrics);
    assert.equal((await sliced(build())).text, whole);
  }
});

it('stops writing once the scraper is gone', async () => {
  const { resourceMetrics } = await producerOf(populated(40, 50)).collect();
  let writes = 0;
  await writeExposition(resourceMetrics, serializers, () => {
    writes++;
    return writes < 3;
  });
  assert.equal(writes, 3);
});
