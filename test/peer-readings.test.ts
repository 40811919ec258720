// Adding up the readings of several threads or processes: plain data, no thread needed.
import assert from 'node:assert/strict';
import { it } from 'node:test';
import { mergeReadings, cumulativeOnly, readingsOf } from '../dist/peers/readings.js';
import { OriginRegistry } from '../dist/state/origin-registry.js';
import { streamStarted } from '../dist/state/origin-stats.js';

/** A registry with `requests` sent on one socket to each origin, `reused` of them on a reused socket. */
function registryWith(origins: string[], requests: number, streams: number): OriginRegistry {
  const registry = new OriginRegistry(10, 60_000);
  for (const raw of origins) {
    const origin = registry.lookup(raw)!;
    const connection = origin.openConnection('1.1', false, 0.001, 0);
    for (let i = 0; i < requests; i++) {
      origin.requestSent(connection, i > 0, -1, 0.002, 1000);
      origin.requestEnded(false, connection, 1000);
    }
    for (let i = 0; i < streams; i++) streamStarted(connection);
  }
  return registry;
}

const value = (readings: ReturnType<typeof readingsOf>, metric: string, host: string, extra: Record<string, unknown> = {}) =>
  readings.values.filter((r) => r.metric === metric && r.attributes['server.address'] === host &&
    Object.entries(extra).every(([k, v]) => r.attributes[k] === v)).map((r) => r.value);

it('adds counters and histograms, takes the largest streams peak and the ratio over all requests', () => {
  const a = readingsOf(registryWith(['http://a.example'], 4, 1), 1000, undefined);
  const b = readingsOf(registryWith(['http://a.example'], 2, 3), 1000, undefined);
  const merged = mergeReadings([a, b], 10);
  assert.deepEqual(value(merged, 'requests', 'a.example', { 'undici.connection.reused': false }), [2]);
  assert.deepEqual(value(merged, 'requests', 'a.example', { 'undici.connection.reused': true }), [4]);
  assert.deepEqual(value(merged, 'connectionsOpened', 'a.example'), [2]);
  assert.deepEqual(value(merged, 'streamsPeak', 'a.example'), [3]);
  assert.deepEqual(value(merged, 'reuseRatio', 'a.example'), [4 / 6]);
  const queue = merged.histograms.find((h) => h.metric === 'timeInQueue')!;
  assert.equal(queue.count, 6);
  assert.ok(Math.abs(queue.sum - 0.012) < 1e-12);
});

it('folds origins past maxOrigins into _other, and an ended peer keeps only its counters and histograms', () => {
  const a = readingsOf(registryWith(['http://a.example', 'http://b.example'], 1, 0), 1000, undefined);
  const b = readingsOf(registryWith(['http://c.example'], 3, 0), 1000, undefined);
  const merged = mergeReadings([a, b], 2);
  const hosts = new Set(merged.values.map((r) => r.attributes['server.address']));
  assert.deepEqual([...hosts].sort(), ['_other', 'a.example', 'b.example']);
  assert.deepEqual(value(merged, 'requests', '_other', { 'undici.connection.reused': false }), [1]);
  const ended = cumulativeOnly(b);
  assert.ok(ended.values.every((r) => r.metric !== 'openConnections' && r.metric !== 'activeRequests'));
  assert.ok(ended.values.some((r) => r.metric === 'requests'));
  assert.equal(ended.histograms.length, b.histograms.length);
  assert.deepEqual(JSON.parse(JSON.stringify(a)), a, 'readings survive JSON, as cluster IPC sends them');
});
