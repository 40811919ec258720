import assert from 'node:assert/strict';
import { after, describe, it } from 'node:test';
import { assertMatchesServer, figuresFor, originFigures, testAgent } from './helpers/agent.ts';
import { clients } from './helpers/clients.ts';
import { closedPort, eventually, sleep, startServer, testCertificate } from './helpers/servers.ts';

const agent = await testAgent();
after(() => agent.shutdown());

for (const client of clients()) {
  describe(`failures through ${client.name}`, () => {
    after(() => client.close());

    it('returns every gauge to zero after aborted requests and still counts what reached the server', async () => {
      const server = await startServer({
        handler: (request, response) => {
          request.resume();
          const timer = setTimeout(() => response.end('late'), 1000);
          response.on('close', () => clearTimeout(timer));
        },
      });
      const outcomes = await Promise.allSettled(Array.from({ length: 4 }, (_, i) =>
        client.request(`${server.origin}/slow/${i}`, { signal: AbortSignal.timeout(100) })));
      assert.ok(outcomes.every((outcome) => outcome.status === 'rejected'), 'every request was aborted');
      // undici 6 and 7 open a fresh socket at once after an abort; it stays idle and is counted so.
      await eventually(() => assertMatchesServer(agent, server));
      assert.equal(figuresFor(agent, server).requests, 4);
    });

    it('counts refused connections as connection errors and opens nothing', async () => {
      const port = await closedPort();
      for (let i = 0; i < 3; i++) {
        await assert.rejects(client.request(`http://127.0.0.1:${port}/`));
      }
      const figures = originFigures(agent, `http://127.0.0.1:${port}`);
      assert.deepEqual(figures.connectionErrors, { ECONNREFUSED: 3 });
      assert.equal(figures.connectionsOpened, 0);
      assert.equal(figures.requests, 0);
      assert.equal(figures.activeRequests, 0);
    });

    it('counts an untrusted certificate as a connection error, not a connection', async () => {
      const server = await startServer({ tls: await testCertificate() });
      await assert.rejects(client.request(`${server.origin}/`));
      await sleep(20);
      const figures = figuresFor(agent, server);
      assert.equal(server.truth.tlsHandshakes, 0);
      assert.equal(figures.connectionsOpened, 0);
      assert.deepEqual(Object.values(figures.connectionErrors), [1]);
      assert.match(Object.keys(figures.connectionErrors)[0]!, /SELF_SIGNED|CERT/);
      assert.equal(figures.activeRequests, 0);
      assert.deepEqual(figures.openConnections, { active: 0, idle: 0 });
    });
  });
}

for (const client of clients().filter((c) => c.name.includes('fetch'))) {
  describe(`redirects through ${client.name}`, () => {
    after(() => client.close());

    it('counts each hop of a redirect as its own request', async () => {
      const server = await startServer({
        handler: (request, response) => {
          request.resume();
          if (request.url === '/start') {
            response.statusCode = 302;
            response.setHeader('location', '/final');
            response.end();
          } else {
            response.end('ok');
          }
        },
      });
      for (let i = 0; i < 3; i++) {
        assert.equal((await client.request(`${server.origin}/start`)).body, 'ok');
        await sleep(2);
      }
      assert.equal(server.truth.requests, 6);
      await eventually(() => assertMatchesServer(agent, server));
    });
  });
}
