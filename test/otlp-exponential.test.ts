// OTEL_EXPORTER_OTLP_METRICS_DEFAULT_HISTOGRAM_AGGREGATION=base2_exponential_bucket_histogram:
// poolscope's OTLP exports carry every histogram as an exponential one, whose counts and sums are
// those of the explicit histograms its /metrics serves, and those counts are what the server saw;
// a worker thread's buckets are merged in. An invalid value gets one warning and explicit ones.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { HISTOGRAM_AGGREGATION_VARIABLE } from '../dist/config.js';
import { METRICS } from '../dist/metrics/catalog.js';
import { scrape } from './helpers/agent.ts';
import { otlpHistograms, startOtlpReceiver, type OtlpHistogramPoint, type OtlpReceiver } from './helpers/otlp-receiver.ts';
import { fixture, runApp } from './helpers/processes.ts';
import { closedPort, eventually, startServer, type TestServer } from './helpers/servers.ts';

const REQUESTS = 6;
const HISTOGRAM_NAMES = new Set(Object.values(METRICS).filter((spec) => spec.instrument === 'Histogram').map((spec) => spec.name));

function otlpEnv(server: TestServer, receiver: OtlpReceiver, aggregation: string): Record<string, string> {
  return {
    TARGET_URL: server.origin,
    REQUESTS: String(REQUESTS),
    OTEL_EXPORTER_OTLP_ENDPOINT: receiver.endpoint,
    OTEL_EXPORTER_OTLP_METRICS_PROTOCOL: 'http/json',
    [HISTOGRAM_AGGREGATION_VARIABLE]: aggregation,
  };
}

/** The histogram points of the last export (made as the app ended) for the server's origin. */
function lastHistograms(receiver: OtlpReceiver, server: TestServer): OtlpHistogramPoint[] {
  const last = receiver.exports.at(-1);
  assert.ok(last, 'the receiver got an export');
  const points = otlpHistograms(last);
  assert.ok(points.length > 0 && points.every((point) => HISTOGRAM_NAMES.has(point.name)), 'only poolscope\'s histograms');
  return points.filter((point) => point.attributes['server.port'] === String(server.port));
}

/** One series' value in Prometheus text: the line of `name` whose labels include every attribute of the point's. */
function exposed(text: string, name: string, point: OtlpHistogramPoint): number {
  const labels = Object.entries(point.attributes).map(([key, value]) => `${key.replaceAll('.', '_')}="${value}"`);
  const lines = text.split('\n').filter((line) => line.startsWith(`${name}{`) && labels.every((label) => line.includes(label)));
  assert.equal(lines.length, 1, `${name} with ${labels.join(',')}`);
  return Number(lines[0]!.slice(lines[0]!.lastIndexOf(' ') + 1));
}

const total = (points: readonly OtlpHistogramPoint[], name: string, of: 'count' | 'sum') =>
  points.filter((point) => point.name === name).reduce((sum, point) => sum + point[of], 0);

describe('exponential histograms over OTLP', () => {
  it('every histogram arrives exponential, its count and sum those of /metrics, its counts the server\'s', async (t) => {
    const [server, receiver, port] = await Promise.all([startServer({ closeIdleAfterMs: 100 }), startOtlpReceiver(), closedPort()]);
    const run = runApp(fixture('settled-workers-app.mjs'), {
      ...otlpEnv(server, receiver, 'base2_exponential_bucket_histogram'),
      OTEL_METRICS_EXPORTER: 'otlp,prometheus',
      OTEL_EXPORTER_PROMETHEUS_HOST: '127.0.0.1',
      OTEL_EXPORTER_PROMETHEUS_PORT: String(port),
    });
    await run.printed('ready');
    const { truth } = server;
    assert.equal(truth.requests, 2 * 2 * REQUESTS, 'the main thread and the worker thread, two rounds each');
    await eventually(() => assert.equal(truth.open, 0, 'the app closed every socket'));
    // Nothing changes once the app is ready; the first scrape may come before the thread's first answer.
    let text = '';
    await eventually(async () => {
      text = await scrape(`http://127.0.0.1:${port}/metrics`, false);
      const timeInQueue = text.split('\n').filter((line) => line.startsWith('http_client_request_time_in_queue_count{') && line.includes(`server_port="${server.port}"`));
      assert.deepEqual(timeInQueue.map((line) => Number(line.slice(line.lastIndexOf(' ') + 1))), [truth.requests]);
    });
    run.child.stdin!.end();
    assert.equal((await run.exited).code, 0, run.stderr());
    assert.deepEqual(run.warnings(), []);

    const last = receiver.exports.at(-1)!;
    assert.ok(otlpHistograms(last).every((point) => point.exponential), 'no explicit histogram in the export');
    const points = lastHistograms(receiver, server);
    for (const point of points) {
      const name = point.name.replaceAll('.', '_');
      assert.equal(point.count, exposed(text, `${name}_count`, point), `${point.name} count`);
      assert.equal(point.sum, exposed(text, `${name}_sum`, point), `${point.name} sum`);
      assert.equal(point.zeroCount + point.bucketCounts.reduce((sum, count) => sum + count, 0), point.count, `${point.name} buckets`);
      assert.ok(point.bucketCounts.length <= 160 && point.scale >= -10 && point.scale <= 20, `${point.name} at scale ${point.scale}`);
    }
    assert.equal(total(points, 'poolscope.client.request.time_to_first_byte', 'count'), truth.requests);
    assert.equal(total(points, 'http.client.request.time_in_queue', 'count'), truth.requests);
    assert.equal(total(points, 'poolscope.client.connection.requests', 'sum'), truth.requests, 'requests per socket add up to the requests');
    assert.equal(total(points, 'poolscope.client.connection.requests', 'count'), truth.connections);
    assert.equal(total(points, 'http.client.connection.duration', 'count'), truth.connections);
    assert.equal(total(points, 'poolscope.client.connection.setup.duration', 'count'), truth.connections);
    assert.ok(total(points, 'poolscope.client.connection.reopened_after', 'count') > 0, 'the second rounds reopened sockets');
    t.diagnostic(`${truth.requests} requests, ${truth.connections} connections; ` +
      points.map((point) => `${point.name} scale ${point.scale}, ${point.bucketCounts.length} buckets`).join('; '));
  });
});

describe('the variable, read as the specification reads enum values', () => {
  const lifecycleApp = fixture('lifecycle-app.mjs');

  it('any case and surrounding spaces: exponential, no warning', async () => {
    const [server, receiver] = await Promise.all([startServer(), startOtlpReceiver()]);
    const run = runApp(lifecycleApp, { ...otlpEnv(server, receiver, ' Base2_Exponential_Bucket_Histogram '), OTEL_METRICS_EXPORTER: 'otlp' });
    assert.equal((await run.exited).code, 3, run.stderr());
    assert.deepEqual(run.warnings(), []);
    const points = lastHistograms(receiver, server);
    assert.ok(points.length > 0 && points.every((point) => point.exponential));
    assert.equal(total(points, 'http.client.request.time_in_queue', 'count'), server.truth.requests);
  });

  it('an invalid value: one warning naming it, and explicit histograms', async () => {
    const [server, receiver] = await Promise.all([startServer(), startOtlpReceiver()]);
    const run = runApp(lifecycleApp, { ...otlpEnv(server, receiver, 'exponential'), OTEL_METRICS_EXPORTER: 'otlp' });
    assert.equal((await run.exited).code, 3, run.stderr());
    const warnings = run.warnings();
    assert.equal(warnings.length, 1, run.stderr());
    assert.match(warnings[0]!, new RegExp(`${HISTOGRAM_AGGREGATION_VARIABLE}="exponential" is not valid.*Using explicit_bucket_histogram`));
    const points = lastHistograms(receiver, server);
    assert.ok(points.length > 0 && points.every((point) => !point.exponential));
    assert.equal(total(points, 'http.client.request.time_in_queue', 'count'), server.truth.requests);
  });
});
