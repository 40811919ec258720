import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { instrument, start, type PoolscopeAgent } from 'poolscope';
import { undici8 } from './helpers/clients.ts';
import { runCli } from './helpers/cli.ts';
import { NO_APP_SDK } from './helpers/processes.ts';
import { burstsApart, inParallel, kinds, line as poolTypeLine, parseReport, slow, type OriginLine, type ReportJson } from './helpers/report.ts';
import { closedPort, sleep, startServer, testCertificate, type TestServer } from './helpers/servers.ts';

const CHURN_KEEP_ALIVE_MS = 200;
const CHURN_GAP_MS = 800;

/** The origin's undici line: these origins are called through undici only. */
function line(report: ReportJson, server: TestServer): OriginLine {
  assert.equal(report.origins.filter((origin) => origin.origin === server.origin).length, 1, 'one line: one pool type');
  return poolTypeLine(report, server, 'undici');
}

/** poolscope's `instrument()` on an undici 8 Agent. */
function instrumented(agent: undici8.Agent): undici8.Dispatcher {
  return instrument(agent as unknown as Parameters<typeof instrument>[0]) as unknown as undici8.Dispatcher;
}

async function get(dispatcher: undici8.Dispatcher, server: TestServer): Promise<void> {
  const response = await undici8.request(`${server.origin}/v1/messages`, { dispatcher });
  await response.body.text();
}

describe('poolscope report on a real agent\'s /metrics', () => {
  let agent: PoolscopeAgent;
  let folder: string;
  const servers = {} as Record<'perRequest' | 'churn' | 'queue' | 'fanOut' | 'healthy' | 'quiet', TestServer>;
  let savedFile: string;
  /** The pauses between the churn origin's bursts, as the test measured them. */
  let churnGapsMs: number[] = [];

  before(async () => {
    agent = await start({ exporters: ['prometheus'], host: '127.0.0.1', port: 0, instrumentGlobalDispatcher: false });
    folder = await mkdtemp(join(tmpdir(), 'poolscope-report-'));
    const tls = await testCertificate();
    servers.perRequest = await startServer();
    // No Keep-Alive hint from the server: the client's keep-alive decides, as with most API front ends.
    servers.churn = await startServer({ keepAliveTimeout: 0 });
    servers.queue = await startServer({ handler: slow(40) });
    servers.fanOut = await startServer({ tls, handler: slow(30) });
    servers.healthy = await startServer();
    servers.quiet = await startServer();

    // A new Agent for every call.
    for (let i = 0; i < 24; i++) {
      const perCall = new undici8.Agent();
      await get(perCall, servers.perRequest);
      await perCall.close();
    }
    // Bursts 800 ms apart through a pool whose keep-alive is 200 ms, beside the other workloads.
    const shortKeepAlive = new undici8.Pool(servers.churn.origin, { keepAliveTimeout: CHURN_KEEP_ALIVE_MS });
    const churning = burstsApart(CHURN_GAP_MS, () => get(shortKeepAlive, servers.churn));
    // 24 callers through 2 connections.
    const smallPool = new undici8.Agent({ connections: 2 });
    const queued = instrumented(smallPool);
    await inParallel(24, 48, () => get(queued, servers.queue));
    // 12 calls at once over HTTPS, each on its own connection, in waves that reuse them.
    const wide = new undici8.Agent({ connect: { ca: tls.cert } });
    for (let wave = 0; wave < 8; wave++) {
      await inParallel(12, 12, () => get(wide, servers.fanOut));
      await sleep(5);
    }
    // One shared Agent, sequential calls.
    const shared = new undici8.Agent();
    for (let i = 0; i < 30; i++) {
      await get(shared, servers.healthy);
      await sleep(1);
    }
    // Three calls, each on a new Agent: 0% reuse, but too little traffic to judge.
    for (let i = 0; i < 3; i++) {
      const perCall = new undici8.Agent();
      await get(perCall, servers.quiet);
      await perCall.close();
    }

    churnGapsMs = await churning;
    const exposition = await (await fetch(agent.metricsUrl!)).text();
    savedFile = join(folder, 'metrics.prom');
    await writeFile(savedFile, exposition);
    await Promise.all([shortKeepAlive.close(), smallPool.close(), wide.close(), shared.close()]);
  });

  after(async () => {
    await agent?.shutdown();
    if (folder !== undefined) await rm(folder, { recursive: true, force: true });
  });

  it('gives each origin its figures, equal to what the servers saw, and the diagnosis of its problem', async () => {
    const run = await runCli(['report', savedFile, '--json']);
    assert.equal(run.code, 0, run.stderr);
    const report = parseReport(run.stdout);
    assert.deepEqual(report.notChecked, []);
    assert.equal(report.throughputSeconds, null, 'a saved file is one reading: no throughput');
    for (const server of Object.values(servers)) {
      const origin = line(report, server);
      assert.equal(origin.requests, server.truth.requests, `${server.origin}: requests = what the server received`);
      assert.equal(origin.connectionsOpened, server.truth.connections, `${server.origin}: connections = what it accepted`);
    }

    const perRequest = line(report, servers.perRequest);
    assert.equal(perRequest.reuseRate, 0);
    assert.deepEqual(kinds(perRequest), ['client-per-request']);
    assert.match(perRequest.findings[0]!.evidence, /^24 pools created for 24 requests/);
    assert.match(perRequest.findings[0]!.change, /one Agent/);

    const churn = line(report, servers.churn);
    assert.deepEqual(kinds(churn), ['keep-alive-churn']);
    assert.match(churn.findings[0]!.evidence, /^4 of 5 new connections were opened within 60 s after an idle one/);
    // Sockets are reused within a burst only: a socket idle past the 200 ms keep-alive is closed,
    // so the longest idle before a reuse is at most the bucket holding 200 ms, below the 800 ms gaps.
    const longestReused = Number(/sockets idle up to ([\d.]+) ms were reused/.exec(churn.findings[0]!.evidence)?.[1]);
    assert.ok(longestReused > 0 && longestReused <= 250, churn.findings[0]!.evidence);
    // The keep-alive advised covers every gap the test made, from the gaps the agent measured,
    // and is the one figure the change names: not the churn window, not undici's default.
    const change = churn.findings[0]!.change;
    const longestGapMs = Math.max(...churnGapsMs);
    const advised = Number(/keepAliveTimeout: (\d+)/.exec(change)?.[1]);
    assert.ok(advised > longestGapMs && advised <= 10 * longestGapMs, `${advised} ms for gaps up to ${longestGapMs} ms: ${change}`);
    assert.deepEqual(change.match(/\d+/g), [String(advised)], change);
    assert.match(churn.findings[0]!.evidence, /95% of them after a gap of at most \d+ ms/);

    const queue = line(report, servers.queue);
    assert.ok(kinds(queue).includes('pool-too-small'), JSON.stringify(queue.findings));
    assert.match(queue.findings[0]!.evidence, /for one of the 2 connections open/);
    assert.match(queue.findings[0]!.change, /above 2/);

    const fanOut = line(report, servers.fanOut);
    assert.ok(fanOut.connectionsOpened >= 12);
    assert.deepEqual(kinds(fanOut), ['http2']);
    assert.match(fanOut.findings[0]!.change, /allowH2: true/);

    const healthy = line(report, servers.healthy);
    assert.ok(healthy.reuseRate! > 0.9);
    assert.deepEqual(healthy.findings, []);

    const quiet = line(report, servers.quiet);
    assert.equal(quiet.enoughTraffic, false);
    assert.deepEqual(kinds(quiet), ['too-little-traffic']);
  });

  it('exits 1 under --fail-under for the origins with enough traffic that reuse too little, and names them', async () => {
    const run = await runCli(['report', savedFile, '--json', '--fail-under', '0.85']);
    assert.equal(run.code, 1, run.stderr);
    const report = parseReport(run.stdout);
    assert.deepEqual(new Set(report.failing), new Set([`${servers.perRequest.origin} (undici)`, `${servers.churn.origin} (undici)`]));
    assert.equal(line(report, servers.quiet).reuseRate, 0, 'too little traffic never fails, whatever its reuse');

    const passing = await runCli(['report', savedFile, '--json', '--fail-under', '0']);
    assert.equal(passing.code, 0);
  });

  it('prints the same in plain words', async () => {
    const run = await runCli(['report', savedFile, '--fail-under', '0.85']);
    assert.equal(run.code, 1);
    assert.match(run.stdout, /│ origin\s+│ requests │ reuse │/);
    assert.match(run.stdout, new RegExp(`${servers.churn.origin} \\(undici\\)\\n\\s+!!\\s+Connections close while idle`));
    assert.match(run.stdout, /change\s+Set `new Agent\(\{ keepAliveTimeout: \d+ \}\)`/);
    assert.match(run.stdout, new RegExp(`${servers.healthy.origin} \\(undici\\)\\n\\s+ok\\s+no problem found`));
    assert.match(run.stdout, /Below 85% reuse: /);
  });

  it('sizes a queueing pool by Little\'s law from throughput measured on the live endpoint', async () => {
    const queue = await startServer({ handler: slow(40) });
    const agentOf2 = new undici8.Agent({ connections: 2 });
    const pool = instrumented(agentOf2);
    // 24 callers through 2 connections for about 3 s; the report reads /metrics twice, 1 s apart, meanwhile.
    const load = inParallel(24, 150, () => get(pool, queue));
    await sleep(300);
    const run = await runCli(['report', agent.metricsUrl!, '--json', '--interval', '1']);
    await load;
    await agentOf2.close();
    assert.equal(run.code, 0, run.stderr);
    const report = parseReport(run.stdout);
    assert.equal(report.throughputSeconds, 1);
    const origin = line(report, queue);
    const finding = origin.findings.find((f) => f.kind === 'pool-too-small');
    assert.ok(finding, JSON.stringify(origin.findings));
    // Little's law from the live figures: the requests waiting at any moment, on top of the 2
    // served. 24 callers through 2 connections: however fast this machine, requests wait. (The
    // rate and the mean wait are each measured over the interval, so their product can exceed
    // the 22 callers waiting at most: no upper bound holds on a loaded machine.)
    const waiting = Number(/Little's law puts ([\d.]+) requests in the queue at any moment on top of the 2 being served/.exec(finding.evidence)?.[1]);
    assert.ok(waiting >= 1, `waiting ${waiting}: ${finding.evidence}`);
    // The pool it sizes holds them all: the 2 served and those waiting (shown to a tenth).
    const size = Number(/connections: (\d+)/.exec(finding.change)?.[1]);
    const sizes = [waiting - 0.05, waiting + 0.05].map((shown) => Math.max(3, Math.ceil(2 + shown)));
    assert.ok(sizes.includes(size), `connections: ${size} for ${waiting} waiting`);
  });
});

describe('poolscope report over several instances', () => {
  const app = fileURLToPath(new URL('./fixtures/app.mjs', import.meta.url));
  const apps: ChildProcess[] = [];
  after(() => {
    for (const child of apps) child.kill('SIGKILL');
  });

  async function startApp(target: TestServer, port: number): Promise<void> {
    const child = spawn(process.execPath, ['--import', 'poolscope/register', app], {
      cwd: fileURLToPath(new URL('..', import.meta.url)),
      env: { ...process.env, ...NO_APP_SDK, TARGET_URL: target.origin, REQUESTS: '15', STAY: '1', OTEL_EXPORTER_PROMETHEUS_PORT: String(port) },
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    apps.push(child);
    await new Promise<void>((resolve, reject) => {
      child.stdout!.on('data', (chunk: Buffer) => {
        if (String(chunk).includes('ready')) resolve();
      });
      child.on('exit', (code) => reject(new Error(`app exited with ${code}`)));
    });
  }

  it('adds their figures up, from live endpoints and from saved files alike', async () => {
    const server = await startServer();
    const ports = [await closedPort(), await closedPort()];
    await Promise.all(ports.map((port) => startApp(server, port)));
    const urls = ports.map((port) => `http://127.0.0.1:${port}/metrics`);

    const alone = parseReport((await runCli(['report', urls[0]!, '--json', '--interval', '0'])).stdout);
    assert.equal(line(alone, server).requests, 15);
    assert.deepEqual(kinds(line(alone, server)), ['too-little-traffic']);

    const together = await runCli(['report', ...urls, '--json', '--interval', '0', '--fail-under', '0.85']);
    assert.equal(together.code, 0, together.stderr);
    const both = line(parseReport(together.stdout), server);
    assert.equal(both.requests, 30);
    assert.equal(both.requests, server.truth.requests);
    assert.equal(both.connectionsOpened, server.truth.connections);
    assert.equal(both.enoughTraffic, true);

    const folder = await mkdtemp(join(tmpdir(), 'poolscope-instances-'));
    try {
      const files = await Promise.all(urls.map(async (url, i) => {
        const file = join(folder, `instance-${i}.prom`);
        await writeFile(file, await (await fetch(url)).text());
        return file;
      }));
      const fromFiles = line(parseReport((await runCli(['report', ...files, '--json'])).stdout), server);
      // All but the peak, which each read of a live endpoint starts anew.
      const counted = ({ requests, reuseRate, connectionsOpened, enoughTraffic, findings }: OriginLine) =>
        ({ requests, reuseRate, connectionsOpened, enoughTraffic, findings });
      assert.deepEqual(counted(fromFiles), counted(both));
    } finally {
      await rm(folder, { recursive: true, force: true });
    }
  });
});

describe('poolscope report on sources it cannot read', () => {
  it('exits 2 with the line at fault for a malformed file', async () => {
    const folder = await mkdtemp(join(tmpdir(), 'poolscope-bad-'));
    try {
      const file = join(folder, 'metrics.prom');
      await writeFile(file, '# TYPE poolscope_client_requests_total counter\npoolscope_client_requests_total{server_address="a" 3\n');
      const run = await runCli(['report', file]);
      assert.equal(run.code, 2);
      assert.equal(run.stdout, '');
      assert.match(run.stderr, /is not a Prometheus exposition \(line 2: /);

      const unrelated = join(folder, 'other.prom');
      await writeFile(unrelated, '# TYPE process_cpu_seconds_total counter\nprocess_cpu_seconds_total 12.5\n');
      const other = await runCli(['report', unrelated]);
      assert.equal(other.code, 2);
      assert.match(other.stderr, /no poolscope series in /);

      const missing = await runCli(['report', join(folder, 'absent.prom')]);
      assert.equal(missing.code, 2);
      assert.match(missing.stderr, /cannot read .*absent\.prom: ENOENT/);
    } finally {
      await rm(folder, { recursive: true, force: true });
    }
  });

  it('exits 2 for an endpoint that does not answer', async () => {
    const port = await closedPort();
    const run = await runCli(['report', `http://127.0.0.1:${port}/metrics`]);
    assert.equal(run.code, 2);
    assert.equal(run.stdout, '');
    assert.match(run.stderr, new RegExp(`cannot read http://127\\.0\\.0\\.1:${port}/metrics: ECONNREFUSED`));
  });

  it('exits 2 for a command line it cannot read', async () => {
    for (const args of [['report', '--fail-under', 'most'], ['report', '--rtt', '5'], ['nonsense'], ['demo', '--requests', '3']]) {
      const run = await runCli(args);
      assert.equal(run.code, 2, args.join(' '));
      assert.match(run.stderr, /^poolscope: .+\n\nRun `poolscope --help` for usage\.\n$/);
    }
    const help = await runCli(['--help']);
    assert.equal(help.code, 0);
    assert.match(help.stdout, /--fail-under RATIO/);
  });
});
