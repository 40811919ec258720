// poolscope report on origins called through node:http Agents: the same findings as for undici,
// each change named in http.Agent's settings (one shared Agent with keepAlive, its `timeout`, its
// `maxSockets` and the AWS SDK's handler), no HTTP/2 advice it could not follow, and an origin
// called through both kinds of pool reported once per pool type.
import assert from 'node:assert/strict';
import http from 'node:http';
import https from 'node:https';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { start, type PoolscopeAgent } from 'poolscope';
import { runCli } from './helpers/cli.ts';
import { undici8 } from './helpers/clients.ts';
import { nodeRequest } from './helpers/node-http.ts';
import { burstsApart, inParallel, kinds, line, parseReport, slow, type OriginLine, type ReportJson } from './helpers/report.ts';
import { sleep, startServer, testCertificate, type TestServer } from './helpers/servers.ts';

const CHURN_TIMEOUT_MS = 200;
const CHURN_GAP_MS = 800;
const MAX_SOCKETS = 2;

function finding(origin: OriginLine, kind: string): OriginLine['findings'][number] {
  const found = origin.findings.find((f) => f.kind === kind);
  assert.ok(found, `no ${kind} in ${JSON.stringify(origin.findings)}`);
  return found;
}

async function get(server: TestServer, agent: http.Agent | false): Promise<void> {
  assert.equal((await nodeRequest(`${server.origin}/v1/messages`, { agent })).body, 'ok');
}

describe('poolscope report on origins called through node:http', () => {
  let agent: PoolscopeAgent;
  let folder: string;
  let savedFile: string;
  const servers = {} as Record<'perRequest' | 'churn' | 'queue' | 'fanOut' | 'keepAliveOff' | 'serverHint' | 'both', TestServer>;
  /** The pauses between the churn origin's bursts, as the test measured them. */
  let churnGapsMs: number[] = [];

  before(async () => {
    agent = await start({ exporters: ['prometheus'], host: '127.0.0.1', port: 0, instrumentGlobalDispatcher: false });
    folder = await mkdtemp(join(tmpdir(), 'poolscope-report-node-http-'));
    const tls = await testCertificate();
    servers.perRequest = await startServer();
    // No Keep-Alive hint: the Agent's own `timeout` closes idle sockets.
    servers.churn = await startServer({ keepAliveTimeout: 0 });
    servers.queue = await startServer({ handler: slow(40) });
    servers.fanOut = await startServer({ tls, handler: slow(30) });
    servers.keepAliveOff = await startServer();
    // A Node server whose keepAliveTimeout is under 2 s sends `Keep-Alive: timeout=1`: Node's Agents then reuse nothing.
    servers.serverHint = await startServer({ keepAliveTimeout: 1500 });
    servers.both = await startServer();

    // A new Agent per call: `agent: false` for half of them, `new http.Agent()` for the rest.
    for (let i = 0; i < 24; i++) await get(servers.perRequest, i % 2 === 0 ? false : new http.Agent());
    // Bursts 800 ms apart through an Agent that closes sockets idle for 200 ms, beside the rest.
    const shortTimeout = new http.Agent({ keepAlive: true, timeout: CHURN_TIMEOUT_MS });
    const churning = burstsApart(CHURN_GAP_MS, () => get(servers.churn, shortTimeout));
    // 24 callers through maxSockets: 2.
    const small = new http.Agent({ keepAlive: true, maxSockets: MAX_SOCKETS });
    await inParallel(24, 48, () => get(servers.queue, small));
    // 12 calls at once over HTTPS, each on its own socket, in waves that reuse them.
    const wide = new https.Agent({ keepAlive: true, ca: tls.cert });
    for (let wave = 0; wave < 10; wave++) {
      await inParallel(12, 12, () => get(servers.fanOut, wide));
      await sleep(5);
    }
    // One shared Agent built without keepAlive, as `new http.Agent()` is.
    const noKeepAlive = new http.Agent();
    const hinted = new http.Agent({ keepAlive: true });
    for (let i = 0; i < 24; i++) {
      await get(servers.keepAliveOff, noKeepAlive);
      await get(servers.serverHint, hinted);
      await sleep(2);
    }
    // One origin, two kinds of pool: an undici Agent and an http.Agent, 15 calls each.
    const undiciAgent = new undici8.Agent();
    const httpAgent = new http.Agent({ keepAlive: true });
    for (let i = 0; i < 15; i++) {
      await (await undici8.request(`${servers.both.origin}/undici/${i}`, { dispatcher: undiciAgent })).body.text();
      await get(servers.both, httpAgent);
      await sleep(2);
    }

    churnGapsMs = await churning;
    savedFile = join(folder, 'metrics.prom');
    await writeFile(savedFile, await (await fetch(agent.metricsUrl!)).text());
    for (const pool of [shortTimeout, small, wide, hinted, httpAgent]) pool.destroy();
    await undiciAgent.close();
  });

  after(async () => {
    await agent?.shutdown();
    if (folder !== undefined) await rm(folder, { recursive: true, force: true });
  });

  it('counts each origin as its server saw it and names the http.Agent setting that fixes it', async () => {
    const run = await runCli(['report', savedFile, '--json']);
    assert.equal(run.code, 0, run.stderr);
    const report = parseReport(run.stdout);
    for (const server of [servers.perRequest, servers.churn, servers.queue, servers.fanOut, servers.keepAliveOff, servers.serverHint]) {
      const origin = line(report, server, 'http.Agent');
      assert.equal(origin.requests, server.truth.requests, `${server.origin}: requests = what the server received`);
      assert.equal(origin.connectionsOpened, server.truth.connections, `${server.origin}: connections = what it accepted`);
      assert.equal(report.origins.filter((o) => o.origin === server.origin).length, 1, `${server.origin}: one pool type, one line`);
    }

    const perRequest = line(report, servers.perRequest, 'http.Agent');
    assert.equal(perRequest.reuseRate, 0);
    assert.deepEqual(kinds(perRequest), ['client-per-request']);
    const [perCall] = perRequest.findings;
    assert.match(perCall!.evidence, /^24 pools created for 24 requests/);
    assert.match(perCall!.change, /^Create one `new http\.Agent\(\{ keepAlive: true \}\)` when the service starts/);
    assert.match(perCall!.change, /never `agent: false`/);
    assert.doesNotMatch(perCall!.change, /dispatcher|https\.Agent/, 'undici\'s settings, or https, for an http origin');

    const churn = line(report, servers.churn, 'http.Agent');
    assert.deepEqual(kinds(churn), ['keep-alive-churn']);
    const closing = churn.findings[0]!;
    assert.match(closing.evidence, /^4 of 5 new connections were opened within 60 s after an idle one/);
    const longestReused = Number(/sockets idle up to ([\d.]+) ms were reused/.exec(closing.evidence)?.[1]);
    assert.ok(longestReused > 0 && longestReused <= 250, closing.evidence);
    // The Agent's idle timeout to set covers every gap the test made, and is the one figure named.
    const advised = Number(/`new http\.Agent\(\{ keepAlive: true, timeout: (\d+) \}\)`/.exec(closing.change)?.[1]);
    const longestGapMs = Math.max(...churnGapsMs);
    assert.ok(advised > longestGapMs && advised <= 10 * longestGapMs, `${advised} ms for gaps up to ${longestGapMs} ms: ${closing.change}`);
    assert.deepEqual(closing.change.match(/\d+/g), [String(advised)], closing.change);
    assert.doesNotMatch(closing.change, /keepAliveTimeout/);

    // A saved file is one reading: no throughput, so a first step from the size the Agent allows.
    const queue = line(report, servers.queue, 'http.Agent');
    assert.equal(queue.connectionsOpened, MAX_SOCKETS);
    const queueing = finding(queue, 'pool-too-small');
    assert.match(queueing.evidence, /for one of the 2 connections open/);
    assert.match(queueing.change, /^Raise `maxSockets` on the `http\.Agent` above 2 \(4 to start; an AWS SDK client's Agent allows 50/);
    assert.doesNotMatch(queueing.change, /connections:/);

    // Demand enough for HTTP/2 advice over undici, but node:http has no HTTP/2 Agent to offer.
    const fanOut = line(report, servers.fanOut, 'http.Agent');
    assert.equal(fanOut.connectionsOpened, 12);
    assert.ok(fanOut.peakActive >= 12, `peak ${fanOut.peakActive}`);
    assert.deepEqual(fanOut.findings, []);

    for (const server of [servers.keepAliveOff, servers.serverHint]) {
      const origin = line(report, server, 'http.Agent');
      assert.equal(origin.reuseRate, 0, server.origin);
      assert.equal(origin.connectionsOpened, 24);
      assert.deepEqual(kinds(origin), ['low-reuse'], JSON.stringify(origin.findings));
      assert.match(origin.findings[0]!.change, /^Turn keep-alive on: `new http\.Agent\(\{ keepAlive: true \}\)`/);
      assert.match(origin.findings[0]!.change, /`Keep-Alive: timeout=0` or `timeout=1`/);
    }
  });

  it('gives an origin called through undici and through an http.Agent a line per pool type', async () => {
    const run = await runCli(['report', savedFile, '--json']);
    const report = parseReport(run.stdout);
    const both = report.origins.filter((origin) => origin.origin === servers.both.origin);
    assert.deepEqual(both.map((origin) => origin.poolType).sort(), ['http.Agent', 'undici']);
    assert.equal(line(report, servers.both, 'undici').requests, 15);
    assert.equal(line(report, servers.both, 'http.Agent').requests, 15);
    assert.equal(both[0]!.requests + both[1]!.requests, servers.both.truth.requests);
    assert.equal(both[0]!.connectionsOpened + both[1]!.connectionsOpened, servers.both.truth.connections);

    const plain = await runCli(['report', savedFile]);
    assert.equal(plain.code, 0, plain.stderr);
    const escaped = servers.both.origin.replaceAll('.', '\\.');
    assert.match(plain.stdout, new RegExp(`│ ${escaped} \\(undici\\)\\s+│\\s+15 │`));
    assert.match(plain.stdout, new RegExp(`│ ${escaped} \\(http\\.Agent\\)\\s+│\\s+15 │`));
    assert.match(plain.stdout, new RegExp(`${servers.perRequest.origin.replaceAll('.', '\\.')} \\(http\\.Agent\\)\\n\\s+!!\\s+A new client \\(an \`http\\.Agent\``));
  });

  it('sizes maxSockets by Little\'s law from throughput measured on the live endpoint, the AWS SDK\'s handler too', async () => {
    const queue = await startServer({ handler: slow(40) });
    const small = new http.Agent({ keepAlive: true, maxSockets: MAX_SOCKETS });
    // 24 callers through 2 sockets for about 3 s; the report reads /metrics twice, 1 s apart, meanwhile.
    const load = inParallel(24, 150, () => get(queue, small));
    await sleep(300);
    const run = await runCli(['report', agent.metricsUrl!, '--json', '--interval', '1']);
    await load;
    small.destroy();
    assert.equal(run.code, 0, run.stderr);
    const report = parseReport(run.stdout);
    assert.equal(report.throughputSeconds, 1);
    const queueing = finding(line(report, queue, 'http.Agent'), 'pool-too-small');
    assert.match(queueing.evidence, /Little's law puts [\d.]+ requests in the queue at any moment on top of the 2 being served/);
    const demand = Number(/^Size the pool for at least (\d+) requests at once: /.exec(queueing.change)?.[1]);
    // One Agent: it needs room for the whole demand, and at least one socket more than it allows.
    const size = Math.max(MAX_SOCKETS + 1, demand);
    assert.ok(size >= 12 && size <= 36, `maxSockets: ${size}`);
    assert.deepEqual(queueing.change.match(/maxSockets: \d+/g), Array(3).fill(`maxSockets: ${size}`), queueing.change);
    assert.match(queueing.change, new RegExp(`\`new http\\.Agent\\(\\{ keepAlive: true, maxSockets: ${size} \\}\\)\` \\(it allows 2 now`));
    assert.match(queueing.change, new RegExp(`requestHandler: new NodeHttpHandler\\(\\{ httpAgent: new http\\.Agent\\(\\{ keepAlive: true, maxSockets: ${size} \\}\\) \\}\\)`));
    assert.match(queueing.change, new RegExp(`requestHandler: \\{ httpAgent: \\{ maxSockets: ${size} \\} \\}`));
  });
});
