import assert from 'node:assert/strict';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, describe, it } from 'node:test';
import { instrument, start, type PoolscopeAgent } from 'poolscope';
import { undici8 } from './helpers/clients.ts';
import { runCli, type CliRun } from './helpers/cli.ts';
import { needs, startPrometheus, type PrometheusServer, type PromResult } from './helpers/prometheus.ts';
import { slow, type OriginLine, type ReportJson } from './helpers/report.ts';
import { closedPort, sleep, startServer, type Handler, type TestServer } from './helpers/servers.ts';

const JOB = 'poolscope-report-window';
const RANGE = '5m';
/** How long the workloads run: several scrapes a second apart. */
const WORKLOAD_MS = 3_000;
const TOKEN = 's3cret';

const closing: Handler = (request, response) => {
  request.resume();
  request.on('end', () => {
    response.setHeader('connection', 'close');
    response.end('ok');
  });
};

async function get(dispatcher: undici8.Dispatcher, server: TestServer): Promise<void> {
  const response = await undici8.request(`${server.origin}/v1/messages`, { dispatcher });
  await response.body.text();
}

/** Calls `call` in `workers` loops until `deadline`, pausing `gapMs` after each. */
async function until(deadline: number, workers: number, gapMs: number, call: () => Promise<void>): Promise<void> {
  await Promise.all(Array.from({ length: workers }, async () => {
    while (Date.now() < deadline) {
      await call();
      if (gapMs > 0) await sleep(gapMs);
    }
  }));
}

/** Polls until `check` gives a value, for at most `timeoutMs`. */
async function eventually<T>(what: string, timeoutMs: number, check: () => Promise<T | undefined>): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await check();
    if (value !== undefined) return value;
    assert.ok(Date.now() < deadline, `timed out waiting for ${what}`);
    await sleep(100);
  }
}

function line(report: ReportJson, server: TestServer): OriginLine {
  const found = report.origins.find((origin) => origin.origin === server.origin && origin.poolType === 'undici');
  assert.ok(found, `no undici line for ${server.origin} in ${report.origins.map((o) => `${o.origin} ${o.poolType}`).join(', ')}`);
  return found;
}

const kinds = (origin: OriginLine) => origin.findings.map((finding) => finding.kind);

/** Every output of a run, to search for what must never be printed. */
const printed = (run: CliRun) => run.stdout + run.stderr;

/**
 * A proxy in front of the Prometheus API that wants `Authorization: Bearer s3cret`: 401 without
 * it, and a 401 that echoes the header it got for another, as careless gateways do.
 */
async function startAuthProxy(target: string): Promise<{ url: string; close(): Promise<void> }> {
  const server = http.createServer((request, response) => {
    const authorization = request.headers.authorization;
    if (authorization === `Bearer ${TOKEN}`) {
      const upstream = http.get(`${target}${request.url}`, (answer) => {
        response.writeHead(answer.statusCode ?? 502, answer.headers);
        answer.pipe(response);
      });
      upstream.on('error', () => response.destroy());
      return;
    }
    if (authorization === undefined) {
      response.writeHead(401, { 'content-type': 'text/plain' }).end('Unauthorized\n');
      return;
    }
    response.writeHead(401, { 'content-type': 'application/json' })
      .end(JSON.stringify({ status: 'error', errorType: 'unauthorized', error: `unknown credentials ${authorization}` }));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    close: () => new Promise<void>((resolve) => {
      server.closeAllConnections();
      server.close(() => resolve());
    }),
  };
}

describe('poolscope report --prometheus over a window of Debian\'s Prometheus', { skip: needs('prometheus'), timeout: 60_000 }, () => {
  let agent: PoolscopeAgent;
  let prometheus: PrometheusServer;
  const servers = {} as Record<'healthy' | 'closing' | 'queue' | 'perRequest', TestServer>;
  const dispatchers: Array<{ close(): Promise<void> }> = [];
  /** The window's end: the last scrape Prometheus holds, so that every query sees the same samples. */
  let at: number;

  /** A figure as PromQL gives it at the window's end. */
  async function scalar(expr: string): Promise<number> {
    const { result } = await prometheus.api<PromResult>(`/api/v1/query?query=${encodeURIComponent(expr)}&time=${at}`);
    assert.equal(result.length, 1, `${expr}: ${JSON.stringify(result)}`);
    return Number(result[0]!.value![1]);
  }

  const report = (...args: string[]) => runCli(['report', '--prometheus', prometheus.url, '--range', RANGE, '--at', String(at), ...args], 20_000);

  before(async () => {
    agent = await start({ exporters: ['prometheus'], host: '127.0.0.1', port: 0, instrumentGlobalDispatcher: false });
    prometheus = await startPrometheus({ target: new URL(agent.metricsUrl!).host, job: JOB, ruleFiles: [] });
    servers.healthy = await startServer();
    servers.closing = await startServer({ handler: closing });
    servers.queue = await startServer({ handler: slow(40) });
    servers.perRequest = await startServer();
    await eventually('a first scrape', 10_000, async () => ((await prometheus.query(`up{job="${JOB}"} == 1`)).result.length > 0 ? true : undefined));

    const shared = new undici8.Agent();
    const toClosing = new undici8.Agent();
    const smallPool = new undici8.Agent({ connections: 2 });
    const queued = instrument(smallPool as unknown as Parameters<typeof instrument>[0]) as unknown as undici8.Dispatcher;
    dispatchers.push(shared, toClosing, smallPool);
    const deadline = Date.now() + WORKLOAD_MS;
    await Promise.all([
      until(deadline, 1, 20, () => get(shared, servers.healthy)),
      until(deadline, 1, 20, () => get(toClosing, servers.closing)),
      // 24 callers through 2 connections to a server that takes 40 ms.
      until(deadline, 24, 0, () => get(queued, servers.queue)),
      // A new Agent for every call.
      until(deadline, 1, 20, async () => {
        const perCall = new undici8.Agent();
        await get(perCall, servers.perRequest);
        await perCall.close();
      }),
    ]);
    const ended = Date.now() / 1000;
    // Two scrapes after the last request: the window holds every figure the workload left.
    at = await eventually('two scrapes after the workload', 10_000, async () => {
      const { result } = await prometheus.query(`timestamp(up{job="${JOB}"})`);
      const last = Number(result[0]?.value?.[1] ?? 0);
      return last > ended + 1 ? last : undefined;
    });
  });

  after(async () => {
    await Promise.all(dispatchers.map((dispatcher) => dispatcher.close()));
    await prometheus?.stop();
    await agent?.shutdown();
  });

  it('names the closing origin below 85%, finds the client built per request, and sizes the queueing pool from the window', async () => {
    const run = await report('--json', '--fail-under', '0.85');
    assert.equal(run.code, 1, run.stderr);
    const document = JSON.parse(run.stdout) as ReportJson;
    assert.deepEqual(document.window, {
      prometheus: prometheus.url, selector: '', range: RANGE, rangeSeconds: 300, at: new Date(at * 1000).toISOString(),
    });
    assert.equal(document.throughputSeconds, 300);
    for (const server of Object.values(servers)) assert.ok(line(document, server).enoughTraffic, server.origin);

    assert.ok(document.failing.includes(`${servers.closing.origin} (undici)`), JSON.stringify(document.failing));
    assert.ok(!document.failing.includes(`${servers.healthy.origin} (undici)`));
    assert.ok(!document.failing.includes(`${servers.queue.origin} (undici)`));
    assert.equal(line(document, servers.closing).reuseRate, 0);
    assert.ok(line(document, servers.healthy).reuseRate! > 0.9);
    assert.deepEqual(line(document, servers.healthy).findings, []);

    const perRequest = line(document, servers.perRequest);
    assert.deepEqual(kinds(perRequest), ['client-per-request']);
    assert.match(perRequest.findings[0]!.change, /one Agent/);

    // Little's law on the window's figures, from the same PromQL: open connections plus
    // throughput times the mean wait for a connection (time in queue less setup for new ones).
    const queue = line(document, servers.queue);
    const finding = queue.findings.find((f) => f.kind === 'pool-too-small');
    assert.ok(finding, JSON.stringify(queue.findings));
    const where = `server_port="${servers.queue.port}", poolscope_pool_type="undici"`;
    const increase = (name: string, extra = '') => `sum(increase(${name}{${where}${extra}}[${RANGE}]))`;
    // The report shows counts to a tenth, and so computes with them.
    const tenth = (value: number) => Math.round(value * 10) / 10;
    const fresh = tenth(await scalar(increase('poolscope_client_requests_total', ', poolscope_connection_reused="false"')));
    const requests = fresh + tenth(await scalar(increase('poolscope_client_requests_total', ', poolscope_connection_reused="true"')));
    const perSecond = await scalar(`sum(rate(poolscope_client_requests_total{${where}}[${RANGE}]))`);
    const queueMean = await scalar(`${increase('http_client_request_time_in_queue_sum')} / ${increase('http_client_request_time_in_queue_count')}`);
    // No connection opened within the window (they opened before the scrape that first saw the origin): 0/0, no setup to take off.
    const setupMean = (await scalar(`${increase('poolscope_client_connection_setup_duration_sum')} / ${increase('poolscope_client_connection_setup_duration_count')}`)) || 0;
    const connections = await scalar(`max_over_time((sum(http_client_open_connections{${where}}))[${RANGE}:1s])`);
    const pools = Math.max(1, await scalar(`max_over_time((sum(poolscope_client_pools{${where}}))[${RANGE}:1s])`));
    assert.equal(connections, 2, 'the pool held its 2 connections');
    const wait = queueMean - (fresh / requests) * setupMean;
    const demand = connections + perSecond * wait;
    const size = Math.max(Math.ceil(connections / pools) + 1, Math.ceil(demand / pools));
    assert.ok(perSecond > 0 && wait > 0.01, `${perSecond} requests/s waited ${wait} s`);
    assert.match(finding.evidence, new RegExp(`Little's law puts ${(perSecond * wait).toFixed(1)} requests in the queue at any moment on top of the 2 being served`));
    assert.match(finding.change, new RegExp(`at least ${Math.ceil(demand)} requests at once: \`new Agent\\(\\{ connections: ${size} \\}\\)\``));
    // Its p95 is histogram_quantile's over the window.
    const p95 = await scalar(`histogram_quantile(0.95, sum by (le) (increase(http_client_request_time_in_queue_bucket{${where}}[${RANGE}])))`);
    assert.equal(queue.queueP95Ms, Math.round(p95 * 10_000) / 10);
    assert.equal(queue.requests, requests);
  });

  it('prints the same in plain words, and reads a window of one job', async () => {
    const run = await report('--selector', `{job="${JOB}"}`, '--fail-under', '0.85');
    assert.equal(run.code, 1, run.stderr);
    assert.match(run.stdout, /│ origin\s+│ requests │ reuse │/);
    assert.match(run.stdout, new RegExp(`${servers.healthy.origin} \\(undici\\)\\n\\s+ok\\s+no problem found`));
    assert.match(run.stdout, new RegExp(`${servers.perRequest.origin} \\(undici\\)\\n\\s+!!\\s+A new client`));
    assert.match(run.stdout, new RegExp(`Figures over the 5m to .+Z from ${prometheus.url} for \\{job="${JOB}"\\}: counts are Prometheus' increase\\(\\)`));
    assert.match(run.stdout, new RegExp(`Below 85% reuse: .*${servers.closing.origin} \\(undici\\)`));
  });

  it('exits 2 with one message for a Prometheus that does not answer, refuses the query, or has no poolscope series', async () => {
    const port = await closedPort();
    const [down, malformed, empty] = await Promise.all([
      runCli(['report', '--prometheus', `http://127.0.0.1:${port}`, '--range', RANGE], 20_000),
      report('--selector', '{job=="api"}'),
      report('--selector', '{job="nope"}'),
    ]);
    for (const run of [down, malformed, empty]) {
      assert.equal(run.code, 2, run.stderr);
      assert.equal(run.stdout, '');
      assert.equal(run.stderr.trimEnd().split('\n').length, 1, run.stderr);
    }
    assert.match(down.stderr, new RegExp(`^poolscope report: cannot query http://127\\.0\\.0\\.1:${port}: ECONNREFUSED\\. Is that the address of Prometheus`));
    assert.match(malformed.stderr, /refused the query \(bad_data: .*parse error.*\); is --selector \{job=="api"\} a PromQL label matcher/);
    assert.match(empty.stderr, /no poolscope series match \{job="nope"\} in http:\/\/127\.0\.0\.1:\d+ over the 5m to .+Z: check --selector/);
  });

  it('sends --header to a Prometheus behind a gateway that wants one, and never prints the token', async () => {
    const proxy = await startAuthProxy(prometheus.url);
    try {
      const withProxy = (...args: string[]) => runCli(['report', '--prometheus', proxy.url, '--range', RANGE, '--at', String(at), ...args], 20_000);
      const [missing, wrong, right, down] = await Promise.all([
        withProxy(),
        withProxy('--header', `Authorization: Bearer wrong-${TOKEN}`),
        withProxy('--header', `Authorization: Bearer ${TOKEN}`, '--json'),
        runCli(['report', '--prometheus', `http://127.0.0.1:${await closedPort()}`, '--header', `Authorization: Bearer ${TOKEN}`], 20_000),
      ]);
      assert.equal(missing.code, 2);
      assert.match(missing.stderr, /answered HTTP 401: it wants credentials; give them with --header 'Authorization: Bearer TOKEN'/);
      assert.equal(wrong.code, 2);
      assert.match(wrong.stderr, /refused the query \(unauthorized: unknown credentials \[redacted\]\)/);
      assert.equal(right.code, 0, right.stderr);
      assert.ok(line(JSON.parse(right.stdout) as ReportJson, servers.queue).findings.some((f) => f.kind === 'pool-too-small'));
      assert.equal(down.code, 2);
      const malformed = await runCli(['report', '--prometheus', proxy.url, '--header', `Bearer ${TOKEN}`]);
      assert.equal(malformed.code, 2);
      assert.match(malformed.stderr, /--header number 1 is not 'Name: value'/);
      for (const run of [missing, wrong, right, down, malformed]) assert.ok(!printed(run).includes(TOKEN), printed(run));
    } finally {
      await proxy.close();
    }
  });
});
