// /metrics is written in slices so a scrape never holds the app's event loop for long; these
// check that the slices add up to exactly what OpenTelemetry's serializer writes in one call.
import assert from 'node:assert/strict';
import { it } from 'node:test';
import { targetInfoOf, writeExposition } from '../dist/export/exposition.js';
import { resourceFromAttributes } from '@opentelemetry/resources';
import { resourceAttributes } from '../dist/export/resource.js';
import { ORIGINS_PER_TURN } from '../dist/state/readings.js';
import { readingsInTurns, readingsOf, type Readings } from '../dist/peers/readings.js';
import { OriginRegistry } from '../dist/state/origin-registry.js';
import { HISTOGRAM_LAYOUTS } from '../dist/metrics/catalog.js';
import { ConsumerTable } from '../dist/state/peaks.js';
import { serializerText } from './helpers/exposition.ts';
import { TurnCounter } from './helpers/turns.ts';

const resource = resourceFromAttributes(resourceAttributes('slices'));
const targetInfo = targetInfoOf(resource.attributes);

function readingsFrom(registry: OriginRegistry): Readings {
  return readingsOf(registry, performance.now(), new ConsumerTable().fromStart('test')());
}


/** A registry whose every origin has requests, sockets open and closed, and histogram samples. */
function populated(origins: number, maxOrigins: number): OriginRegistry {
  const registry = new OriginRegistry(maxOrigins, 60_000, 'undici', HISTOGRAM_LAYOUTS.default);
  for (let i = 0; i < origins; i++) {
    const origin = registry.lookup(`${i % 2 === 0 ? 'http' : 'https'}://10.0.${i >> 8}.${i & 255}:${8000 + i}`)!;
    const connection = origin.openConnection(i % 3 === 0 ? '2' : '1.1', false, 0.001 * (i + 1), 1000);
    for (let request = 0; request < 3; request++) {
      origin.requestStarted();
      origin.requestSent(connection, request > 0, request > 0 ? 0.002 : -1, 0.0001 * request, 1000 + request);
      origin.timeToFirstByte[request > 0 ? 1 : 0].record(0.003 * (request + 1));
      origin.requestEnded(true, connection, 1001 + request);
    }
    origin.phasesMeasured(-1, 0.0004, i % 2 === 1 ? 0.002 : -1);
    if (i % 4 === 0) origin.connectionFailed('ECONNREFUSED');
    if (i % 5 === 0) origin.closeConnection(connection, 5000);
  }
  return registry;
}

/** The text written, in how many chunks, and how many of those came after the event loop had turned. */
async function sliced(readings: Readings): Promise<{ text: string; chunks: number; afterTurns: number }> {
  const counter = new TurnCounter();
  let text = '';
  let chunks = 0;
  let afterTurns = 0;
  let turnsAtLastChunk = 0;
  await writeExposition(readings, targetInfo, async (chunk) => {
    text += chunk.toString('utf8');
    chunks++;
    if (counter.turns > turnsAtLastChunk) afterTurns++;
    turnsAtLastChunk = counter.turns;
    return true;
  }, HISTOGRAM_LAYOUTS.default);
  counter.stop();
  return { text, chunks, afterTurns };
}

it('writes what the serializer writes in one call, letting the event loop run in between', async () => {
  const readings = readingsFrom(populated(60, 50));
  const whole = serializerText(readings, resource);
  const { text, chunks, afterTurns } = await sliced(readings);
  assert.equal(text, whole);
  assert.ok(text.includes('server_address="_other"'), 'origins past maxOrigins are in');
  assert.ok(chunks > 20, `written in slices (${chunks})`);
  assert.equal(afterTurns, chunks, 'the event loop turned before each slice');
});

it('writes a small exposition in one piece, and an empty one as the serializer does', async () => {
  for (const registry of [populated(1, 10), new OriginRegistry(10, 60_000, 'undici', HISTOGRAM_LAYOUTS.default)]) {
    const readings = readingsFrom(registry);
    assert.equal((await sliced(readings)).text, serializerText(readings, resource));
  }
});

it('stops writing once the scraper is gone', async () => {
  let writes = 0;
  await writeExposition(readingsFrom(populated(40, 50)), targetInfo, async () => {
    writes++;
    return writes < 3;
  }, HISTOGRAM_LAYOUTS.default);
  assert.equal(writes, 3);
});

it('reads the origins in turns of the event loop, and reads the same as in one task', async () => {
  const registry = populated(1_000, 1_000);
  const counter = new TurnCounter();
  const inTurns = await readingsInTurns(registry, undefined);
  const turns = counter.stop();
  const atOnce = readingsOf(registry, performance.now(), undefined);
  assert.deepEqual(inTurns, atOnce);
  assert.equal(inTurns.values.filter((reading) => reading.metric === 'requests').length, 2 * 1_000, 'every origin read');
  const breaks = Math.ceil(1_000 / ORIGINS_PER_TURN) - 1;
  assert.ok(breaks > 0, 'more origins than one turn reads');
  assert.ok(turns >= breaks, `the event loop ran ${turns} times while ${1_000} origins were read, at least ${breaks} expected`);
});
