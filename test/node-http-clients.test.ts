// node:http and node:https clients (http.Agent pools), through http.request and the libraries
// apps use on them: requests, first uses of a socket, connections opened (TLS handshakes), open
// connections and active requests equal what real loopback servers counted.
import assert from 'node:assert/strict';
import { after, describe, it } from 'node:test';
import { testAgent } from './helpers/agent.ts';
import { agentFiguresFor, announcesTlsSockets, assertAgentMatchesServer, nodeHttpClients, trustInGlobalAgent } from './helpers/node-http.ts';
import { eventually, sleep, startServer, testCertificate, type ServerOptions } from './helpers/servers.ts';

const agent = await testAgent();
after(() => agent.shutdown());
const tls = await testCertificate();
trustInGlobalAgent(tls.cert);

const slowHandler: ServerOptions['handler'] = (request, response) => {
  request.resume();
  request.on('end', () => setTimeout(() => response.end('ok'), 20));
};

for (const secure of [false, true]) {
  for (const client of nodeHttpClients(tls.cert)) {
    const start = (options: ServerOptions = {}) => startServer(secure ? { ...options, tls } : options);
    describe(`${secure ? 'HTTPS' : 'HTTP/1.1'} through ${client.name}`, () => {
      after(() => client.close());

      it('counts sequential requests on one socket as one new and the rest reused', async () => {
        const server = await start();
        for (let i = 0; i < 10; i++) {
          assert.equal((await client.request(`${server.origin}/item/${i}?token=secret`)).body, 'ok');
          await sleep(2);
        }
        assert.equal(server.truth.requests, 10);
        await eventually(() => assertAgentMatchesServer(agent, server, secure));
        const figures = agentFiguresFor(agent, server);
        assert.equal(figures.requestsOnNewConnections, 1);
        assert.equal(figures.requestsOnReusedConnections, 9);
        assert.equal(figures.connectionsOpened, 1);
        assert.equal(figures.timeInQueue.count, 10, 'every request has a time in queue');
        if (!secure || announcesTlsSockets) {
          assert.ok(figures.typicalSetupSeconds !== null && figures.typicalSetupSeconds > 0, 'a setup time was measured');
          assert.ok(Math.abs(figures.savedSeconds - 9 * figures.typicalSetupSeconds) < 1e-12, 'saved: the typical setup per reuse');
        } else {
          assert.equal(figures.typicalSetupSeconds, null, 'no TLS socket announced: no setup timed');
          assert.equal(figures.savedSeconds, 0);
          assert.equal(figures.connectionSetup.phases.tls.count, 1, 'the TLS handshake is timed from the TCP connect');
        }
        assert.equal(figures.pools, 1);
        assert.equal(figures.poolsCreated, 1);
        await server.close();
        await eventually(() => assertAgentMatchesServer(agent, server, secure));
      });

      it('counts concurrent waves: one new request per socket the Agent opened', async () => {
        const server = await start({ handler: slowHandler });
        for (let wave = 0; wave < 3; wave++) {
          const bodies = await Promise.all(Array.from({ length: 5 }, (_, i) => client.request(`${server.origin}/w${wave}/${i}`)));
          assert.deepEqual(bodies.map((b) => b.body), Array(5).fill('ok'));
          await sleep(5);
        }
        assert.equal(server.truth.requests, 15);
        assert.ok(server.truth.connectionsWithRequests >= 5);
        await eventually(() => assertAgentMatchesServer(agent, server, secure));
        assert.equal(agentFiguresFor(agent, server).maxStreamsPerConnection, 1, 'HTTP/1.1: one request per socket at a time');
        await server.close();
      });

      it('counts POSTs with bodies exactly', async () => {
        const server = await start();
        const body = 'x'.repeat(64 * 1024);
        for (let i = 0; i < 5; i++) {
          const response = await client.request(`${server.origin}/upload`, { method: 'POST', body, headers: { 'content-type': 'text/plain' } });
          assert.equal(response.status, 200);
          await sleep(2);
        }
        assert.equal(server.truth.requests, 5);
        await eventually(() => assertAgentMatchesServer(agent, server, secure));
        await server.close();
      });

      it('counts a server that answers Connection: close: a socket per request, closed idle, no reuse', async () => {
        const server = await start({
          handler: (request, response) => {
            request.resume();
            response.setHeader('connection', 'close');
            response.end('ok');
          },
        });
        for (let i = 0; i < 4; i++) {
          assert.equal((await client.request(`${server.origin}/close/${i}`)).body, 'ok');
          await sleep(2);
        }
        await eventually(() => assertAgentMatchesServer(agent, server, secure));
        const figures = agentFiguresFor(agent, server);
        assert.equal(figures.requestsOnNewConnections, 4);
        assert.deepEqual(figures.connectionsClosed, { active: 0, idle: 4 }, 'each socket closed once its response was whole');
        assert.equal(figures.connectionsReopened, 0, 'closed on purpose: no keep-alive would have kept them');
      });
    });
  }
}
