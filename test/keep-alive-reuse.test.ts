import assert from 'node:assert/strict';
import { after, describe, it } from 'node:test';
import { assertMatchesServer, figuresFor, testAgent } from './helpers/agent.ts';
import { clients } from './helpers/clients.ts';
import { eventually, sleep, startServer } from './helpers/servers.ts';

const agent = await testAgent();
after(() => agent.shutdown());

for (const client of clients()) {
  describe(`keep-alive through ${client.name}`, () => {
    after(() => client.close());

    it('counts sequential requests on one socket as one new and the rest reused', async () => {
      const server = await startServer();
      for (let i = 0; i < 10; i++) {
        assert.equal((await client.request(`${server.origin}/item/${i}?token=secret`)).body, 'ok');
        // Back to back, the pool may not yet know its socket is free and open a second one.
        await sleep(2);
      }
      assert.equal(server.truth.requests, 10);
      await eventually(() => assertMatchesServer(agent, server));
      const figures = figuresFor(agent, server);
      assert.equal(figures.requestsOnNewConnections, 1);
      assert.equal(figures.requestsOnReusedConnections, 9);
      assert.ok(figures.typicalSetupSeconds !== null && figures.typicalSetupSeconds > 0);
      // Nine additions of the same figure: equal up to rounding.
      assert.ok(Math.abs(figures.savedSeconds - 9 * figures.typicalSetupSeconds) < 1e-12);
      await server.close();
      await eventually(() => assertMatchesServer(agent, server));
    });

    it('counts concurrent waves: one new request per socket the pool opened', async () => {
      const server = await startServer({
        handler: (request, response) => {
          request.resume();
          setTimeout(() => response.end('ok'), 20);
        },
      });
      for (let wave = 0; wave < 3; wave++) {
        const bodies = await Promise.all(Array.from({ length: 5 }, (_, i) => client.request(`${server.origin}/w${wave}/${i}`)));
        assert.deepEqual(bodies.map((b) => b.body), Array(5).fill('ok'));
        await sleep(5);
      }
      assert.equal(server.truth.requests, 15);
      assert.ok(server.truth.connectionsWithRequests >= 5);
      await eventually(() => assertMatchesServer(agent, server));
      await server.close();
    });

    it('counts POSTs with bodies exactly', async () => {
      const server = await startServer();
      const body = 'x'.repeat(64 * 1024);
      for (let i = 0; i < 5; i++) {
        const response = await client.request(`${server.origin}/upload`, {
          method: 'POST', body, headers: { 'content-type': 'text/plain' },
        });
        assert.equal(response.status, 200);
        await sleep(2);
      }
      assert.equal(server.truth.requests, 5);
      await eventually(() => assertMatchesServer(agent, server));
      await server.close();
    });
  });
}
