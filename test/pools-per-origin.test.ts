// A client built per request makes a new pool per request: `pools.created` must count one per
// Agent the app built, and one for an Agent shared by every request.
import assert from 'node:assert/strict';
import { before, describe, it } from 'node:test';
import { instrument, type PoolscopeAgent } from 'poolscope';
import { figuresFor, testAgent } from './helpers/agent.ts';
import { undici7, undici8 } from './helpers/clients.ts';
import { eventually, startServer } from './helpers/servers.ts';

const REQUESTS = 20;

let agent: PoolscopeAgent;
before(async () => {
  agent = await testAgent();
});

for (const [name, lib] of [['undici 7', undici7], ['undici 8', undici8]] as const) {
  describe(`pools per origin through ${name}`, () => {
    it('counts a pool per request when every request builds its own Agent', async (t) => {
      const server = await startServer();
      const agents = [];
      for (let i = 0; i < REQUESTS; i++) {
        const dispatcher = new lib.Agent();
        agents.push(dispatcher);
        await (await lib.request(`${server.origin}/own/${i}`, { dispatcher } as never)).body.text();
      }
      let figures = figuresFor(agent, server);
      assert.equal(server.truth.connections, REQUESTS);
      assert.equal(figures.poolsCreated, REQUESTS);
      assert.equal(figures.pools, REQUESTS, 'every Agent still holds its idle socket');
      await Promise.all(agents.map((dispatcher) => dispatcher.close()));
      await eventually(() => {
        figures = figuresFor(agent, server);
        assert.equal(figures.pools, 0);
      });
      assert.equal(figuresFor(agent, server).poolsCreated, REQUESTS);
    });

    it('counts one pool for one shared Agent, whatever the number of sockets', async (t) => {
      const server = await startServer({
        handler: (request, response) => {
          request.resume();
          setTimeout(() => response.end('ok'), 20);
        },
      });
      const dispatcher = new lib.Agent();
      t.after(() => dispatcher.close());
      for (let wave = 0; wave < 4; wave++) {
        await Promise.all(Array.from({ length: REQUESTS / 4 }, async (_, i) =>
          (await lib.request(`${server.origin}/shared/${wave}/${i}`, { dispatcher } as never)).body.text()));
      }
      const figures = figuresFor(agent, server);
      assert.ok(server.truth.connections > 1, `several sockets (${server.truth.connections})`);
      assert.equal(figures.connectionsOpened, server.truth.connections);
      assert.equal(figures.poolsCreated, 1);
      assert.equal(figures.pools, 1);
    });

    it('keeps one pool for an instrumented Agent whose pool undici replaces after its sockets closed', async (t) => {
      const server = await startServer({ closeIdleAfterMs: 50 });
      const dispatcher = instrument(new lib.Agent());
      t.after(() => dispatcher.close());
      for (let i = 0; i < 3; i++) {
        await (await lib.request(`${server.origin}/recycled/${i}`, { dispatcher } as never)).body.text();
        await eventually(() => assert.equal(server.truth.open, 0));
      }
      const figures = figuresFor(agent, server);
      assert.equal(server.truth.connections, 3);
      assert.equal(figures.poolsCreated, 1, 'one Agent, however often undici replaced its Pool');
      assert.equal(figures.connectionsReopened, 2);
    });
  });
}

describe('pools per origin through built-in fetch', () => {
  it('counts the global dispatcher as one pool', async (t) => {
    const server = await startServer();
    for (let i = 0; i < REQUESTS; i++) await (await fetch(`${server.origin}/global/${i}`)).text();
    const figures = figuresFor(agent, server);
    assert.equal(figures.requests, REQUESTS);
    assert.equal(figures.poolsCreated, 1);
  });
});

describe('one dispatcher, several origins', () => {
  it('counts one pool created for each origin it calls', async (t) => {
    const first = await startServer();
    const second = await startServer();
    const dispatcher = instrument(new undici8.Agent());
    t.after(() => dispatcher.close());
    for (const server of [first, second, first, second]) await (await undici8.request(`${server.origin}/`, { dispatcher } as never)).body.text();
    assert.equal(figuresFor(agent, first).poolsCreated, 1);
    assert.equal(figuresFor(agent, second).poolsCreated, 1);
  });
});
