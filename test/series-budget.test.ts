// The series one busy HTTPS origin costs on /metrics, once it has seen every kind of event: new
// and reused requests, requests queueing for a connection, idle closes, a reopen after one, and a
// failed connection. At the default histogram detail it stays within 90 for either kind of pool,
// with every metric of the catalog among them; `detailed` and `minimal` give more and fewer.
import assert from 'node:assert/strict';
import https from 'node:https';
import type { LookupFunction } from 'node:net';
import { describe, it } from 'node:test';
import { instrument, start } from 'poolscope';
import { parseExposition } from '../dist/cli/report/exposition.js';
import { SERIES } from '../dist/cli/report/series.js';
import type { HistogramDetail } from '../dist/metrics/catalog.js';
import { scrape } from './helpers/agent.ts';
import { undici8 } from './helpers/clients.ts';
import { nodeRequest } from './helpers/node-http.ts';
import { sleep, startServer, testCertificate, type Handler, type TestServer } from './helpers/servers.ts';

const BUDGET = 90;
/** The client's keep-alive: the test's pauses outlast it, so sockets close idle and reopen. */
const KEEP_ALIVE_MS = 100;

const slowOk: Handler = (request, response) => {
  request.resume();
  request.on('end', () => setTimeout(() => response.end('ok'), 20));
};

/** Resolves `localhost` to 127.0.0.1, but fails the first lookup: one failed connection attempt. */
function failingOnce(): LookupFunction {
  let failed = false;
  return ((hostname: string, options: { all?: boolean }, callback: (...args: unknown[]) => void) => {
    if (!failed) {
      failed = true;
      return process.nextTick(callback, Object.assign(new Error(`getaddrinfo ENOTFOUND ${hostname}`), { code: 'ENOTFOUND', hostname }));
    }
    if (options.all) process.nextTick(callback, null, [{ address: '127.0.0.1', family: 4 }]);
    else process.nextTick(callback, null, '127.0.0.1', 4);
  }) as unknown as LookupFunction;
}

/** Every kind of event, through `call`: a failed connect, a queue of three on one socket, reuse, idle closes and reopens. */
async function everyEvent(call: () => Promise<unknown>): Promise<void> {
  await call().then(() => assert.fail('the first lookup fails'), () => {});
  await Promise.all([call(), call(), call()]);
  for (let pause = 0; pause < 2; pause++) {
    await sleep(KEEP_ALIVE_MS * 3);
    await call();
    await call();
  }
}

const workloads: Record<'undici' | 'http.Agent', (server: TestServer, ca: string) => Promise<void>> = {
  async undici(server, ca) {
    const agent = new undici8.Agent({ connections: 1, keepAliveTimeout: KEEP_ALIVE_MS, connect: { ca, lookup: failingOnce() } });
    const dispatcher = instrument(agent as unknown as Parameters<typeof instrument>[0]) as unknown as undici8.Dispatcher;
    await everyEvent(async () => (await undici8.request(`https://localhost:${server.port}/`, { dispatcher })).body.text());
    await agent.close();
  },
  async 'http.Agent'(server, ca) {
    const agent = new https.Agent({ keepAlive: true, maxSockets: 1, timeout: KEEP_ALIVE_MS, ca, lookup: failingOnce() });
    await everyEvent(() => nodeRequest(`https://localhost:${server.port}/`, { agent }));
    agent.destroy();
  },
};

/** The series of one origin and pool type on /metrics, and the catalog's metrics among them. */
function seriesOf(exposition: string, port: number, poolType: string): { count: number; metrics: Set<string> } {
  const names = new Set(Object.values(SERIES));
  const metrics = new Set<string>();
  let count = 0;
  for (const sample of parseExposition(exposition)) {
    if (sample.labels.server_port !== String(port) || sample.labels.poolscope_pool_type !== poolType) continue;
    count++;
    const base = sample.name.replace(/_(bucket|sum|count)$/, '');
    metrics.add(names.has(sample.name) ? sample.name : base);
  }
  return { count, metrics };
}

describe('the series one origin costs', () => {
  for (const poolType of ['undici', 'http.Agent'] as const) {
    it(`through ${poolType}: at most ${BUDGET} at the default detail, every metric among them`, async (t) => {
      const counts = new Map<HistogramDetail, number>();
      for (const histograms of ['default', 'detailed', 'minimal'] as const) {
        const agent = await start({ exporters: ['prometheus'], host: '127.0.0.1', port: 0, histograms, instrumentGlobalDispatcher: false });
        try {
          const tls = await testCertificate();
          // No Keep-Alive hint: the client's own keep-alive closes idle sockets.
          const server = await startServer({ tls, keepAliveTimeout: 0, handler: slowOk });
          await workloads[poolType](server, tls.cert);
          const { count, metrics } = seriesOf(await scrape(agent.metricsUrl!), server.port, poolType);
          counts.set(histograms, count);
          if (histograms === 'default') {
            assert.deepEqual([...metrics].sort(), Object.values(SERIES).sort(), 'every metric has a series');
            assert.ok(count <= BUDGET, `${count} series`);
          }
        } finally {
          await agent.shutdown();
        }
      }
      t.diagnostic(`series per origin through ${poolType}: ${[...counts].map(([detail, count]) => `${detail} ${count}`).join(', ')}`);
      assert.ok(counts.get('minimal')! < counts.get('default')! && counts.get('default')! < counts.get('detailed')!, JSON.stringify([...counts]));
    });
  }
});
