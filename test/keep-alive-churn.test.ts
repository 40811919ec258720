// Keep-alive shorter than the gaps between calls: every call finds its socket just closed and
// opens a new one. `reopened` must count each of those, and nothing when the gaps are short.
import assert from 'node:assert/strict';
import { before, describe, it } from 'node:test';
import { instrument, type PoolscopeAgent } from 'poolscope';
import { figuresFor, testAgent } from './helpers/agent.ts';
import { undici7, undici8 } from './helpers/clients.ts';
import { eventually, sleep, startServer, type TestServer } from './helpers/servers.ts';

const KEEP_ALIVE_MS = 100;
const CALLS = 5;

let agent: PoolscopeAgent;
before(async () => {
  agent = await testAgent();
});

async function callEvery(gapMs: number, send: (url: string) => Promise<unknown>, server: TestServer): Promise<void> {
  for (let i = 0; i < CALLS; i++) {
    if (i > 0) await sleep(gapMs);
    await send(`${server.origin}/call/${i}`);
  }
}

const flavours = [
  {
    name: 'undici 7 request() with keepAliveTimeout 100 ms',
    make: () => new undici7.Agent({ keepAliveTimeout: KEEP_ALIVE_MS, keepAliveMaxTimeout: KEEP_ALIVE_MS }),
    send: (dispatcher: undici7.Agent) => async (url: string) => (await undici7.request(url, { dispatcher })).body.text(),
  },
  {
    name: 'undici 8 request() with keepAliveTimeout 100 ms',
    make: () => new undici8.Agent({ keepAliveTimeout: KEEP_ALIVE_MS, keepAliveMaxTimeout: KEEP_ALIVE_MS }),
    send: (dispatcher: undici8.Agent) => async (url: string) => (await undici8.request(url, { dispatcher })).body.text(),
  },
] as const;

for (const flavour of flavours) {
  describe(`keep-alive churn through ${flavour.name}`, () => {
    it('counts every reconnect when calls come every 300 ms, and how long the socket would have had to wait', async (t) => {
      const server = await startServer();
      const dispatcher = flavour.make();
      t.after(() => dispatcher.close());
      await callEvery(300, flavour.send(dispatcher as never), server);
      assert.equal(server.truth.connections, CALLS, 'the server saw a new connection per call');
      const figures = figuresFor(agent, server);
      assert.equal(figures.connectionsReopened, CALLS - 1, 'every connection after the first is a reopen');
      assert.equal(figures.reopenedAfter.count, CALLS - 1);
      // Each reopen came at least the 300 ms gap after the previous call ended.
      assert.ok(figures.reopenedAfter.sumSeconds >= (CALLS - 1) * 0.29, `idle before reopen: ${figures.reopenedAfter.sumSeconds} s`);
    });

    it('counts none when calls come every 20 ms', async (t) => {
      const server = await startServer();
      const dispatcher = flavour.make();
      t.after(() => dispatcher.close());
      await callEvery(20, flavour.send(dispatcher as never), server);
      assert.equal(server.truth.connections, 1);
      assert.equal(figuresFor(agent, server).connectionsReopened, 0);
    });
  });
}

describe('keep-alive churn through built-in fetch, the server closing idle sockets after 100 ms', () => {
  it('counts every reconnect at 300 ms gaps, none at 20 ms', async (t) => {
    const slow = await startServer({ closeIdleAfterMs: KEEP_ALIVE_MS });
    await callEvery(300, async (url) => (await fetch(url)).text(), slow);
    assert.equal(slow.truth.connections, CALLS);
    assert.equal(figuresFor(agent, slow).connectionsReopened, CALLS - 1);

    const fast = await startServer({ closeIdleAfterMs: KEEP_ALIVE_MS });
    await callEvery(20, async (url) => (await fetch(url)).text(), fast);
    assert.equal(fast.truth.connections, 1);
    assert.equal(figuresFor(agent, fast).connectionsReopened, 0);
  });
});

describe('a socket of a new dispatcher is not churn', () => {
  it('counts no reopen when each call builds, instruments and closes its own Agent', async (t) => {
    const server = await startServer();
    for (let i = 0; i < CALLS; i++) {
      const dispatcher = instrument(new undici8.Agent());
      await (await undici8.request(`${server.origin}/own/${i}`, { dispatcher })).body.text();
      await dispatcher.close();
    }
    await eventually(() => assert.equal(server.truth.open, 0));
    const figures = figuresFor(agent, server);
    assert.equal(server.truth.connections, CALLS);
    assert.equal(figures.connectionsReopened, 0);
    assert.equal(figures.poolsCreated, CALLS);
  });
});

describe('sockets ended on purpose are not churn', () => {
  it('counts no reopen for Connection: close or HEAD, which a longer keep-alive would not change', async (t) => {
    const closing = await startServer({
      handler: (request, response) => {
        request.resume();
        response.setHeader('connection', 'close');
        response.end('bye');
      },
    });
    const heads = await startServer();
    const dispatcher = new undici8.Agent();
    t.after(() => dispatcher.close());
    await callEvery(20, async (url) => (await undici8.request(url, { dispatcher } as never)).body.text(), closing);
    await callEvery(20, async (url) => (await undici8.request(url, { dispatcher, method: 'HEAD' } as never)).body.text(), heads);
    assert.equal(closing.truth.connections, CALLS);
    assert.equal(figuresFor(agent, closing).connectionsReopened, 0);
    assert.equal(figuresFor(agent, heads).connectionsOpened, heads.truth.connections);
    assert.equal(figuresFor(agent, heads).connectionsReopened, 0);
  });
});
