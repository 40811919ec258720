import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { after, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { parse } from 'yaml';
import { OUTPUTS } from '../dashboards/src/generate.ts';
import {
  dashboardsDir, interpolateRegex, loadDashboards, panelQueries, substitute, type PanelQuery,
} from './helpers/dashboards.ts';
import { needs, startPrometheus, type PrometheusServer, type PromSeries } from './helpers/prometheus.ts';
import { NO_APP_SDK } from './helpers/processes.ts';
import { closedPort, sleep, startServer, type TestServer } from './helpers/servers.ts';

const JOB = 'poolscope-e2e';
/** What Grafana makes of `$__rate_interval` for a data source scraped every second: 4 scrapes. */
const RATE_INTERVAL = '4s';
/** `$__range` of a dashboard showing the last 5 minutes. */
const RANGE = '5m';
/** Grafana's range queries: the last seconds, one point per second. */
const RANGE_SECONDS = 10;

const workload = fileURLToPath(new URL('./fixtures/pool-workload.mjs', import.meta.url));
const projectRoot = fileURLToPath(new URL('..', import.meta.url));
const rulesFile = fileURLToPath(new URL(OUTPUTS.rules, dashboardsDir));
const ruleCount = () => (parse(readFileSync(rulesFile, 'utf8')) as { groups: { rules: unknown[] }[] }).groups
  .reduce((count, group) => count + group.rules.length, 0);

let app: ChildProcess | undefined;
let prometheus: PrometheusServer | undefined;
after(async () => {
  app?.kill('SIGKILL');
  await prometheus?.stop();
});

interface App { child: ChildProcess; stdout: () => string; stderr: () => string; printed(text: string, timeoutMs: number): Promise<void> }

function startApp(env: Record<string, string>): App {
  const child = spawn(process.execPath, ['--import', 'poolscope/register', workload], {
    cwd: projectRoot,
    env: { ...process.env, ...NO_APP_SDK, ...env },
    stdio: ['pipe', 'pipe', 'pipe'],
  });
  let stdout = '';
  let stderr = '';
  child.stdout!.on('data', (chunk: Buffer) => (stdout += chunk));
  child.stderr!.on('data', (chunk: Buffer) => (stderr += chunk));
  return {
    child,
    stdout: () => stdout,
    stderr: () => stderr,
    async printed(text, timeoutMs) {
      const deadline = Date.now() + timeoutMs;
      while (!stdout.includes(text)) {
        assert.equal(child.exitCode, null, `the app exited: ${stderr}`);
        assert.ok(Date.now() < deadline, `the app did not print ${text}: ${stdout} ${stderr}`);
        await sleep(20);
      }
    },
  };
}

/** Polls until `check` gives a value, for at most `timeoutMs`. */
async function until<T>(what: string, timeoutMs: number, check: () => Promise<T | undefined>): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await check();
    if (value !== undefined) return value;
    assert.ok(Date.now() < deadline, `timed out waiting for ${what}; prometheus said: ${prometheus?.log()}`);
    await sleep(250);
  }
}

function samplesOf(series: PromSeries): string[] {
  return series.values?.map(([, value]) => value) ?? (series.value ? [series.value[1]] : []);
}

/** Runs a panel's query as Grafana would, and asserts it returns data, every value finite. */
async function assertReturnsFiniteData(query: PanelQuery, variables: Record<string, string>): Promise<PromSeries[]> {
  const expr = substitute(query.expr, variables);
  const where = `${query.dashboard} / ${query.panel} / ${query.refId}: ${expr}`;
  assert.ok(!/\$\w/.test(expr), `${where}: every variable substituted`);
  const result = query.instant ? await prometheus!.query(expr) : await prometheus!.queryRange(expr, RANGE_SECONDS);
  const series = result.result.filter((s) => samplesOf(s).length > 0);
  assert.ok(series.length > 0, `${where} returns data`);
  for (const s of series) {
    for (const value of samplesOf(s)) assert.ok(Number.isFinite(Number(value)), `${where}: ${JSON.stringify(s.metric)} has ${value}`);
  }
  return series;
}

/** `label_values(selector, label)` as Grafana's Prometheus data source runs it. */
async function labelValues(query: string, variables: Record<string, string>): Promise<string[]> {
  const match = /^label_values\((.+), (\w+)\)$/.exec(substitute(query, variables));
  assert.ok(match, `a label_values query: ${query}`);
  return prometheus!.api<string[]>(`/api/v1/label/${match[2]}/values?match[]=${encodeURIComponent(match[1]!)}`);
}

interface Alert { labels: Record<string, string>; state: string }
interface RuleGroup { rules: { name: string; health: string; lastError?: string; type: string }[] }

describe('dashboards and rules against Debian\'s Prometheus', { skip: needs('prometheus') }, () => {
  it('every panel and variable query returns finite data; the reuse alert is pending for the closing origin only', { timeout: 90_000 }, async (t) => {
    const healthy = await startServer();
    // Closes each connection once it has been idle 20 ms, while the app calls every 100 ms:
    // keep-alive shorter than the gaps, so every call reopens a connection.
    const closing = await startServer({ closeIdleAfterMs: 50 });
    const slow = await startServer({
      handler: (request, response) => {
        request.resume();
        request.on('end', () => setTimeout(() => response.end('ok'), 50));
      },
    });
    const refusedPort = await closedPort();
    const metricsPort = await closedPort();
    const started = startApp({
      HEALTHY_URL: healthy.origin,
      CLOSING_URL: closing.origin,
      QUEUE_URL: slow.origin,
      REFUSED_URL: `http://127.0.0.1:${refusedPort}`,
      OTEL_EXPORTER_PROMETHEUS_HOST: '127.0.0.1',
      OTEL_EXPORTER_PROMETHEUS_PORT: String(metricsPort),
      MAX_MS: '60000',
    });
    app = started.child;
    await started.printed('ready', 15_000);
    prometheus = await startPrometheus({ target: `127.0.0.1:${metricsPort}`, job: JOB, ruleFiles: [rulesFile] });

    // Enough scrapes for every rate window, and the alerts of the workload's bad origins.
    const portOf = (alert: Alert) => Number(alert.labels.server_port);
    let alertNames: string[] = [];
    const alerts = await until('8 scrapes and the reuse, queueing and connect-error alerts', 45_000, async () => {
      const scrapes = await prometheus!.query(`count_over_time(up{job="${JOB}"}[1m])`);
      if (Number(scrapes.result[0]?.value?.[1] ?? 0) < 8) return undefined;
      const { alerts } = await prometheus!.api<{ alerts: Alert[] }>('/api/v1/alerts');
      const named = (name: string) => alerts.filter((alert) => alert.labels.alertname === name);
      const ready = named('PoolscopeLowConnectionReuse').length > 0 && named('PoolscopeRequestsQueueing').length > 0
        && named('PoolscopeConnectErrors').length > 0;
      alertNames = alerts.map((alert) => `${alert.labels.alertname} (${alert.labels.server_port} ${alert.state})`);
      return ready ? named : undefined;
    });

    const reuse = alerts('PoolscopeLowConnectionReuse');
    assert.deepEqual(reuse.map(portOf), [closing.port], 'low reuse alerts for the closing origin only');
    assert.ok(['pending', 'firing'].includes(reuse[0]!.state));
    assert.equal(reuse[0]!.labels.job, JOB);
    assert.deepEqual(alerts('PoolscopeConnectErrors').map((a) => [portOf(a), a.labels.error_type]), [[refusedPort, 'ECONNREFUSED']]);
    assert.deepEqual(alerts('PoolscopeRequestsQueueing').map(portOf), [slow.port], 'queueing alerts for the small pool only');
    for (const alert of alerts('PoolscopeKeepAliveChurn')) assert.equal(portOf(alert), closing.port, 'churn only where connections close');
    assert.deepEqual(alerts('PoolscopeClientPerRequest'), [], 'one pool per origin is not a client per request');

    // Every rule evaluated, without error; every recording rule has data.
    const groups = await until('every rule evaluated', 10_000, async () => {
      const { groups } = await prometheus!.api<{ groups: RuleGroup[] }>('/api/v1/rules');
      return groups.every((group) => group.rules.every((rule) => rule.health !== 'unknown')) ? groups : undefined;
    });
    const rules = groups.flatMap((group) => group.rules);
    assert.equal(rules.length, ruleCount());
    for (const rule of rules) assert.deepEqual([rule.name, rule.health, rule.lastError ?? ''], [rule.name, 'ok', '']);
    for (const rule of rules.filter((r) => r.type === 'recording')) {
      const { result } = await prometheus!.query(rule.name);
      assert.ok(result.length > 0, `${rule.name} has data`);
    }

    // The variables, as Grafana fills them in: first All (.+), then the values their queries list.
    const dashboards = loadDashboards();
    for (const [file, dashboard] of dashboards) {
      const all = { job: '.+', instance: '.+', origin: '.+', pool_type: '.+' };
      const picked: Record<string, string> = {};
      for (const variable of dashboard.templating.list.filter((v) => v.type === 'query')) {
        const values = await labelValues(variable.query!, { ...all, ...picked });
        assert.ok(values.length > 0, `${file}: variable ${variable.name} lists values`);
        picked[variable.name] = interpolateRegex(values);
      }
      assert.equal(picked.job, interpolateRegex([JOB]));
      assert.equal(picked.instance, interpolateRegex([`127.0.0.1:${metricsPort}`]));
      assert.equal(picked.origin, '127\\\\.0\\\\.0\\\\.1');
      assert.equal(picked.pool_type, 'undici', 'undici and fetch are the pools the workload calls');

      const queries = panelQueries(file, dashboard);
      t.diagnostic(`${file}: ${queries.length} panel queries, each run with All and with the listed values`);
      for (const variables of [all, picked]) {
        for (const query of queries) {
          const series = await assertReturnsFiniteData(query, { ...variables, __rate_interval: RATE_INTERVAL, __range: RANGE });
          if (query.panel === 'Reuse rate per origin') {
            // The closing origin never reused a connection: its ratio is 0, not a gap.
            const closingSeries = series.find((s) => Number(s.metric.server_port) === closing.port);
            assert.ok(closingSeries, 'the reuse rate has a series for the origin that never reused');
            assert.ok(samplesOf(closingSeries).every((value) => Number(value) === 0));
            assert.ok(series.some((s) => Number(s.metric.server_port) === healthy.port && samplesOf(s).every((v) => Number(v) > 0.85)));
          }
        }
      }
    }

    // Stop the traffic; once Prometheus has scraped the last figures, they equal what each server saw.
    app.stdin!.write('stop\n');
    await started.printed('stopped', 15_000);
    const stoppedAt = Date.now() / 1000;
    await until('a scrape after the workload stopped', 10_000, async () => {
      const { result } = await prometheus!.query(`timestamp(up{job="${JOB}"})`);
      return Number(result[0]?.value?.[1] ?? 0) > stoppedAt + 0.5 ? true : undefined;
    });
    const byPort = async (expr: string) => {
      const { result } = await prometheus!.query(`sum by (server_port) (${expr})`);
      return new Map(result.map((s) => [Number(s.metric.server_port), Number(s.value![1])]));
    };
    const requests = await byPort(`poolscope_client_requests_total{job="${JOB}"}`);
    const fresh = await byPort(`poolscope_client_requests_total{job="${JOB}", poolscope_connection_reused="false"}`);
    const opened = await byPort(`poolscope_client_connections_opened_total{job="${JOB}"}`);
    for (const server of [healthy, closing, slow] as TestServer[]) {
      assert.ok(server.truth.requests > 50, `${server.origin} served ${server.truth.requests} requests`);
      assert.equal(requests.get(server.port), server.truth.requests, `${server.origin}: requests`);
      assert.equal(fresh.get(server.port), server.truth.connectionsWithRequests, `${server.origin}: first requests of a connection`);
      assert.equal(opened.get(server.port), server.truth.connections, `${server.origin}: connections opened`);
    }
    assert.equal(closing.truth.connections, closing.truth.requests, 'the closing origin opened a connection per request');
    assert.equal(slow.truth.connections, 2, 'the small pool kept its 2 connections');
    assert.equal(started.stderr(), '', 'the app printed no warning');
    t.diagnostic(`alerts seen: ${[...new Set(alertNames)].join(', ')}`);
    t.diagnostic(`requests served: healthy ${healthy.truth.requests} on ${healthy.truth.connections} connections, ` +
      `closing ${closing.truth.requests} on ${closing.truth.connections}, queueing ${slow.truth.requests} on ${slow.truth.connections}`);
  });
});
