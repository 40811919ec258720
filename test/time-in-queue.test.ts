// A request that waits in a Pool's queue is invisible to undici's channels until a socket frees
// up: time in queue must be measured from the app's dispatch, through the interceptor.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { instrument, interceptor, type PoolscopeAgent } from 'poolscope';
import { figuresFor, testAgent } from './helpers/agent.ts';
import { undici7, undici8 } from './helpers/clients.ts';
import { recordRequestTimes, type RequestTimes } from './helpers/request-times.ts';
import { sleep, startServer, type TestServer } from './helpers/servers.ts';

const ANSWER_MS = 200;
const CONCURRENT = 10;
const CONNECTIONS = 2;
/** How old a stamp left behind is when the next request starts. */
const STALE_MS = 300;

let agent: PoolscopeAgent;
let times: RequestTimes;
before(async () => {
  agent = await testAgent();
  times = recordRequestTimes();
});
after(() => times.stop());

/** Answers every request ANSWER_MS after it arrived. */
function slowServer(): Promise<TestServer> {
  return startServer({
    handler: (request, response) => {
      request.resume();
      setTimeout(() => response.end('ok'), ANSWER_MS);
    },
  });
}

/**
 * CONCURRENT requests through CONNECTIONS sockets that each take ANSWER_MS: they go in waves,
 * and wave k cannot start before k * ANSWER_MS. Every request has its sample, the last wave
 * waited at least (waves - 1) * ANSWER_MS, and all of them together at least the sum of waves.
 */
async function assertQueuedInWaves(server: TestServer, send: (url: string) => Promise<unknown>): Promise<void> {
  await Promise.all(Array.from({ length: CONCURRENT }, (_, i) => send(`${server.origin}/q/${i}`)));
  const { timeInQueue, requests } = figuresFor(agent, server);
  assert.equal(server.truth.requests, CONCURRENT);
  assert.equal(requests, CONCURRENT);
  assert.equal(timeInQueue.count, CONCURRENT, 'one time-in-queue sample per request');
  const waves = CONCURRENT / CONNECTIONS;
  let leastTotal = 0;
  for (let wave = 0; wave < waves; wave++) leastTotal += CONNECTIONS * wave * ANSWER_MS / 1000;
  assert.ok(timeInQueue.sumSeconds >= leastTotal, `waves waited ${timeInQueue.sumSeconds} s in all, at least ${leastTotal} s`);
  const p95 = timeInQueue.p95Seconds ?? 0;
  assert.ok(p95 >= (waves - 2) * ANSWER_MS / 1000, `p95 ${p95} s is in the late waves`);
}

for (const [name, lib] of [['undici 7', undici7], ['undici 8', undici8]] as const) {
  describe(`time in queue through ${name}`, () => {
    it('instrument(agent) measures from dispatch, Pool queue included', async (t) => {
      const server = await slowServer();
      const dispatcher = instrument(new lib.Agent({ connections: CONNECTIONS }));
      t.after(() => dispatcher.close());
      await assertQueuedInWaves(server, async (url) => (await lib.request(url, { dispatcher } as never)).body.text());
      assert.equal(server.truth.connections, CONNECTIONS);
    });

    it('agent.compose(interceptor()) is the same', async (t) => {
      const server = await slowServer();
      const dispatcher = (new lib.Agent({ connections: CONNECTIONS }) as undici8.Agent).compose(interceptor());
      t.after(() => dispatcher.close());
      await assertQueuedInWaves(server, async (url) => (await lib.request(url, { dispatcher } as never)).body.text());
    });
  });
}

describe('time in queue through fetch and a global dispatcher the app installs after poolscope started', () => {
  const slots = [Symbol.for('undici.globalDispatcher.1'), Symbol.for('undici.globalDispatcher.2')] as const;
  const global = globalThis as unknown as Record<symbol, unknown>;
  let saved: unknown[];
  before(() => {
    saved = slots.map((slot) => global[slot]);
  });
  after(() => {
    slots.forEach((slot, i) => { global[slot] = saved[i]; });
  });

  it('built-in fetch with undici 7\'s setGlobalDispatcher(new Agent({ connections: 2 }))', async (t) => {
    const server = await slowServer();
    const pool = new undici7.Agent({ connections: CONNECTIONS });
    t.after(() => pool.close());
    undici7.setGlobalDispatcher(pool);
    await assertQueuedInWaves(server, async (url) => (await fetch(url)).text());
    assert.equal(server.truth.connections, CONNECTIONS, 'the app\'s dispatcher carried them');
  });

  it('undici 8 fetch with undici 8\'s setGlobalDispatcher(new Agent({ connections: 2 }))', async (t) => {
    const server = await slowServer();
    const pool = new undici8.Agent({ connections: CONNECTIONS });
    t.after(() => pool.close());
    undici8.setGlobalDispatcher(pool);
    await assertQueuedInWaves(server, async (url) => (await undici8.fetch(url)).text());
    assert.equal(server.truth.connections, CONNECTIONS);
  });
});

describe('time in queue is never taken from another request', () => {
  /** Both kinds of cache store: one that answers at once, and one whose `get` returns a Promise. */
  const stores = {
    'answers at once': () => new undici7.cacheStores.MemoryCacheStore(),
    'answers with a Promise': () => {
      const memory = new undici7.cacheStores.MemoryCacheStore();
      return {
        get: (key: never) => Promise.resolve(memory.get(key)),
        createWriteStream: (key: never, value: never) => memory.createWriteStream(key, value),
        delete: (key: never) => memory.delete(key),
      };
    },
  };

  for (const [kind, store] of Object.entries(stores)) {
    it(`a cache hit from a store that ${kind} starts a request that sends nothing: the next request keeps its own start`, async (t) => {
      const server = await startServer({
        handler: (request, response) => {
          request.resume();
          response.setHeader('cache-control', 'max-age=60');
          response.end('cached');
        },
      });
      const cached = instrument(new undici7.Agent().compose(undici7.interceptors.cache({ store: store() as never })));
      const plain = new undici7.Agent();
      t.after(() => Promise.all([cached.close(), plain.close()]));
      for (let i = 0; i < 3; i++) await (await undici7.request(`${server.origin}/same`, { dispatcher: cached } as never)).body.text();
      assert.equal(server.truth.requests, 1, 'two of the three came from the cache');
      // The last hit's dispatch is STALE_MS old when the plain request starts: a plain request
      // that took it as its own would read at least that long in the queue.
      await sleep(STALE_MS);
      const before = figuresFor(agent, server).timeInQueue;
      const path = `/other?${kind.replaceAll(' ', '-')}`;
      const startedAt = performance.now();
      await (await undici7.request(`${server.origin}${path}`, { dispatcher: plain } as never)).body.text();
      const bound = (times.sentAt(path) - startedAt) / 1000;
      const after = figuresFor(agent, server).timeInQueue;
      assert.equal(after.count, before.count + 1);
      assert.ok(after.sumSeconds - before.sumSeconds <= bound,
        `the plain request waited ${after.sumSeconds - before.sumSeconds} s, within the ${bound} s from its call to its headers written, not since the cache hit`);
    });
  }

  it('a request that gives up at its start leaves no stamp for the next request sent', async (t) => {
    // A waits 300 ms behind a slow request in an instrumented Agent of one connection, then
    // aborts as it starts; its error handler sends at once, in the same synchronous run, through
    // an Agent poolscope does not instrument (pipelining, so the write is immediate): that
    // request waited for nothing.
    const server = await startServer({
      handler: (request, response) => {
        request.resume();
        setTimeout(() => response.end('ok'), request.url === '/slow' ? 300 : 0);
      },
    });
    const other = await startServer({
      handler: (request, response) => {
        request.resume();
        setTimeout(() => response.end('ok'), request.url === '/slower' ? 1000 : 0);
      },
    });
    const instrumented = instrument(new undici7.Agent({ connections: 1 }));
    const plain = new undici7.Agent({ pipelining: 4 });
    t.after(() => Promise.all([instrumented.close(), plain.close()]));
    await (await undici7.request(`${other.origin}/warm`, { dispatcher: plain } as never)).body.text();
    const before = figuresFor(agent, other).timeInQueue;
    const slow = undici7.request(`${server.origin}/slow`, { dispatcher: instrumented } as never).then((r) => r.body.text());
    const busyAt = performance.now();
    const busy = undici7.request(`${other.origin}/slower`, { dispatcher: plain, blocking: false } as never).then((r) => r.body.text());
    let tooLate = false;
    setTimeout(() => { tooLate = true; }, 50);
    let insteadAt = NaN;
    const gaveUp = new Promise<string>((resolve, reject) => {
      instrumented.dispatch({ origin: server.origin, path: '/given-up', method: 'GET' }, {
        onConnect(abort: (error: Error) => void) { if (tooLate) abort(new Error('gave up')); },
        onHeaders: () => true,
        onData: () => true,
        onComplete: () => reject(new Error('/given-up was answered')),
        onError: () => {
          insteadAt = performance.now();
          undici7.request(`${other.origin}/instead`, { dispatcher: plain, blocking: false } as never)
            .then((response) => response.body.text()).then(resolve, reject);
        },
      } as never);
    });
    assert.deepEqual(await Promise.all([slow, busy, gaveUp]), ['ok', 'ok', 'ok']);
    const after = figuresFor(agent, other).timeInQueue;
    assert.equal(after.count - before.count, 2);
    // Each of the two waited no longer than from its call to its headers written.
    const bound = (times.sentAt('/slower') - busyAt + times.sentAt('/instead') - insteadAt) / 1000;
    assert.ok(after.sumSeconds - before.sumSeconds <= bound,
      `the other origin's requests waited ${after.sumSeconds - before.sumSeconds} s, within the ${bound} s from their calls to their headers, ` +
      'not the 300 ms the request that gave up waited');
  });

  it('a redirect\'s second hop does not count the first hop as queueing', async (t) => {
    const FIRST_HOP_MS = 300;
    const server = await startServer({
      handler: (request, response) => {
        request.resume();
        if (request.url === '/from') {
          setTimeout(() => response.writeHead(302, { location: '/to' }).end(), FIRST_HOP_MS);
        } else {
          response.end('arrived');
        }
      },
    });
    const dispatcher = instrument(new undici8.Agent().compose(undici8.interceptors.redirect({ maxRedirections: 1 })));
    t.after(() => dispatcher.close());
    const startedAt = performance.now();
    const response = await undici8.request(`${server.origin}/from`, { dispatcher } as never);
    assert.equal(await response.body.text(), 'arrived');
    const { count, sumSeconds } = figuresFor(agent, server).timeInQueue;
    assert.equal(count, 2, 'one sample per hop');
    // The first hop waited at most from the call to its headers written; the second, from the
    // first hop's answer to its own headers written.
    const bound = (times.sentAt('/from') - startedAt + times.sentAt('/to') - times.answeredAt('/from')) / 1000;
    assert.ok(sumSeconds <= bound, `hops waited ${sumSeconds} s in all, within ${bound} s, not the first hop's ${FIRST_HOP_MS} ms again`);
  });
});
