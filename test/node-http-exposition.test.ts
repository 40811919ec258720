// node:http traffic is exported as its own series, `poolscope.pool.type="http.Agent"`, beside
// undici's to the same origin; and poolscope's own OTLP exports, which ride node:http, are counted
// as the app's traffic to the collector, as any request the app's process makes.
import assert from 'node:assert/strict';
import { after, it } from 'node:test';
import { start } from 'poolscope';
import { scrape } from './helpers/agent.ts';
import { agentFiguresFor, nodeRequest } from './helpers/node-http.ts';
import { startOtlpReceiver } from './helpers/otlp-receiver.ts';
import { eventually, sleep, startServer } from './helpers/servers.ts';

// The agent's last export goes out before the receiver closes: `after` hooks run in order.
let shutdown: (() => Promise<void>) | undefined;
after(() => shutdown?.());
const receiver = await startOtlpReceiver();
process.env.OTEL_EXPORTER_OTLP_METRICS_PROTOCOL = 'http/json';
process.env.OTEL_EXPORTER_OTLP_METRICS_ENDPOINT = `${receiver.endpoint}/v1/metrics`;
const agent = await start({ exporters: ['prometheus', 'otlp'], host: '127.0.0.1', port: 0, exportIntervalMillis: 100 });
shutdown = () => agent.shutdown();

/** The value of each series of `metric` for `port`, by its labels other than the origin's (sorted). */
function series(exposition: string, metric: string, port: number): Map<string, number> {
  const found = new Map<string, number>();
  for (const line of exposition.split('\n')) {
    if (!line.startsWith(`${metric}{`) || !line.includes(`server_port="${port}"`)) continue;
    const labels = line.slice(metric.length + 1, line.lastIndexOf('}'));
    const kept = labels.split(',').filter((label) => !label.startsWith('server_') && !label.startsWith('url_') && !label.startsWith('otel_'));
    found.set(normalise(kept.join(',')), Number(line.slice(line.lastIndexOf(' ') + 1)));
  }
  return found;
}

it('exports node:http figures as poolscope_pool_type="http.Agent", apart from undici\'s to the same origin', async () => {
  const server = await startServer();
  for (let i = 0; i < 4; i++) {
    await nodeRequest(`${server.origin}/node/${i}`);
    await sleep(2);
  }
  for (let i = 0; i < 3; i++) {
    await (await fetch(`${server.origin}/fetch/${i}`)).text();
    await sleep(2);
  }
  assert.equal(server.truth.connections, 2, 'one socket per pool type');
  const figures = agentFiguresFor(agent, server);
  assert.equal(figures.requests, 4);
  const undici = agent.snapshot().find((entry) => entry.origin === server.origin && entry.poolType === 'undici');
  assert.equal(undici?.requests, 3);

  const exposition = await scrape(agent.metricsUrl!);
  const poolscopeLines = exposition.split('\n').filter((line) => line.includes(`server_port="${server.port}"`));
  assert.ok(poolscopeLines.length > 20, `${poolscopeLines.length} series for the origin`);
  for (const line of poolscopeLines) assert.match(line, /poolscope_pool_type="(http\.Agent|undici)"/);
  assert.deepEqual(series(exposition, 'poolscope_client_requests_total', server.port), labelled([
    ['poolscope_connection_reused="false",poolscope_pool_type="undici"', 1],
    ['poolscope_connection_reused="true",poolscope_pool_type="undici"', 2],
    ['poolscope_connection_reused="false",poolscope_pool_type="http.Agent"', 1],
    ['poolscope_connection_reused="true",poolscope_pool_type="http.Agent"', 3],
  ]));
  assert.deepEqual(series(exposition, 'poolscope_client_connections_opened_total', server.port), labelled([
    ['network_protocol_version="1.1",poolscope_pool_type="undici"', 1],
    ['network_protocol_version="1.1",poolscope_pool_type="http.Agent"', 1],
  ]));
  assert.deepEqual(series(exposition, 'poolscope_client_pools_created_total', server.port), labelled([
    ['poolscope_pool_type="undici"', 1],
    ['poolscope_pool_type="http.Agent"', 1],
  ]));
  const metricsOrigin = new URL(agent.metricsUrl!).origin;
  assert.equal(agent.snapshot().find((entry) => entry.origin === metricsOrigin), undefined, 'the scrapes, on an Agent marked as poolscope\'s own, are not counted');
  // The server's truth is both pool types': one socket each, seven requests.
  assert.equal(server.truth.requests, 7);
  assert.deepEqual([figures.requestsOnNewConnections, figures.requestsOnReusedConnections, figures.connectionsOpened], [1, 3, 1]);
  assert.deepEqual([figures.activeRequests, figures.openConnections.active, figures.openConnections.idle], [0, 0, 1]);
  assert.ok(figures.timeToFirstByteP50Seconds.newConnection !== null && figures.timeToFirstByteP50Seconds.reused !== null, 'cold and warm TTFB');
  const agentOnly = (found: Map<string, number>) => new Map([...found].filter(([labels]) => labels.includes('http.Agent')));
  assert.deepEqual(agentOnly(series(exposition, 'poolscope_client_connection_idle_time_count', server.port)), labelled([['poolscope_pool_type="http.Agent"', 3]]),
    'an idle time for each reuse');

  // Once the server closes the sockets: each one's lifetime and requests, closed idle.
  await server.close();
  await eventually(() => assert.deepEqual(agentFiguresFor(agent, server).connectionsClosed, { active: 0, idle: 1 }));
  const closed = await scrape(agent.metricsUrl!);
  assert.deepEqual(agentOnly(series(closed, 'poolscope_client_connection_requests_sum', server.port)), labelled([['poolscope_pool_type="http.Agent"', 4]]));
  assert.deepEqual(agentOnly(series(closed, 'http_client_connection_duration_count', server.port)), labelled([['poolscope_pool_type="http.Agent"', 1]]));
  assert.deepEqual(agentOnly(series(closed, 'http_client_open_connections', server.port)), labelled([
    ['http_connection_state="active",network_protocol_version="1.1",poolscope_pool_type="http.Agent"', 0],
    ['http_connection_state="idle",network_protocol_version="1.1",poolscope_pool_type="http.Agent"', 0],
  ]));
});

it('counts poolscope\'s own OTLP exports as http.Agent traffic to the collector', async () => {
  const origin = receiver.endpoint;
  await eventually(() => assert.ok(receiver.exports.length >= 2, `${receiver.exports.length} exports`));
  await eventually(() => {
    const figures = agent.snapshot().find((entry) => entry.origin === origin && entry.poolType === 'http.Agent');
    assert.ok(figures, 'the collector is an origin of the app\'s');
    assert.ok(figures.requests >= 2);
    assert.equal(figures.requests, receiver.exports.length + figures.activeRequests);
  });
});

/** Label lists compared whatever their order. */
function normalise(labels: string): string {
  return labels.split(',').sort().join(',');
}

function labelled(entries: Array<[string, number]>): Map<string, number> {
  return new Map(entries.map(([labels, value]) => [normalise(labels), value]));
}
