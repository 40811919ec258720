// /metrics is written by poolscope from the readings, not by OpenTelemetry's Prometheus
// serializer; what it says must be what the serializer says for the same data: the same series,
// values, HELP, UNIT and TYPE lines, each family's lines together. Readings come from real
// traffic here (HTTP/1.1, HTTPS over HTTP/2, a refused connection, a server that closes its
// sockets, origins past maxOrigins), then both writers read the same readings.
import assert from 'node:assert/strict';
import http2 from 'node:http2';
import type { AddressInfo } from 'node:net';
import { after, it } from 'node:test';
import { resourceFromAttributes, type Resource } from '@opentelemetry/resources';
import { parseExposition } from '../dist/cli/report/exposition.js';
import { targetInfoOf, writeExposition } from '../dist/export/exposition.js';
import { resourceAttributes } from '../dist/export/resource.js';
import { readingsOf, type Readings } from '../dist/peers/readings.js';
import { OriginRegistry } from '../dist/state/origin-registry.js';
import { HISTOGRAM_LAYOUTS } from '../dist/metrics/catalog.js';
import { ConsumerTable } from '../dist/state/peaks.js';
import { UndiciTap } from '../dist/taps/undici/tap.js';
import { undici8 } from './helpers/clients.ts';
import { serializerText } from './helpers/exposition.ts';
import { closedPort, sleep, startServer, testCertificate } from './helpers/servers.ts';


async function writerText(readings: Readings, resource: Resource): Promise<{ text: string; chunks: number }> {
  const chunks: Buffer[] = [];
  // The writer writes the next chunk over this one's bytes once the promise settles.
  await writeExposition(readings, targetInfoOf(resource.attributes), async (chunk) => {
    chunks.push(Buffer.from(chunk));
    return true;
  }, HISTOGRAM_LAYOUTS.default);
  return { text: Buffer.concat(chunks).toString('utf8'), chunks: chunks.length };
}

interface Family {
  readonly metadata: string[];
  readonly samples: string[];
}

/**
 * An exposition as families by name: their `#` lines and their samples (name, labels sorted,
 * value), in no particular order. Fails if a family's lines are not together, or a sample is
 * not of the family whose lines it follows.
 */
function families(text: string): Map<string, Family> {
  const byName = new Map<string, Family>();
  let current: { name: string; family: Family } | undefined;
  for (const line of text.split('\n')) {
    if (line === '') continue;
    const comment = /^# (HELP|UNIT|TYPE) (\S+) /.exec(line);
    if (comment !== null) {
      const name = comment[2]!;
      if (current?.name !== name) {
        assert.ok(!byName.has(name), `the lines of ${name} are together`);
        current = { name, family: { metadata: [], samples: [] } };
        byName.set(name, current.family);
      }
      current.family.metadata.push(line);
      continue;
    }
    if (line === '# no registered metrics') continue;
    const [sample] = parseExposition(line);
    assert.ok(sample !== undefined && current !== undefined, line);
    const suffix = sample.name.slice(current.name.length);
    assert.ok(sample.name.startsWith(current.name) && ['', '_bucket', '_sum', '_count'].includes(suffix),
      `${sample.name} follows the lines of ${current.name}`);
    const labels = Object.entries(sample.labels).sort(([a], [b]) => (a < b ? -1 : 1)).map(([k, v]) => `${k}=${JSON.stringify(v)}`);
    current.family.samples.push(`${sample.name}{${labels.join(',')}} ${String(sample.value)}`);
  }
  for (const family of byName.values()) family.samples.sort();
  return byName;
}

function assertSameExposition(written: string, serialized: string): void {
  const ours = families(written);
  const theirs = families(serialized);
  assert.deepEqual([...ours.keys()].sort(), [...theirs.keys()].sort(), 'the same metric families');
  for (const [name, family] of theirs) assert.deepEqual(ours.get(name), family, name);
}

it('writes what the exporter writes for readings of real traffic', async () => {
  const registry = new OriginRegistry(4, 60_000, 'undici', HISTOGRAM_LAYOUTS.default);
  const tap = new UndiciTap(registry);
  tap.enable();
  after(() => tap.disable());

  const tls = await testCertificate();
  const h1 = await Promise.all([startServer(), startServer(), startServer({ tls })]);
  // Every socket closed after its response: closed connections, and the churn after them.
  const closing = await startServer({
    handler: (request, response) => {
      request.resume();
      response.setHeader('connection', 'close');
      response.end('ok');
    },
  });
  const h2 = http2.createSecureServer({ key: tls.key, cert: tls.cert });
  h2.on('stream', (stream) => {
    stream.respond({ ':status': 200 });
    stream.end('ok');
  });
  await new Promise<void>((resolve) => h2.listen(0, '127.0.0.1', resolve));
  after(() => new Promise<void>((resolve) => h2.close(() => resolve())));
  const h2Origin = `https://127.0.0.1:${(h2.address() as AddressInfo).port}`;
  const refused = `http://127.0.0.1:${await closedPort()}`;

  const dispatcher = new undici8.Agent({ allowH2: true, connect: { rejectUnauthorized: false } });
  after(() => dispatcher.close());
  const get = async (url: string) => {
    const { body } = await undici8.request(url, { dispatcher });
    await body.text();
  };
  for (const origin of [...h1.map((server) => server.origin), h2Origin]) {
    await get(`${origin}/first`);
    await sleep(2);
    await Promise.all([get(`${origin}/a`), get(`${origin}/b`), get(`${origin}/c`)]);
  }
  await get(`${closing.origin}/one`);
  await sleep(15);
  await get(`${closing.origin}/two`);
  await assert.rejects(get(`${refused}/nothing`));

  const consumer = new ConsumerTable().fromStart('test');
  const readings = readingsOf(registry, performance.now(), consumer());
  const hosts = new Set(readings.values.map((reading) => reading.attributes['server.address']));
  assert.ok(hosts.has('_other'), 'origins past maxOrigins are in');
  assert.ok(readings.values.some((reading) => reading.metric === 'connectionErrors'), 'the refused connection is in');
  assert.ok(readings.values.some((reading) => reading.metric === 'openConnections' && reading.attributes['network.protocol.version'] === '2'),
    'the HTTP/2 origin is in');

  const resource = resourceFromAttributes(resourceAttributes('exposition "test" \\ one'));
  const { text, chunks } = await writerText(readings, resource);
  const serialized = serializerText(readings, resource);
  assertSameExposition(text, serialized);
  assert.ok(chunks > 1, `written in chunks (${chunks})`);
  assert.ok(parseExposition(text).length > 300, 'a full exposition');
});

it('writes labels, names and numbers as the exporter does, an empty exposition too', async () => {
  const attributes = { 'server.address': 'a"b\\c\nd é', 'server.port': 8080, 'poolscope.connection.reused': true };
  const value = (metric: 'activeRequests' | 'reuseRatio' | 'savedTime', number: number) =>
    ({ metric, attributes: { ...attributes, 'url.scheme': String(number) }, value: number, weight: 1 });
  const readings: Readings = {
    values: [NaN, Infinity, -Infinity, -0, -7, 1e21, 2 ** 53 + 2, 2 ** 53 - 1, 1.5e-7, 1 / 3, 0.1 + 0.2]
      .flatMap((number) => [value('activeRequests', number), value('reuseRatio', number), value('savedTime', number)]),
    histograms: [{
      metric: 'idleTime', attributes, counts: [0, 3, 0.5, 2 ** 40, ...new Array(15).fill(1)], count: 2 ** 40 + 18.5, sum: 1e-9, min: 0, max: 1,
    }],
  };
  const resource = resourceFromAttributes({ 'service.name': 'x"y\\z\nw', 'process.pid': 12, 'flag': false, 'list': ['a', 'b'] });
  // Byte for byte: parsing would hide how a number is spelled (`+Inf`, `-0`, `1e+21`).
  assert.equal((await writerText(readings, resource)).text, serializerText(readings, resource));

  const empty: Readings = { values: [], histograms: [] };
  assert.equal((await writerText(empty, resource)).text, serializerText(empty, resource));

  // A `target_info` longer than a chunk (an OTEL_RESOURCE_ATTRIBUTES of 40 kB) is written whole.
  const large = resourceFromAttributes({ 'service.name': 'x', 'deployment.notes': 'n'.repeat(40_000) });
  assert.equal((await writerText(readings, large)).text, serializerText(readings, large));
});
