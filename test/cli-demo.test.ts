import assert from 'node:assert/strict';
import { once } from 'node:events';
import { describe, it } from 'node:test';
import { runCli, spawnCli } from './helpers/cli.ts';
import { closedPort } from './helpers/servers.ts';

interface ScenarioJson {
  name: string;
  poolType: string;
  requests: number;
  reuseRate: number;
  connectionsOpened: number;
  ttfbColdP50Ms: number | null;
  ttfbWarmP50Ms: number | null;
  queueP95Ms: number | null;
  savedSeconds: number;
  wallMs: number;
  findings: Array<{ kind: string; summary: string; evidence: string; change: string }>;
}

const RTT_MS = 20;

describe('poolscope demo', () => {
  it('tells the whole story in one JSON document: --json --rtt 20', async () => {
    const run = await runCli(['demo', '--json', '--rtt', String(RTT_MS)], 120_000);
    assert.equal(run.code, 0, run.stderr);
    // stdout is the JSON document and nothing else; progress went to stderr.
    const document = JSON.parse(run.stdout) as { scenarios: ScenarioJson[]; metricsUrl: string };
    assert.deepEqual(Object.keys(document), ['scenarios', 'metricsUrl']);
    assert.match(document.metricsUrl, /^http:\/\/127\.0\.0\.1:\d+\/metrics$/);
    assert.match(run.stderr, /^client-per-request: fetch\(\) with a new undici Agent for every call/m);
    const scenario = (name: string): ScenarioJson => {
      const found = document.scenarios.find((entry) => entry.name === name);
      assert.ok(found, `no ${name} in ${run.stdout}`);
      return found;
    };
    const kinds = (name: string) => scenario(name).findings.map((finding) => finding.kind);
    assert.deepEqual(document.scenarios.map((s) => s.name),
      ['client-per-request', 'shared-pool', 'short-keepalive', 'small-pool', 'https-agent-per-request']);
    for (const entry of document.scenarios) {
      assert.equal(entry.requests, 60, `${entry.name}: every call counted once`);
      assert.equal(entry.poolType, entry.name === 'https-agent-per-request' ? 'http.Agent' : 'undici', entry.name);
      assert.ok(entry.wallMs > 0);
    }

    const perRequest = scenario('client-per-request');
    assert.ok(perRequest.reuseRate < 0.05, `client-per-request reuse ${perRequest.reuseRate}`);
    assert.equal(perRequest.connectionsOpened, 60);
    assert.equal(perRequest.savedSeconds, 0);
    assert.ok(kinds('client-per-request').includes('client-per-request'));

    const shared = scenario('shared-pool');
    assert.ok(shared.reuseRate > 0.9, `shared-pool reuse ${shared.reuseRate}`);
    assert.ok(shared.savedSeconds > 0);
    assert.deepEqual(shared.findings, [], 'a pool sized for its traffic has nothing to fix');
    // A new connection pays a TCP and a TLS round trip before its request: two added RTTs.
    assert.ok(shared.ttfbColdP50Ms! - shared.ttfbWarmP50Ms! >= 2 * RTT_MS,
      `cold ${shared.ttfbColdP50Ms} ms vs warm ${shared.ttfbWarmP50Ms} ms`);

    const churn = scenario('short-keepalive');
    assert.ok(kinds('short-keepalive').includes('keep-alive-churn'), JSON.stringify(churn.findings));
    // Bursts 500 ms apart against a 250 ms keep-alive: the keep-alive advised covers the 500 ms
    // gaps from the gaps measured, and is at most ten times them.
    const advice = churn.findings.find((finding) => finding.kind === 'keep-alive-churn')!.change;
    const advisedMs = Number(/keepAliveTimeout: (\d+)/.exec(advice)?.[1]);
    assert.ok(advisedMs > 500 && advisedMs <= 5000, advice);
    assert.ok(churn.ttfbColdP50Ms! - churn.ttfbWarmP50Ms! >= 2 * RTT_MS);

    const small = scenario('small-pool');
    const queueing = small.findings.find((finding) => finding.kind === 'pool-too-small');
    assert.ok(queueing, JSON.stringify(small.findings));
    assert.ok(small.queueP95Ms! > 10 * RTT_MS, `p95 time in queue ${small.queueP95Ms} ms`);
    assert.match(queueing.change, /connections: \d+/);
    assert.ok(kinds('small-pool').includes('http2'));

    // node:https with a new Agent per call: the same count, and the change in http.Agent's words.
    const agentPerRequest = scenario('https-agent-per-request');
    assert.match(run.stderr, /^https-agent-per-request: https\.request\(\) with a new https\.Agent for every call/m);
    assert.equal(agentPerRequest.poolType, 'http.Agent');
    assert.equal(agentPerRequest.reuseRate, 0);
    assert.equal(agentPerRequest.connectionsOpened, 60);
    assert.deepEqual(kinds('https-agent-per-request'), ['client-per-request']);
    const [perCall] = agentPerRequest.findings;
    assert.match(perCall!.evidence, /^60 pools created for 60 requests/);
    assert.match(perCall!.change, /^Create one `new https\.Agent\(\{ keepAlive: true \}\)` when the service starts/);
    assert.match(perCall!.change, /never `agent: false`/);
    assert.doesNotMatch(perCall!.change, /dispatcher/, 'no undici setting for an http.Agent');
  });

  it('keeps /metrics up with --serve for poolscope report to read, until interrupted', async () => {
    const port = await closedPort();
    const child = spawnCli(['demo', '--serve', '--port', String(port), '--requests', '20', '--rtt', '5']);
    let stdout = '';
    let stderr = '';
    child.stdout!.on('data', (chunk: Buffer) => (stdout += chunk));
    const serving = new Promise<void>((resolve) => {
      child.stderr!.on('data', (chunk: Buffer) => {
        stderr += chunk;
        if (stderr.includes('until interrupted')) resolve();
      });
    });
    await serving;
    assert.match(stdout, /│ scenario\s+│ requests │ reuse │ connections opened │ TTFB cold \/ warm p50 │ queue p95 │ time saved │ wall time │/);
    assert.match(stdout, /client-per-request: what poolscope report says\n\s+!!\s+A new client/);

    const report = await runCli(['report', `http://127.0.0.1:${port}/metrics`, '--json', '--interval', '0']);
    assert.equal(report.code, 0, report.stderr);
    const origins = (JSON.parse(report.stdout) as { origins: Array<{ requests: number; poolType: string }> }).origins;
    assert.equal(origins.length, 5, 'one origin per scenario, and none for the reads of /metrics');
    for (const origin of origins) assert.equal(origin.requests, 20);
    assert.deepEqual(origins.map((origin) => origin.poolType).sort(), ['http.Agent', 'undici', 'undici', 'undici', 'undici']);

    child.kill('SIGINT');
    const [code] = await once(child, 'exit');
    assert.equal(code, 0);
  });
});
