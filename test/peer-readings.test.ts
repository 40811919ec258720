// Adding up the readings of several threads or processes: plain data, no thread needed.
import assert from 'node:assert/strict';
import { it } from 'node:test';
import { READINGS_PER_TURN, atRest, mergeReadings, mergeReadingsInTurns } from '../dist/peers/merge-readings.js';
import { packReadings, receivePacked, unpackReadings } from '../dist/peers/packed-readings.js';
import { readingsOf } from '../dist/peers/readings.js';
import { OriginRegistry } from '../dist/state/origin-registry.js';
import { HISTOGRAM_LAYOUTS } from '../dist/metrics/catalog.js';
import { streamStarted } from '../dist/state/connection.js';
import { TurnCounter } from './helpers/turns.ts';

/** A registry with `requests` sent on one socket to each origin, `reused` of them on a reused socket. */
function registryWith(origins: string[], requests: number, streams: number): OriginRegistry {
  const registry = new OriginRegistry(10, 60_000, 'undici', HISTOGRAM_LAYOUTS.default);
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
  assert.deepEqual(value(merged, 'requests', 'a.example', { 'poolscope.connection.reused': false }), [2]);
  assert.deepEqual(value(merged, 'requests', 'a.example', { 'poolscope.connection.reused': true }), [4]);
  assert.deepEqual(value(merged, 'connectionsOpened', 'a.example'), [2]);
  assert.deepEqual(value(merged, 'streamsPeak', 'a.example'), [3]);
  assert.deepEqual(value(merged, 'reuseRatio', 'a.example'), [4 / 6]);
  const queue = merged.histograms.find((h) => h.metric === 'timeInQueue')!;
  assert.equal(queue.count, 6);
  assert.ok(Math.abs(queue.sum - 0.012) < 1e-12);
});

it('folds origins past maxOrigins into _other, and an ended peer keeps its counters and histograms, its gauges at 0', () => {
  const a = readingsOf(registryWith(['http://a.example', 'http://b.example'], 1, 0), 1000, undefined);
  const b = readingsOf(registryWith(['http://c.example'], 3, 0), 1000, undefined);
  const merged = mergeReadings([a, b], 2);
  const hosts = new Set(merged.values.map((r) => r.attributes['server.address']));
  assert.deepEqual([...hosts].sort(), ['_other', 'a.example', 'b.example']);
  assert.deepEqual(value(merged, 'requests', '_other', { 'poolscope.connection.reused': false }), [1]);
  const ended = atRest(b);
  const gauges = ended.values.filter((r) => r.metric === 'openConnections' || r.metric === 'activeRequests');
  assert.ok(gauges.length > 0 && gauges.every((r) => r.value === 0), 'gauges kept, at 0');
  assert.ok(ended.values.every((r) => r.metric !== 'reuseRatio'), 'no ratio over no request');
  assert.deepEqual(ended.values.filter((r) => r.metric === 'requests'), b.values.filter((r) => r.metric === 'requests'));
  assert.equal(ended.histograms.length, b.histograms.length);
  assert.deepEqual(JSON.parse(JSON.stringify(a)), a, 'readings survive JSON, as cluster IPC sends them');
});

it('adds up in turns of the event loop what it adds up in one task, whether the readings came by structured clone or JSON', async () => {
  const origins = Array.from({ length: 10 }, (_, i) => `http://host-${i}.example`);
  const threads = [
    readingsOf(registryWith(origins, 5, 2), 1000, undefined),
    structuredClone(readingsOf(registryWith(origins.slice(4), 3, 1), 1000, undefined)),
    JSON.parse(JSON.stringify(readingsOf(registryWith(['http://late.example', ...origins], 2, 0), 1000, undefined))),
  ];
  // Many readings, so that adding them up takes several turns: the same threads again and again.
  const all = Array.from({ length: 40 }, () => threads).flat();
  const counter = new TurnCounter();
  const inTurns = await mergeReadingsInTurns(all, 8);
  const turns = counter.stop();
  assert.deepEqual(inTurns, mergeReadings(all, 8));
  const readings = all.reduce((sum, { values, histograms }) => sum + values.length + histograms.length, 0);
  const breaks = Math.floor(readings / READINGS_PER_TURN) - 1;
  assert.ok(breaks > 0, `${readings} readings take more than one turn`);
  assert.ok(turns >= breaks, `the event loop ran ${turns} times while ${readings} readings were added up, at least ${breaks} expected`);
  // 11 origins met, the first 8 kept. In _other: host-8 and host-9 from the first two threads
  // (4 and 2 reused each), and from the third late.example, host-8 and its own _other (host-9).
  assert.deepEqual(value(inTurns, 'requests', 'host-0.example', { 'poolscope.connection.reused': true }), [40 * 4 + 40 * 1]);
  assert.deepEqual(value(inTurns, 'requests', 'host-4.example', { 'poolscope.connection.reused': true }), [40 * (4 + 2 + 1)]);
  assert.deepEqual(value(inTurns, 'requests', '_other', { 'poolscope.connection.reused': true }), [40 * (2 * 4 + 2 * 2 + 3 * 1)]);
  const series = inTurns.values.map((r) => `${r.metric} ${JSON.stringify(r.attributes)}`);
  assert.equal(new Set(series).size, series.length, 'each series once');
});

it('merges one series whatever the order of its attributes, and keeps apart values of different types', () => {
  const reading = (attributes: Record<string, string | number | boolean>, value: number) =>
    ({ values: [{ metric: 'requests' as const, attributes, value, weight: 0 }], histograms: [] });
  const merged = mergeReadings([
    reading({ 'server.address': 'a.example', 'server.port': 443, 'url.scheme': 'https', 'poolscope.connection.reused': true }, 2),
    reading({ 'poolscope.connection.reused': true, 'url.scheme': 'https', 'server.port': 443, 'server.address': 'a.example' }, 3),
    reading({ 'server.address': 'a.example', 'server.port': '443', 'url.scheme': 'https', 'poolscope.connection.reused': true }, 5),
  ], 10);
  assert.deepEqual(merged.values.map((r) => r.value), [5, 5]);
  assert.deepEqual(merged.values.map((r) => typeof r.attributes['server.port']), ['number', 'string']);
});

it('packs a thread\'s readings into typed arrays that cross threads whole, and adds them up as it adds up the objects', async () => {
  const origins = Array.from({ length: 12 }, (_, i) => `http://host-${i}.example`);
  const thread = readingsOf(registryWith(origins, 4, 2), 1000, undefined);
  const packed = structuredClone(packReadings(thread));
  assert.ok(packed.values instanceof Float64Array && packed.histograms instanceof Float64Array, 'structured clone keeps the typed arrays');
  const received = receivePacked(packed)!;
  assert.ok(received !== undefined);
  assert.deepEqual(unpackReadings(received), thread);
  const other = readingsOf(registryWith(origins.slice(6), 2, 1), 1000, undefined);
  assert.deepEqual(await mergeReadingsInTurns([other, received, received], 8), mergeReadings([other, thread, thread], 8));
});

it('skips in packed readings the metrics it does not know and the sets out of range', async () => {
  const thread = readingsOf(registryWith(['http://a.example'], 3, 0), 1000, undefined);
  const packed = packReadings(thread);
  // A newer copy of poolscope names a metric this one does not have.
  const renamed = receivePacked({ ...packed, metrics: packed.metrics.map((name) => (name === 'requests' ? 'requestsByPhaseOfMoon' : name)) })!;
  const merged = await mergeReadingsInTurns([renamed], 10);
  assert.equal(merged.values.filter((r) => r.metric === 'requests').length, 0);
  assert.equal(merged.values.length, thread.values.filter((r) => r.metric !== 'requests').length);
  assert.equal(merged.histograms.length, thread.histograms.length);
  const values = packed.values.slice();
  values[1] = 1e6;
  values[5] = -1;
  assert.equal(unpackReadings(receivePacked({ ...packed, values })!).values.length, thread.values.length - 2);
});

/**
 * The message with each of its object fields behind a proxy that counts the reads of it (an
 * entry, a length), and throws past `limit` reads in all: a loop that would never end fails
 * instead of hanging the test. What `receivePacked()` does is measured in reads, not in time.
 */
function countingReads(message: unknown, limit: number): { message: unknown; reads(): number } {
  let reads = 0;
  const count = <T extends object>(target: T): T => new Proxy(target, {
    get(field, key) {
      if (++reads > limit) throw new Error(`more than ${limit} reads`);
      const value: unknown = Reflect.get(field, key);
      return typeof value === 'function' ? value.bind(field) : value;
    },
  });
  if (typeof message !== 'object' || message === null) return { message, reads: () => reads };
  const fields = Object.fromEntries(Object.entries(message).map(([key, value]) =>
    [key, typeof value === 'object' && value !== null ? count(value) : value]));
  return { message: fields, reads: () => reads };
}

it('drops whole any packed message it cannot read safely, at once', () => {
  const packed = packReadings(readingsOf(registryWith(['http://a.example', 'http://b.example'], 3, 1), 1000, undefined));
  // What receiving the message whole takes: no malformed one may take more.
  const whole = countingReads(packed, Infinity);
  assert.ok(receivePacked(whole.message) !== undefined, 'what packReadings() makes is received');
  const budget = whole.reads();
  const withBuckets = (buckets: number) => {
    const histograms = packed.histograms.slice();
    histograms[6] = buckets;
    return { ...packed, histograms };
  };
  const sparse: string[] = [];
  sparse.length = 2 ** 32 - 1;
  const malformed: Record<string, unknown> = {
    'a negative bucket count (it would loop forever)': withBuckets(-7),
    'a fractional bucket count': withBuckets(2.5),
    'more buckets than sent': withBuckets(1e9),
    'a histogram cut short': { ...packed, histograms: packed.histograms.subarray(0, packed.histograms.length - 1) },
    'values not in fours': { ...packed, values: packed.values.subarray(0, packed.values.length - 1) },
    'sets that are not JSON': { ...packed, sets: '[{' },
    'a set that is null': { ...packed, sets: '[null]' },
    'sets that are not a list': { ...packed, sets: 'null' },
    'an attribute that is an object': { ...packed, sets: '[{"server.address":{}}]' },
    'a metric name that is not a string': { ...packed, metrics: [42] },
    'a sparse list of 2^32-1 metric names': { ...packed, metrics: sparse },
    'numbers as a plain array': { ...packed, values: Array.from(packed.values) },
    'not an object': 'packed',
  };
  for (const [what, message] of Object.entries(malformed)) {
    const counted = countingReads(message, 10 * budget);
    let received: unknown;
    try {
      received = receivePacked(counted.message);
    } catch (error) {
      assert.fail(`${what}: ${(error as Error).message} before refusing it`);
    }
    assert.equal(received, undefined, what);
    assert.ok(counted.reads() <= budget, `${what}: refused after ${counted.reads()} reads, no more than the ${budget} of a whole message`);
  }
  assert.ok(receivePacked(structuredClone(packed)) !== undefined, 'what packReadings() makes is received');
});
