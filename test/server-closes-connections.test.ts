import assert from 'node:assert/strict';
import { after, describe, it } from 'node:test';
import { assertMatchesServer, figuresFor, testAgent } from './helpers/agent.ts';
import { clients } from './helpers/clients.ts';
import { eventually, sleep, startServer } from './helpers/servers.ts';

const agent = await testAgent();
after(() => agent.shutdown());

for (const client of clients()) {
  describe(`server-side closes through ${client.name}`, () => {
    after(() => client.close());

    it('counts every request as new when the server answers Connection: close', async () => {
      const server = await startServer({
        handler: (request, response) => {
          request.resume();
          response.setHeader('connection', 'close');
          response.end('ok');
        },
      });
      for (let i = 0; i < 6; i++) {
        await client.request(`${server.origin}/close/${i}`);
        await sleep(2);
      }
      await eventually(() => assertMatchesServer(agent, server));
      const figures = figuresFor(agent, server);
      assert.equal(figures.requestsOnNewConnections, 6);
      assert.equal(figures.requestsOnReusedConnections, 0);
      assert.equal(figures.savedSeconds, 0);
      assert.equal(figures.openConnections.idle, 0);
    });

    it('counts a reconnect for every gap longer than the server keep-alive timeout', async () => {
      const server = await startServer({ keepAliveTimeout: 100 });
      for (let i = 0; i < 4; i++) {
        await client.request(`${server.origin}/gap/${i}`);
        await sleep(300);
      }
      assert.equal(server.truth.connectionsWithRequests, 4, 'the server closed every idle socket');
      await eventually(() => assertMatchesServer(agent, server));
      const figures = figuresFor(agent, server);
      assert.equal(figures.requestsOnNewConnections, 4);
      assert.equal(figures.connectionsClosed.idle, 4, 'each socket closed while idle');
    });
  });
}
