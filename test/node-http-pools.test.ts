// One pool per http.Agent instance: an Agent built per request, or `agent: false` (which builds
// one per request), shows as a pool created per request; a shared Agent as one.
import assert from 'node:assert/strict';
import http from 'node:http';
import { after, describe, it } from 'node:test';
import { testAgent } from './helpers/agent.ts';
import { agentFiguresFor, assertAgentMatchesServer, nodeRequest } from './helpers/node-http.ts';
import { eventually, sleep, startServer } from './helpers/servers.ts';

const REQUESTS = 10;

const agent = await testAgent();
after(() => agent.shutdown());

describe('pools per origin through node:http', () => {
  it('counts a pool per request with agent: false, each socket closed after its response', async () => {
    const server = await startServer();
    for (let i = 0; i < REQUESTS; i++) assert.equal((await nodeRequest(`${server.origin}/false/${i}`, { agent: false })).body, 'ok');
    await eventually(() => assertAgentMatchesServer(agent, server));
    const figures = agentFiguresFor(agent, server);
    assert.equal(server.truth.connections, REQUESTS);
    assert.equal(figures.poolsCreated, REQUESTS, 'agent: false builds an Agent per request');
    assert.equal(figures.pools, 0, 'no Agent keeps a socket open');
    assert.equal(figures.requestsOnReusedConnections, 0);
    assert.equal(figures.connectionsReopened, 0, 'sockets of different Agents are not churn');
  });

  it('counts a pool per request when every request builds its own keep-alive Agent', async () => {
    const server = await startServer();
    const agents: http.Agent[] = [];
    for (let i = 0; i < REQUESTS; i++) {
      const own = new http.Agent({ keepAlive: true });
      agents.push(own);
      await nodeRequest(`${server.origin}/own/${i}`, { agent: own });
    }
    await eventually(() => assertAgentMatchesServer(agent, server));
    let figures = agentFiguresFor(agent, server);
    assert.equal(server.truth.connections, REQUESTS);
    assert.equal(figures.poolsCreated, REQUESTS);
    assert.equal(figures.pools, REQUESTS, 'every Agent still holds its idle socket');
    for (const own of agents) own.destroy();
    await eventually(() => {
      figures = agentFiguresFor(agent, server);
      assert.equal(figures.pools, 0);
      assertAgentMatchesServer(agent, server);
    });
    assert.equal(figures.poolsCreated, REQUESTS);
  });

  it('counts one pool for one shared Agent, whatever the number of sockets', async () => {
    const server = await startServer({
      handler: (request, response) => {
        request.resume();
        setTimeout(() => response.end('ok'), 20);
      },
    });
    const shared = new http.Agent({ keepAlive: true });
    after(() => shared.destroy());
    for (let wave = 0; wave < 4; wave++) {
      await Promise.all(Array.from({ length: 5 }, (_, i) => nodeRequest(`${server.origin}/shared/${wave}/${i}`, { agent: shared })));
      await sleep(2);
    }
    await eventually(() => assertAgentMatchesServer(agent, server));
    const figures = agentFiguresFor(agent, server);
    assert.ok(server.truth.connections > 1, `several sockets (${server.truth.connections})`);
    assert.equal(figures.poolsCreated, 1);
    assert.equal(figures.pools, 1);
  });

  it('counts the global Agent as one pool, and one Agent calling two origins as one pool each', async () => {
    const first = await startServer();
    const second = await startServer();
    for (const server of [first, second, first, second]) {
      await nodeRequest(`${server.origin}/`);
      await sleep(2);
    }
    for (const server of [first, second]) {
      await eventually(() => assertAgentMatchesServer(agent, server));
      assert.equal(agentFiguresFor(agent, server).poolsCreated, 1);
      assert.equal(agentFiguresFor(agent, server).pools, 1);
    }
  });
});
