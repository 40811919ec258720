// Apps that run an OpenTelemetry SDK of their own (the real NodeSDK, Prometheus and OTLP/HTTP
// exporters), started in every order poolscope/register can meet it: the app's own metric stays
// where the app exports it, and poolscope's figures go out through the app's SDK, equal to what
// the server saw, under the app's service.name, with no port of poolscope's open.
import assert from 'node:assert/strict';
import net from 'node:net';
import { describe, it } from 'node:test';
import { parseExposition, type Sample } from '../dist/cli/report/exposition.js';
import { scrape } from './helpers/agent.ts';
import { otlpValue, startOtlpReceiver, type OtlpReceiver } from './helpers/otlp-receiver.ts';
import { fixture, runApp, type AppRun } from './helpers/processes.ts';
import { closedPort, eventually, startServer, type TestServer } from './helpers/servers.ts';

const app = fixture('otel-app.mjs');
const SDK_CJS = `--require ${fixture('otel-sdk.cjs')}`;
const SDK_MJS = fixture('otel-sdk-preload.mjs');
const AUTO = '@opentelemetry/auto-instrumentations-node/register';
/**
 * poolscope's start-up window in the apps whose SDK comes within it: the app's SDK packages take
 * seconds to load on a busy machine, and that counts within the window. No test waits it out.
 */
const WAIT_MS = 30_000;
/** The window in apps whose SDK comes after it, or never. */
const SHORT_WAIT_MS = 300;
const SERVICE = 'checkout-from-code';

interface Started {
  readonly run: AppRun;
  readonly server: TestServer;
  /** The port poolscope would serve its own /metrics on. */
  readonly poolscopePort: number;
  readonly startedAt: number;
}

async function startApp(env: Record<string, string>, preloads: string[]): Promise<Started> {
  const server = await startServer();
  const poolscopePort = await closedPort();
  const startedAt = performance.now();
  const run = runApp(app, {
    TARGET_URL: server.origin,
    OTEL_EXPORTER_PROMETHEUS_PORT: String(poolscopePort),
    POOLSCOPE_APP_SDK_WAIT_MILLIS: String(WAIT_MS),
    OTEL_TRACES_EXPORTER: 'none',
    OTEL_LOGS_EXPORTER: 'none',
    ...env,
  }, preloads);
  await run.printed('ready');
  return { run, server, poolscopePort, startedAt };
}

function isOpen(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = net.connect(port, '127.0.0.1');
    socket.once('connect', () => {
      socket.destroy();
      resolve(true);
    });
    socket.once('error', () => resolve(false));
  });
}

/**
 * poolscope joined the app's SDK (the caller saw its series there), so it opened no port, and a
 * joined pipeline never opens one later: the window's timer ends with the join.
 */
async function assertNoPoolscopePort(started: Started): Promise<void> {
  assert.equal(await isOpen(started.poolscopePort), false, 'no poolscope port open');
  assert.deepEqual(started.run.warnings(), [], 'nothing to warn about');
}

function sum(samples: readonly Sample[], name: string, labels: Record<string, string>): number | undefined {
  let total: number | undefined;
  for (const sample of samples) {
    if (sample.name !== name) continue;
    if (!Object.entries(labels).every(([label, value]) => sample.labels[label] === value)) continue;
    total = (total ?? 0) + sample.value;
  }
  return total;
}

/**
 * The app's Prometheus endpoint shows its own metric and poolscope's figures, equal to the
 * server's: at once where poolscope joined first, within poolscope's next look (LOOK_EVERY_MS)
 * where the SDK came second.
 */
async function assertOnAppEndpoint(url: string, server: TestServer): Promise<Sample[]> {
  let samples: Sample[] = [];
  await eventually(async () => {
    samples = parseExposition(await scrape(url));
    assert.ok(samples.some((sample) => sample.name.startsWith('poolscope_')), 'poolscope joined the app\'s SDK');
  });
  assert.equal(sum(samples, 'app_orders_total', {}), 3, 'the app\'s own metric');
  const origin = { server_port: String(server.port), poolscope_pool_type: 'undici' };
  assert.equal(sum(samples, 'poolscope_client_requests_total', origin), server.truth.requests, 'requests');
  assert.equal(sum(samples, 'poolscope_client_requests_total', { ...origin, poolscope_connection_reused: 'false' }),
    server.truth.connectionsWithRequests, 'first requests of a connection');
  assert.equal(sum(samples, 'poolscope_client_connections_opened_total', origin), server.truth.connections, 'connections');
  assert.equal(sum(samples, 'target_info', { service_name: SERVICE }), 1, 'the app\'s resource');
  return samples;
}

/** The receiver's latest export holds the app's metric and poolscope's figures, under the app's service.name. */
async function assertAtReceiver(receiver: OtlpReceiver, server: TestServer): Promise<void> {
  await eventually(() => {
    const last = receiver.exports.at(-1);
    assert.ok(last, 'an export arrived');
    assert.equal(otlpValue(last, 'app.orders', {}), 3, 'the app\'s own metric');
    const origin = { 'server.port': String(server.port), 'poolscope.pool.type': 'undici' };
    assert.equal(otlpValue(last, 'poolscope.client.requests', origin), server.truth.requests, 'requests');
    assert.equal(otlpValue(last, 'poolscope.client.connections.opened', origin), server.truth.connections, 'connections');
    const resource = last.resourceMetrics.find((r) => r.scopeMetrics.some((s) => s.metrics.some((m) => m.name === 'poolscope.client.requests')));
    const serviceName = resource?.resource?.attributes?.find((kv) => kv.key === 'service.name')?.value.stringValue;
    assert.equal(serviceName, SERVICE, 'under the app\'s service.name');
  }, 5_000);
}

describe('beside an app\'s own OpenTelemetry SDK, poolscope exports through it', { concurrency: true }, () => {
  it('an SDK preloaded with --require before poolscope/register: one Prometheus endpoint, the app\'s', async () => {
    const appPort = await closedPort();
    const started = await startApp({ SDK_WHEN: 'preload', APP_PROMETHEUS_PORT: String(appPort) }, [SDK_CJS, 'poolscope/register']);
    await assertOnAppEndpoint(`http://127.0.0.1:${appPort}/metrics`, started.server);
    await assertNoPoolscopePort(started);
  });

  it('an SDK preloaded with --import before poolscope/register: through its OTLP exporter', async () => {
    const receiver = await startOtlpReceiver();
    const started = await startApp({ APP_OTLP_URL: `${receiver.endpoint}/v1/metrics` }, [SDK_MJS, 'poolscope/register']);
    await assertAtReceiver(receiver, started.server);
    await assertNoPoolscopePort(started);
  });

  it('an SDK started synchronously by the app\'s first lines, after poolscope/register', async () => {
    const appPort = await closedPort();
    const started = await startApp({ SDK_WHEN: 'main', APP_PROMETHEUS_PORT: String(appPort) }, ['poolscope/register']);
    await assertOnAppEndpoint(`http://127.0.0.1:${appPort}/metrics`, started.server);
    await assertNoPoolscopePort(started);
  });

  it('an SDK started after an await, within the window: requests made before it are counted too', async () => {
    const receiver = await startOtlpReceiver();
    // The app's requests come after the SDK here; the histograms of those before are replayed.
    const appPort = await closedPort();
    const started = await startApp({ SDK_WHEN: 'after-await', APP_PROMETHEUS_PORT: String(appPort), APP_OTLP_URL: `${receiver.endpoint}/v1/metrics` },
      ['poolscope/register']);
    const samples = await assertOnAppEndpoint(`http://127.0.0.1:${appPort}/metrics`, started.server);
    const ttfb = sum(samples, 'poolscope_client_request_time_to_first_byte_count', { server_port: String(started.server.port) });
    assert.equal(ttfb, started.server.truth.requests, 'every request\'s time to first byte');
    await assertAtReceiver(receiver, started.server);
    await assertNoPoolscopePort(started);
  });

  it('an app that starts its SDK, then calls poolscope\'s start() itself, with no preload', async () => {
    const appPort = await closedPort();
    const started = await startApp({ SDK_WHEN: 'then-poolscope', APP_PROMETHEUS_PORT: String(appPort) }, []);
    await assertOnAppEndpoint(`http://127.0.0.1:${appPort}/metrics`, started.server);
    await assertNoPoolscopePort(started);
  });

  it('an app that shuts its SDK down before exit: the last export holds every request', async () => {
    const receiver = await startOtlpReceiver();
    const started = await startApp({ SDK_WHEN: 'main', SHUTDOWN: '1', APP_OTLP_URL: `${receiver.endpoint}/v1/metrics` }, ['poolscope/register']);
    const { code } = await started.run.exited;
    assert.equal(code, 0, started.run.stderr());
    await assertAtReceiver(receiver, started.server);
  });

  for (const [order, preloads] of [['before', [AUTO, 'poolscope/register']], ['after', ['poolscope/register', AUTO]]] as const) {
    it(`auto-instrumentations-node/register loaded ${order} poolscope: its HTTP metrics and poolscope's side by side`, async () => {
      const receiver = await startOtlpReceiver();
      const server = await startServer();
      const run = runApp(app, {
        TARGET_URL: server.origin,
        REQUESTS: '6',
        POOLSCOPE_APP_SDK_WAIT_MILLIS: String(WAIT_MS),
        OTEL_SERVICE_NAME: SERVICE,
        OTEL_TRACES_EXPORTER: 'none',
        OTEL_LOGS_EXPORTER: 'none',
        OTEL_METRICS_EXPORTER: 'otlp',
        OTEL_EXPORTER_OTLP_METRICS_PROTOCOL: 'http/json',
        OTEL_EXPORTER_OTLP_METRICS_ENDPOINT: `${receiver.endpoint}/v1/metrics`,
        OTEL_METRIC_EXPORT_INTERVAL: '200',
        OTEL_NODE_ENABLED_INSTRUMENTATIONS: 'undici,http',
        OTEL_NODE_RESOURCE_DETECTORS: 'env',
      }, [...preloads]);
      await run.printed('ready');
      await eventually(() => {
        const last = receiver.exports.at(-1);
        assert.ok(last);
        const names = new Set(last.resourceMetrics.flatMap((r) => r.scopeMetrics.flatMap((s) => s.metrics.map((m) => m.name))));
        assert.ok(names.has('http.client.request.duration'), `the app's own HTTP metric in ${[...names].join(', ')}`);
        const origin = { 'server.port': String(server.port), 'poolscope.pool.type': 'undici' };
        assert.equal(otlpValue(last, 'poolscope.client.requests', origin), server.truth.requests);
        assert.equal(otlpValue(last, 'poolscope.client.connections.opened', origin), server.truth.connections);
      }, 5_000);
    });
  }
});

describe('without an SDK, or one that comes too late', { concurrency: true }, () => {
  it('an app with no SDK gets poolscope\'s own /metrics once the window has passed', async () => {
    const started = await startApp({ REQUESTS: '6', POOLSCOPE_APP_SDK_WAIT_MILLIS: String(SHORT_WAIT_MS) }, ['poolscope/register']);
    const url = `http://127.0.0.1:${started.poolscopePort}/metrics`;
    await eventually(async () => assert.equal(await isOpen(started.poolscopePort), true), SHORT_WAIT_MS + 3_000);
    const samples = parseExposition(await scrape(url));
    const origin = { server_port: String(started.server.port) };
    assert.equal(sum(samples, 'poolscope_client_requests_total', origin), started.server.truth.requests,
      'every request, those made before the endpoint was up included');
    assert.ok(performance.now() - started.startedAt >= SHORT_WAIT_MS, 'not before the window ended');
  });

  it('an SDK registered after the window: one warning that says what happened and the fix, both exporters up', async () => {
    const appPort = await closedPort();
    const started = await startApp({
      SDK_WHEN: 'late', LATE_MS: '1000', POOLSCOPE_APP_SDK_WAIT_MILLIS: String(SHORT_WAIT_MS), APP_PROMETHEUS_PORT: String(appPort),
    },
      ['poolscope/register']);
    await eventually(() => assert.equal(started.run.warnings().length, 1, started.run.stderr()), 3_000);
    const [warning] = started.run.warnings();
    assert.match(warning!, /registered an OpenTelemetry MeterProvider after poolscope had started its own \/metrics/);
    assert.match(warning!, /POOLSCOPE_PIPELINE=app/);
    const own = parseExposition(await scrape(`http://127.0.0.1:${started.poolscopePort}/metrics`));
    assert.equal(sum(own, 'poolscope_client_requests_total', { server_port: String(started.server.port) }), started.server.truth.requests);
    const appSamples = parseExposition(await scrape(`http://127.0.0.1:${appPort}/metrics`));
    assert.equal(sum(appSamples, 'app_orders_total', {}), 3, 'the app keeps its own metric');
  });

  it('POOLSCOPE_PIPELINE=own keeps poolscope\'s own /metrics beside a preloaded SDK, whose endpoint keeps only the app\'s', async () => {
    const appPort = await closedPort();
    const started = await startApp({ SDK_WHEN: 'preload', APP_PROMETHEUS_PORT: String(appPort), POOLSCOPE_PIPELINE: 'own' },
      [SDK_CJS, 'poolscope/register']);
    const own = parseExposition(await scrape(`http://127.0.0.1:${started.poolscopePort}/metrics`));
    assert.equal(sum(own, 'poolscope_client_requests_total', { server_port: String(started.server.port) }), started.server.truth.requests);
    const appSamples = parseExposition(await scrape(`http://127.0.0.1:${appPort}/metrics`));
    assert.equal(sum(appSamples, 'app_orders_total', {}), 3);
    assert.equal(sum(appSamples, 'poolscope_client_requests_total', {}), undefined, 'nothing of poolscope\'s there');
  });
});
