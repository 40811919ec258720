// Worker threads and node:cluster workers under the preload: each counts its own traffic and
// reports it to the thread that exports (the main thread, the cluster primary), which serves every
// figure on one /metrics: no crash, no port clash, no double count, and what a worker counted
// stays counted after it ended.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { scrape } from './helpers/agent.ts';
import { fixture, runApp, type AppRun } from './helpers/processes.ts';
import { closedPort, eventually, startServer, type TestServer } from './helpers/servers.ts';

const app = fixture('workers-app.mjs');
const WORKERS = 2;
const REQUESTS = 5;

/** The values of a metric's samples for the server's origin whose labels include `labels`. */
function samples(exposition: string, name: string, server: TestServer, labels: Record<string, string> = {}): number[] {
  return exposition.split('\n')
    .filter((line) => line.startsWith(`${name}{`) && line.includes(`server_port="${server.port}"`))
    .filter((line) => Object.entries(labels).every(([label, value]) => line.includes(`${label}="${value}"`)))
    .map((line) => Number(line.slice(line.lastIndexOf(' ') + 1)));
}

/** Their sum. A known series keeps reporting 0: one that is missing fails, rather than reading as 0. */
function sample(exposition: string, name: string, server: TestServer, labels: Record<string, string> = {}): number {
  const values = samples(exposition, name, server, labels);
  assert.ok(values.length > 0, `no ${name} series for port ${server.port} with ${JSON.stringify(labels)}`);
  return values.reduce((sum, value) => sum + value, 0);
}

/**
 * /metrics equals what the server saw: every request once, sockets opened and still open.
 * `live`: false once every process that made requests has ended; their gauges then read 0, and
 * the server holds none of their sockets.
 */
async function assertMetricsMatchServer(metricsUrl: string, server: TestServer, live = true): Promise<void> {
  const text = await scrape(metricsUrl);
  const { truth } = server;
  assert.equal(sample(text, 'poolscope_client_requests_total', server), truth.requests, 'requests');
  assert.equal(sample(text, 'poolscope_client_requests_total', server, { poolscope_connection_reused: 'false' }), truth.connectionsWithRequests, 'new');
  assert.equal(sample(text, 'poolscope_client_connections_opened_total', server), truth.connections, 'opened');
  if (!live) assert.equal(truth.open, 0, 'the ended processes\' sockets closed');
  assert.equal(sample(text, 'http_client_active_requests', server), 0, 'active');
  assert.equal(sample(text, 'http_client_open_connections', server, { http_connection_state: 'idle' }), truth.open, 'open idle');
  assert.equal(sample(text, 'http_client_open_connections', server, { http_connection_state: 'active' }), 0, 'open active');
}

async function run(mode: 'threads' | 'cluster', server: TestServer): Promise<{ run: AppRun; metricsUrl: string }> {
  const port = await closedPort();
  const app_ = runApp(app, {
    MODE: mode, TARGET_URL: server.origin, WORKERS: String(WORKERS), REQUESTS: String(REQUESTS),
    OTEL_EXPORTER_PROMETHEUS_PORT: String(port), OTEL_EXPORTER_PROMETHEUS_HOST: '127.0.0.1',
    // Said once, by the thread that exports, not again by every worker.
    POOLSCOPE_CHURN_WINDOW_MILLIS: 'soon',
  });
  await app_.printed('ready');
  return { run: app_, metricsUrl: `http://127.0.0.1:${port}/metrics` };
}

describe('the preload in worker threads', () => {
  it('the main thread serves every thread\'s figures, and keeps an ended thread\'s counts', async () => {
    const server = await startServer();
    const { run: app_, metricsUrl } = await run('threads', server);
    assert.equal(server.truth.requests, (WORKERS + 1) * REQUESTS);
    await eventually(() => assertMetricsMatchServer(metricsUrl, server));
    app_.child.stdin!.write('finish\n');
    await app_.printed('finished');
    assert.equal(server.truth.requests, (2 * WORKERS + 1) * REQUESTS);
    // The threads' sockets closed with them: open is the main thread's, as the server sees it.
    await eventually(async () => assertMetricsMatchServer(metricsUrl, server));
    assert.equal(app_.warnings().length, 1, `one warning, for the setting; no thread tried to serve /metrics: ${app_.stderr()}`);
    app_.child.stdin!.end();
    assert.equal((await app_.exited).code, 0);
  });
});

describe('the preload in node:cluster workers', () => {
  it('the primary serves every worker\'s figures (their threads\' included), and keeps an ended worker\'s counts', async () => {
    const server = await startServer();
    const { run: app_, metricsUrl } = await run('cluster', server);
    assert.equal(server.truth.requests, WORKERS * 2 * REQUESTS);
    await eventually(() => assertMetricsMatchServer(metricsUrl, server));
    app_.child.stdin!.write('finish\n');
    await app_.printed('finished');
    assert.equal(server.truth.requests, WORKERS * 4 * REQUESTS);
    // The primary made no request of its own: every process that had the origin has ended.
    await eventually(async () => assertMetricsMatchServer(metricsUrl, server, false));
    assert.equal(app_.warnings().length, 1, `one warning, for the setting; no worker tried to serve /metrics: ${app_.stderr()}`);
    app_.child.stdin!.end();
    assert.equal((await app_.exited).code, 0);
  });
});
