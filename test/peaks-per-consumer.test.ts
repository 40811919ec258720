// `active_requests.peak` and `streams.peak` are the peak since the previous collection *of the
// one reading them*: two Prometheus replicas, a scrape and an OTLP export, `poolscope report`
// beside Prometheus, each sees the peak the server saw, whatever the others read in between.
// Servers hold requests until N are open at once, so the true peak is exactly N.
import assert from 'node:assert/strict';
import http from 'node:http';
import http2 from 'node:http2';
import type { AddressInfo } from 'node:net';
import { after, describe, it } from 'node:test';
import { start, type PoolscopeAgent } from 'poolscope';
import { OriginRegistry } from '../dist/state/origin-registry.js';
import { HISTOGRAM_LAYOUTS } from '../dist/metrics/catalog.js';
import { ConsumerTable, MAX_CONSUMERS, type Consumer } from '../dist/state/peaks.js';
import { undici8 } from './helpers/clients.ts';
import { runCli } from './helpers/cli.ts';
import { otlpCollectedAtMs, otlpValue, startOtlpReceiver } from './helpers/otlp-receiver.ts';
import { fixture, runApp } from './helpers/processes.ts';
import { closedPort, eventually, startServer, testCertificate, type TestServer } from './helpers/servers.ts';

const N = 6;
/** A server answers a held request after this long even if N never came: a test fails, it does not hang. */
const HOLD_LIMIT_MS = 3000;
const ACTIVE_PEAK = 'poolscope_client_active_requests_peak';
const STREAMS_PEAK = 'poolscope_client_connection_streams_peak';

/** `/metrics` read with node:http (which undici's channels do not see) as one scraper. */
function scrape(url: string, userAgent: string, localAddress = '127.0.0.1'): Promise<string> {
  return new Promise((resolve, reject) => {
    http.get(url, { headers: { 'user-agent': userAgent }, localAddress }, (response) => {
      if (response.statusCode !== 200) reject(new Error(`${userAgent}: HTTP ${response.statusCode}`));
      let body = '';
      response.setEncoding('utf8').on('data', (chunk) => { body += chunk; }).on('end', () => resolve(body));
    }).on('error', reject);
  });
}

/** The value of the one series of `name` for the origin on `port`, or undefined when there is none. */
function valueIn(exposition: string, name: string, port: number): number | undefined {
  const lines = exposition.split('\n').filter((line) => line.startsWith(`${name}{`) && line.includes(`server_port="${port}"`));
  assert.ok(lines.length <= 1, lines.join('\n'));
  return lines[0] === undefined ? undefined : Number(lines[0].slice(lines[0].lastIndexOf(' ') + 1));
}

/** An HTTP/1.1 server that answers no request until N are open at once. */
async function holdingServer(): Promise<TestServer & { mostConcurrent(): number }> {
  let held: http.ServerResponse[] = [];
  let open = 0;
  let mostConcurrent = 0;
  const releaseAll = () => {
    for (const response of held) response.end('ok');
    held = [];
  };
  const server = await startServer({
    handler: (request, response) => {
      request.resume();
      mostConcurrent = Math.max(mostConcurrent, ++open);
      response.on('close', () => open--);
      held.push(response);
      if (held.length === N) releaseAll();
      else setTimeout(releaseAll, HOLD_LIMIT_MS).unref();
    },
  });
  return Object.assign(server, { mostConcurrent: () => mostConcurrent });
}

const dispatcher = new undici8.Agent();
let agent: PoolscopeAgent | undefined;
// Before the receiver closes (hooks run in the order they were added): the last export is delivered.
after(async () => {
  await dispatcher.close();
  await agent?.shutdown();
});
const receiver = await startOtlpReceiver();
process.env.OTEL_EXPORTER_OTLP_ENDPOINT = receiver.endpoint;
process.env.OTEL_EXPORTER_OTLP_METRICS_PROTOCOL = 'http/json';
agent = await start({ exporters: ['prometheus', 'otlp'], host: '127.0.0.1', port: 0, exportIntervalMillis: 200 });
const metricsUrl = agent.metricsUrl!;

/** N requests at once through one undici Agent (a socket each); returns once all have answered. */
async function loadHttp1(server: TestServer): Promise<number> {
  await Promise.all(Array.from({ length: N }, async (_, i) =>
    (await undici8.request(`${server.origin}/held/${i}`, { dispatcher })).body.text()));
  return Date.now();
}

/**
 * The value of `name` for the origin in the first OTLP export collected after `afterMs`: an
 * export collected while requests were still held would see them open, whatever the peaks do.
 */
async function otlpAfter(name: string, labels: Record<string, string>, afterMs: number): Promise<number | undefined> {
  let found: number | undefined;
  await eventually(() => {
    const body = receiver.exports.find((candidate) => (otlpCollectedAtMs(candidate) ?? 0) > afterMs);
    assert.ok(body, 'an export collected after the requests ended');
    found = otlpValue(body, name, labels);
  }, 5000);
  return found;
}

describe('each /metrics scraper sees its own peak', () => {
  it('two scrapers (user-agents) both see N, each whenever the other scraped', async () => {
    const server = await holdingServer();
    // Both have scraped before the traffic, as scrapers do every interval.
    for (const replica of ['replica-a', 'replica-b']) await scrape(metricsUrl, replica);

    const endedAt = await loadHttp1(server);
    assert.equal(server.mostConcurrent(), N);
    assert.equal(valueIn(await scrape(metricsUrl, 'replica-a'), ACTIVE_PEAK, server.port), N);
    assert.equal(valueIn(await scrape(metricsUrl, 'replica-b'), ACTIVE_PEAK, server.port), N, 'B after A');
    assert.equal(await otlpAfter('poolscope.client.active_requests.peak', { 'server.port': String(server.port) }, endedAt), N, 'OTLP after both');
    // Nothing since: each one's next reading is the level now.
    assert.equal(valueIn(await scrape(metricsUrl, 'replica-b'), ACTIVE_PEAK, server.port), 0);
    assert.equal(valueIn(await scrape(metricsUrl, 'replica-a'), ACTIVE_PEAK, server.port), 0);

    await loadHttp1(server);
    assert.equal(server.mostConcurrent(), N);
    const [a, b] = await Promise.all([scrape(metricsUrl, 'replica-a'), scrape(metricsUrl, 'replica-b')]);
    assert.deepEqual([valueIn(a, ACTIVE_PEAK, server.port), valueIn(b, ACTIVE_PEAK, server.port)], [N, N], 'scraped at once');
  });

  it('the same user-agent from two addresses is two scrapers', async () => {
    const server = await holdingServer();
    for (const address of ['127.0.0.1', '127.0.0.2']) await scrape(metricsUrl, 'Prometheus/2.42.0', address);
    await loadHttp1(server);
    assert.equal(valueIn(await scrape(metricsUrl, 'Prometheus/2.42.0', '127.0.0.2'), ACTIVE_PEAK, server.port), N);
    assert.equal(valueIn(await scrape(metricsUrl, 'Prometheus/2.42.0', '127.0.0.1'), ACTIVE_PEAK, server.port), N);
  });

  it('a scraper seen for the first time reads the peak since the last read by anyone', async () => {
    const server = await holdingServer();
    await scrape(metricsUrl, 'replica-a');
    await loadHttp1(server);
    assert.equal(valueIn(await scrape(metricsUrl, 'replica-a'), ACTIVE_PEAK, server.port), N);
    assert.equal(valueIn(await scrape(metricsUrl, 'newcomer'), ACTIVE_PEAK, server.port), 0);
  });

  it('poolscope report read in between sees its own peak and takes nothing from the scraper', async () => {
    const server = await holdingServer();
    const report = async () => {
      const run = await runCli(['report', metricsUrl, '--json', '--interval', '0']);
      assert.equal(run.code, 0, run.stderr);
      return (JSON.parse(run.stdout) as { origins: Array<{ origin: string; peakActive: number }> }).origins
        .find(({ origin }) => origin === server.origin);
    };
    // Both have read before the traffic, as a scraper does every interval and a report run
    // from cron every few minutes.
    await scrape(metricsUrl, 'replica-a');
    await report();
    await loadHttp1(server);
    const line = await report();
    assert.ok(line, `the report has a line for ${server.origin}`);
    assert.equal(line.peakActive, N, 'the report\'s peak since its own last read');
    assert.equal(valueIn(await scrape(metricsUrl, 'replica-a'), ACTIVE_PEAK, server.port), N);
  });
});

describe('streams per HTTP/2 connection', () => {
  it('two scrapers and an OTLP export each see the N streams the server held on one session', async () => {
    const tls = await testCertificate();
    const h2 = http2.createSecureServer({ key: tls.key, cert: tls.cert, allowHTTP1: false });
    let sessions = 0;
    let mostConcurrent = 0;
    let held: http2.ServerHttp2Stream[] = [];
    const releaseAll = () => {
      for (const stream of held) {
        if (stream.closed) continue;
        stream.respond({ ':status': 200 });
        stream.end('ok');
      }
      held = [];
    };
    h2.on('session', () => sessions++);
    h2.on('stream', (stream) => {
      held.push(stream);
      mostConcurrent = Math.max(mostConcurrent, held.length);
      if (held.length === N) releaseAll();
      else setTimeout(releaseAll, HOLD_LIMIT_MS).unref();
    });
    await new Promise<void>((resolve) => h2.listen(0, '127.0.0.1', resolve));
    const { port } = h2.address() as AddressInfo;
    const client = new undici8.Agent({ connect: { ca: tls.cert } });
    after(async () => {
      await client.close();
      await new Promise((resolve) => h2.close(resolve));
    });

    for (const replica of ['replica-a', 'replica-b']) await scrape(metricsUrl, replica);
    await Promise.all(Array.from({ length: N }, async (_, i) =>
      (await undici8.request(`https://127.0.0.1:${port}/held/${i}`, { dispatcher: client })).body.text()));
    const endedAt = Date.now();
    assert.deepEqual([sessions, mostConcurrent], [1, N], 'one session, N streams at once');

    assert.equal(valueIn(await scrape(metricsUrl, 'replica-a'), STREAMS_PEAK, port), N);
    assert.equal(valueIn(await scrape(metricsUrl, 'replica-b'), STREAMS_PEAK, port), N);
    const labels = { 'server.port': String(port), 'network.protocol.version': '2' };
    assert.equal(await otlpAfter('poolscope.client.connection.streams.peak', labels, endedAt), N);
    assert.equal(valueIn(await scrape(metricsUrl, 'replica-a'), STREAMS_PEAK, port), 0, 'nothing in flight since');
  });
});

describe('more scrapers than the table holds', () => {
  it('answers them all, and the most recent ones still read exact peaks', async () => {
    const server = await holdingServer();
    const scrapers = Array.from({ length: 3 * MAX_CONSUMERS }, (_, i) => `scraper-${i}`);
    for (const scraper of scrapers) await scrape(metricsUrl, scraper);
    await loadHttp1(server);
    // One slot is the OTLP reader's; it is seen every 200 ms, so it never leaves the table.
    const recent = scrapers.slice(-(MAX_CONSUMERS - 1));
    for (const scraper of recent) assert.equal(valueIn(await scrape(metricsUrl, scraper), ACTIVE_PEAK, server.port), N, scraper);
    // Evicted long ago: seen anew, with the peak since the last read by anyone.
    assert.equal(valueIn(await scrape(metricsUrl, scrapers[0]!), ACTIVE_PEAK, server.port), 0);
  });
});

describe('worker threads and cluster workers', () => {
  for (const mode of ['threads', 'cluster'] as const) {
    it(`${mode}: the exporting thread asks for each scraper's own peak`, async () => {
      const server = await holdingServer();
      const port = await closedPort();
      const app = runApp(fixture('peaks-workers-app.mjs'), {
        MODE: mode, TARGET_URL: server.origin, CONCURRENT: String(N),
        OTEL_EXPORTER_PROMETHEUS_PORT: String(port), OTEL_EXPORTER_PROMETHEUS_HOST: '127.0.0.1',
      });
      const url = `http://127.0.0.1:${port}/metrics`;
      await app.printed('ready');
      for (const replica of ['replica-a', 'replica-b']) await eventually(() => scrape(url, replica).then(() => {}));

      app.child.stdin!.write('load\n');
      await app.printed('loaded 1');
      assert.equal(server.mostConcurrent(), N);
      assert.equal(valueIn(await scrape(url, 'replica-a'), ACTIVE_PEAK, server.port), N);
      assert.equal(valueIn(await scrape(url, 'replica-b'), ACTIVE_PEAK, server.port), N, 'B after A');
      assert.equal(valueIn(await scrape(url, 'replica-a'), ACTIVE_PEAK, server.port), 0, 'nothing since');

      app.child.stdin!.write('load\n');
      await app.printed('loaded 2');
      const [a, b] = await Promise.all([scrape(url, 'replica-a'), scrape(url, 'replica-b')]);
      assert.deepEqual([valueIn(a, ACTIVE_PEAK, server.port), valueIn(b, ACTIVE_PEAK, server.port)], [N, N], 'scraped at once');

      app.child.stdin!.end();
      assert.equal((await app.exited).code, 0, app.stderr());
      assert.deepEqual(app.warnings(), []);
    });
  }
});

describe('the peaks owed to each consumer (state only, synthetic events)', () => {
  it('folds the running peak into every consumer\'s at each read, and starts each one\'s next period at the level now', () => {
    const table = new ConsumerTable();
    const a = table.see('a');
    const b = table.see('b');
    const origin = new OriginRegistry(10, 60_000, 'undici', HISTOGRAM_LAYOUTS.default).lookup('http://peaks.example')!;
    const peak = (consumer: Consumer | undefined) => origin.takeActiveRequestsPeak(consumer);
    for (let i = 0; i < 5; i++) origin.requestStarted();
    for (let i = 0; i < 4; i++) origin.requestEnded(true, undefined, 0);
    assert.equal(peak(table.see('a')), 5);
    origin.requestStarted();
    origin.requestStarted();
    origin.requestEnded(true, undefined, 0);
    assert.equal(peak(table.see('a')), 3, 'A: since its read, from the level 1 then');
    assert.equal(peak(table.see('b')), 5, 'B: since the start, whatever A read');
    assert.equal(peak(table.see('b')), 2, 'B: the level now');
    assert.equal(peak(undefined), 2, 'a look that takes nothing');
    assert.equal(peak(table.see('c')), 2, 'C, new: since the last read by anyone');
    assert.equal(peak(table.see('a')), 2);
    assert.ok(a.slot !== b.slot);
  });

  it('keeps at most MAX_CONSUMERS, forgetting the least recently seen', () => {
    const table = new ConsumerTable();
    const origin = new OriginRegistry(10, 60_000, 'undici', HISTOGRAM_LAYOUTS.default).lookup('http://many.example')!;
    const ids = new Set<number>();
    for (let i = 0; i < 1000; i++) {
      const consumer = table.see(`scraper-${i}`);
      assert.ok(consumer.slot >= 0 && consumer.slot < MAX_CONSUMERS);
      assert.equal(consumer.first, true);
      ids.add(consumer.id);
      origin.takeActiveRequestsPeak(consumer);
    }
    assert.equal(ids.size, 1000, 'a slot taken again is a new consumer');
    const recent = Array.from({ length: MAX_CONSUMERS }, (_, i) => `scraper-${999 - i}`);
    for (const key of recent) assert.equal(table.see(key).first, false, key);
    assert.equal(table.see('scraper-0').first, true);
  });
});
