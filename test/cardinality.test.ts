// An app that calls 10,000 distinct origins (host names through a custom lookup, all answered by
// one loopback server) gets at most maxOrigins + 1 origins per metric and bounded memory, and
// /metrics never carries a path, query, user name, password, header value or token.
import assert from 'node:assert/strict';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { after, it } from 'node:test';
import { start } from 'poolscope';
import { scrape } from './helpers/agent.ts';
import { undici8 } from './helpers/clients.ts';
import { loopbackLookup } from './helpers/faults.ts';
import { startServer } from './helpers/servers.ts';

const MAX_ORIGINS = 50;
const ORIGINS = 10_000;
const CONCURRENCY = 64;
const SECRETS = ['hunter2', 'sk-live-abc123', 'private-path', 'token=', 'Bearer', 'x-api-key', 'session-cookie', 'admin'];

setFlagsFromString('--expose-gc');
const gc = runInNewContext('gc') as () => void;

const agent = await start({ exporters: ['prometheus'], host: '127.0.0.1', port: 0, maxOrigins: MAX_ORIGINS });
after(() => agent.shutdown());

function heapAfterGc(): number {
  gc();
  gc();
  return process.memoryUsage().heapUsed;
}

it(`${ORIGINS} distinct origins: at most maxOrigins + 1 per metric, bounded memory, no secret in /metrics`, async () => {
  // The server closes every connection, so the client holds no socket per origin either.
  const server = await startServer({
    handler: (request, response) => {
      request.resume();
      response.setHeader('connection', 'close');
      response.end('ok');
    },
  });
  const dispatcher = new undici8.Agent({ connect: { lookup: loopbackLookup() } });
  after(() => dispatcher.destroy());
  const call = async (i: number) => {
    // User info in the origin, a path, a query and headers that must never reach a label.
    const pool = `http://user:hunter2@origin-${i}.test:${server.port}`;
    const { body } = await undici8.request(`${pool}/private-path/${i}?token=sk-live-abc123&session-cookie=1`, {
      dispatcher, headers: { authorization: 'Bearer sk-live-abc123', 'x-api-key': 'hunter2', cookie: 'session-cookie=admin' },
    });
    await body.text();
  };
  let nextIndex = 0;
  /** CONCURRENCY requests at a time, each to the next origin, until `count` origins were called. */
  const runUntil = async (count: number) => {
    const target = Math.min(count, ORIGINS);
    const workers = Array.from({ length: CONCURRENCY }, async () => {
      for (let i = nextIndex++; i < target; i = nextIndex++) await call(i);
    });
    await Promise.all(workers);
    nextIndex = Math.min(nextIndex, target);
  };

  await runUntil(2_000);
  const heapAt2k = heapAfterGc();
  await runUntil(ORIGINS);
  const heapAt10k = heapAfterGc();
  assert.equal(server.truth.requests, ORIGINS);

  const snapshot = agent.snapshot();
  assert.equal(snapshot.length, MAX_ORIGINS + 1, 'maxOrigins origins and _other');
  const other = snapshot.find((entry) => entry.origin === '_other');
  assert.ok(other);
  const total = snapshot.reduce((sum, entry) => sum + entry.requests, 0);
  assert.equal(total, ORIGINS, 'every request counted once, in its origin or in _other');
  assert.equal(other.requests, ORIGINS - MAX_ORIGINS);

  const exposition = await scrape(agent.metricsUrl!);
  const originsPerMetric = new Map<string, Set<string>>();
  for (const line of exposition.split('\n')) {
    const match = /^([a-z_]+)\{([^}]*)\}/.exec(line);
    if (match === null || !match[2]!.includes('server_address=')) continue;
    const origin = ['server_address', 'server_port', 'url_scheme'].map((label) => new RegExp(`${label}="([^"]*)"`).exec(match[2]!)?.[1]).join('|');
    const metric = match[1]!.replace(/_(bucket|sum|count)$/, '');
    if (!originsPerMetric.has(metric)) originsPerMetric.set(metric, new Set());
    originsPerMetric.get(metric)!.add(origin);
  }
  assert.ok(originsPerMetric.size >= 10, 'series for every metric');
  for (const [metric, origins] of originsPerMetric) {
    assert.ok(origins.size <= MAX_ORIGINS + 1, `${metric}: ${origins.size} origins`);
  }
  for (const secret of SECRETS) assert.ok(!exposition.includes(secret), `no ${secret} in /metrics`);
  assert.ok(!exposition.includes('user'), 'no user name in /metrics');

  // 8,000 more origins folded into _other cost the agent nothing per origin: a leak of even
  // 1 kB per origin would show as 8 MB.
  const grown = heapAt10k - heapAt2k;
  assert.ok(grown < 4 * 1024 * 1024, `heap grew ${(grown / 1024 / 1024).toFixed(2)} MB from 2,000 to 10,000 origins`);
});
